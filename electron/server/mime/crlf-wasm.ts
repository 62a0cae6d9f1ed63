// The IMAP form of a small whole message (bare LF -> CRLF, NUL -> 0x80, as imapText() in crlf.ts)
// computed in a WebAssembly buffer: the file is read straight into the module's memory and the
// result is copied from there into the connection's output buffer, so a message never becomes a
// JavaScript string. Measured on 200 pipelined FETCH BODY[] (median 4.7 KB messages): the string
// route (toString('latin1') + replaceAll + the socket's string write) spent about half of the
// worker's time in string copies and in the garbage collector.
//
// Why hand-written WebAssembly: no maintained package does this conversion without going through
// strings or per-line Buffer copies, and JavaScript byte loops run slowly until V8 has optimized
// them (the first thousands of messages after a start). WebAssembly is compiled before it runs.
// The loop looks at 16 bytes at a time (SIMD): a block without LF or NUL is copied whole; else the
// bytes up to the first LF/NUL are copied and that one byte is converted.
//
// Memory layout (offsets in bytes): [0, 16) zero (byte 15 is the "byte before the input": not
// CR, except while a later piece of a bigger message is converted), the input at IN = 16, the
// output at OUT = IN + INPUT_MAX (room for 2 x INPUT_MAX, plus 16 bytes of slack for the last
// 16-byte store).

/** Largest input (bytes): TEXT_BODY_MAX of FETCH. */
export const WASM_INPUT_MAX = 256 * 1024;
const IN = 16;
const OUT = IN + WASM_INPUT_MAX;
const PAGES = Math.ceil((OUT + 2 * WASM_INPUT_MAX + 16) / 65536);

// ---- a few WebAssembly opcodes (https://webassembly.github.io/spec/core/binary/instructions.html)
const LOCAL_GET = 0x20;
const LOCAL_SET = 0x21;
const LOCAL_TEE = 0x22;
const I32_CONST = 0x41;
const I32_EQZ = 0x45;
const I32_EQ = 0x46;
const I32_NE = 0x47;
const I32_GT_U = 0x4b;
const I32_GE_U = 0x4f;
const I32_CTZ = 0x68;
const I32_ADD = 0x6a;
const I32_LOAD8_U = 0x2d;
const I32_STORE8 = 0x3a;
const BLOCK = 0x02;
const LOOP = 0x03;
const IF = 0x04;
const ELSE = 0x05;
const END = 0x0b;
const BR = 0x0c;
const RETURN = 0x0f;
const EMPTY = 0x40;
const SIMD = 0xfd;
const V128_LOAD = 0x00;
const V128_STORE = 0x0b;
const I8X16_SPLAT = 0x0f;
const I8X16_EQ = 0x23;
const V128_OR = 0x50;
const I8X16_BITMASK = 0x64;
const I32 = 0x7f;
const V128 = 0x7b;

/** Unsigned LEB128. */
function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
}

/** Signed LEB128 (i32.const operands). */
function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

const i32c = (n: number): number[] => [I32_CONST, ...sleb(n)];
/** memarg: alignment exponent, then offset. */
const mem = (align: number, offset: number): number[] => [...uleb(align), ...uleb(offset)];
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const name = (s: string): number[] => [...uleb(s.length), ...Buffer.from(s, 'ascii')];

// Locals: 0 = len (parameter), 1 = i (input index), 2 = o (output index), 3 = c (byte / mask),
// 4 = v (the 16-byte block at i).
const LEN = 0;
const I = 1;
const O = 2;
const C = 3;
const V = 4;
const get = (l: number): number[] => [LOCAL_GET, l];
const set = (l: number): number[] => [LOCAL_SET, l];
const addTo = (l: number, n: number[]): number[] => [...get(l), ...n, I32_ADD, ...set(l)];
/** v == splat(byte), lane by lane. */
const vEq = (byte: number): number[] => [...get(V), ...i32c(byte), SIMD, ...uleb(I8X16_SPLAT), SIMD, ...uleb(I8X16_EQ)];

