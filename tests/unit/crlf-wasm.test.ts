// The WebAssembly form of imapText() (electron/server/mime/crlf-wasm.ts): bare LF -> CRLF,
// NUL -> 0x80, CRLF and lone CR kept, for every placement against its 16-byte blocks, up to
// the largest input. FETCH BODY[] of small messages goes through it.
import { describe, it, expect } from 'vitest';
import { WASM_INPUT_MAX, wasmConverter, wasmSupported } from '../../electron/server/mime/crlf-wasm.js';
import { imapText } from '../../electron/server/mime/crlf.js';

const conv = wasmConverter();

function viaWasm(bytes: Buffer): Buffer {
  bytes.copy(conv!.input);
  return Buffer.from(conv!.convert(bytes.length));
}
const viaString = (bytes: Buffer): Buffer => Buffer.from(imapText(bytes), 'latin1');

describe('WebAssembly line-end conversion', () => {
  it('is available on this Node (WebAssembly with SIMD)', () => {
    expect(wasmSupported()).toBe(true);
    expect(conv).not.toBeNull();
  });

  it('converts like imapText: LF, CRLF, lone CR, NUL at every offset of a block', () => {
    const specials = ['\n', '\r\n', '\r', '\0', '\r\0\n', '\n\n', '\r\r\n', '\0\n'];
    for (const sp of specials) {
      for (let at = 0; at < 40; at++) {
        for (const tail of [0, 1, 15, 16, 17]) {
          const input = Buffer.from('a'.repeat(at) + sp + 'b'.repeat(tail), 'latin1');
          expect(viaWasm(input).equals(viaString(input)), JSON.stringify({ sp, at, tail })).toBe(true);
        }
      }
    }
    expect(viaWasm(Buffer.alloc(0)).length).toBe(0);
    expect(viaWasm(Buffer.from('\n')).toString('latin1')).toBe('\r\n');
    expect(viaWasm(Buffer.from('x\0y', 'latin1')).toString('latin1')).toBe('x\x80y');
  });

  it('converts random inputs of every size like imapText', () => {
    let seed = 12345;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    const alphabet = [0x0a, 0x0d, 0x00, 0x80, 0xff, 0x20, 0x41];
    for (let t = 0; t < 400; t++) {
      const len = t < 64 ? t : Math.floor(rnd() ** 3 * WASM_INPUT_MAX);
      const density = rnd();
      const input = Buffer.alloc(len);
      for (let i = 0; i < len; i++) input[i] = rnd() < density ? alphabet[Math.floor(rnd() * alphabet.length)] : 0x61 + Math.floor(rnd() * 26);
      expect(viaWasm(input).equals(viaString(input)), `case ${t}, ${len} bytes`).toBe(true);
    }
  });

  it('handles the largest input, all line ends (twice its size out)', () => {
    const input = Buffer.alloc(WASM_INPUT_MAX, 0x0a);
    const out = viaWasm(input);
    expect(out.length).toBe(2 * WASM_INPUT_MAX);
    expect(out.equals(viaString(input))).toBe(true);
  });

  it('converts a message piece by piece like the whole: the byte before a piece decides its first LF', () => {
    const whole = Buffer.from('ab\r\ncd\nef\r\r\n\x00gh\n\nij\r', 'latin1');
    for (let cut = 0; cut <= whole.length; cut++) {
      const a = whole.subarray(0, cut);
      const b = whole.subarray(cut);
      a.copy(conv!.input);
      const first = Buffer.from(conv!.convert(a.length));
      b.copy(conv!.input);
      const second = Buffer.from(conv!.convert(b.length, cut > 0 ? a[a.length - 1] : 0));
      expect(Buffer.concat([first, second]).equals(viaString(whole)), `cut at ${cut}`).toBe(true);
    }
    // The byte before is only for that call.
    Buffer.from('\n').copy(conv!.input);
    expect(conv!.convert(1).toString('latin1')).toBe('\r\n');
  });

  it('refuses a length outside its input buffer', () => {
    expect(() => conv!.convert(WASM_INPUT_MAX + 1)).toThrow(/bad length/);
    expect(() => conv!.convert(-1)).toThrow(/bad length/);
  });
});