/** convert(len) -> length of the output: input [IN, IN+len) -> output [OUT, OUT+result). */
const body: number[] = [
  ...[LOOP, EMPTY], // $next (depth 0 inside: block $one = 0, loop = 1)
  ...[BLOCK, EMPTY], // $one: handle the single byte at i
  // Fewer than 16 bytes left: done when none, else one byte at a time.
  ...get(I), ...i32c(16), I32_ADD, ...get(LEN), I32_GT_U,
  ...[IF, EMPTY],
  ...get(I), ...get(LEN), I32_GE_U,
  ...[IF, EMPTY], ...get(O), RETURN, END,
  BR, 1, // to the end of $one (depth: if = 0, block $one = 1)
  END,
  // v = the block; mask = bitmask(v == LF | v == NUL); v is stored at o either way.
  ...get(I), SIMD, ...uleb(V128_LOAD), ...mem(0, IN), ...set(V),
  ...vEq(0x0a), ...vEq(0x00),
  SIMD, ...uleb(V128_OR), SIMD, ...uleb(I8X16_BITMASK), ...set(C),
  ...get(O), ...get(V), SIMD, ...uleb(V128_STORE), ...mem(0, OUT),
  ...get(C), I32_EQZ,
  ...[IF, EMPTY],
  ...addTo(I, i32c(16)), ...addTo(O, i32c(16)),
  BR, 2, // to $next (if = 0, block $one = 1, loop = 2)
  END,
  // Skip the clean bytes before the first LF/NUL (already stored).
  ...get(C), I32_CTZ, ...[LOCAL_TEE, C], ...get(I), I32_ADD, ...set(I),
  ...get(O), ...get(C), I32_ADD, ...set(O),
  END, // $one
  // One byte: LF gets a CR unless one precedes it; NUL becomes 0x80.
  ...get(I), I32_LOAD8_U, ...mem(0, IN), ...set(C),
  ...get(C), ...i32c(0x0a), I32_EQ,
  ...[IF, EMPTY],
  ...get(I), I32_LOAD8_U, ...mem(0, IN - 1), ...i32c(0x0d), I32_NE,
  ...[IF, EMPTY], ...get(O), ...i32c(0x0d), I32_STORE8, ...mem(0, OUT), ...addTo(O, i32c(1)), END,
  ELSE,
  ...get(C), I32_EQZ,
  ...[IF, EMPTY], ...i32c(0x80), ...set(C), END,
  END,
  ...get(O), ...get(C), I32_STORE8, ...mem(0, OUT),
  ...addTo(O, i32c(1)), ...addTo(I, i32c(1)),
  BR, 0, // to $next
  END, // loop
  // Not reached (the loop only leaves through RETURN); the function's result type needs a value.
  ...get(O),
];

function moduleBytes(): Uint8Array {
  const locals = [...uleb(2), ...uleb(3), I32, ...uleb(1), V128]; // 3 x i32 (i, o, c), 1 x v128 (v)
  const func = [...locals, ...body, END];
  const bytes = [
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vec([[0x60, ...vec([[I32]]), ...vec([[I32]])]])), // type 0: (i32) -> i32
    ...section(3, vec([uleb(0)])), // function 0 has type 0
    ...section(5, vec([[0x00, ...uleb(PAGES)]])), // one memory, PAGES pages, no maximum
    ...section(7, vec([[...name('mem'), 0x02, 0x00], [...name('convert'), 0x00, 0x00]])),
    ...section(10, vec([[...uleb(func.length), ...func]])),
  ];
  return Uint8Array.from(bytes);
}

export interface WasmConverter {
  /** Where to put the input: the first WASM_INPUT_MAX bytes of it. */
  readonly input: Buffer;
  /**
   * Converts input[0, len) and returns a view of the result, valid until the next call.
   * `before` is the byte that precedes the input (the last one of the previous piece of a
   * message converted piece by piece): a CR there keeps an LF at input[0] as it is.
   */
  convert(len: number, before?: number): Buffer;
}

/** The part of the WebAssembly API used here (the project's TypeScript libraries do not declare it). */
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: { mem: { buffer: ArrayBuffer }; convert: (len: number) => number } };
}
const wasmApi = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

let instance: WasmConverter | null | undefined;
/** The module's memory, once it exists. */
let memory: ArrayBuffer | undefined;

/** Whether `bytes` lie in the converter's memory (valid only until its next convert()). */
export function isConverterMemory(bytes: Uint8Array): boolean {
  return memory !== undefined && bytes.buffer === memory;
}

/** The converter, or null where WebAssembly SIMD is unavailable (then imapText() does the work). */
export function wasmConverter(): WasmConverter | null {
  if (instance !== undefined) return instance;
  instance = null;
  try {
    const bytes = moduleBytes();
    if (!wasmApi?.validate(bytes)) return null;
    const exports = new wasmApi.Instance(new wasmApi.Module(bytes)).exports;
    const buffer = exports.mem.buffer; // never grown, so never detached
    memory = buffer;
    const head = Buffer.from(buffer, 0, IN);
    const input = Buffer.from(buffer, IN, WASM_INPUT_MAX);
    const output = Buffer.from(buffer, OUT, 2 * WASM_INPUT_MAX);
    const fn = exports.convert;
    instance = {
      input,
      convert(len: number, before = 0): Buffer {
        if (!(len >= 0 && len <= WASM_INPUT_MAX)) throw new RangeError(`wasm convert: bad length ${len}`);
        if (before === 0) return output.subarray(0, fn(len));
        head[IN - 1] = before;
        try {
          return output.subarray(0, fn(len));
        } finally {
          head[IN - 1] = 0;
        }
      },
    };
  } catch {
    instance = null;
  }
  return instance;
}

/** For tests: the module's bytes validate (SIMD support present). */
export function wasmSupported(): boolean {
  return wasmApi?.validate(moduleBytes()) ?? false;
}
