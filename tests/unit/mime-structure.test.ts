import { describe, it, expect } from 'vitest';
import { StructureParser, parseStructure } from '../../electron/server/mime/structure.js';
import { bodyStructure } from '../../electron/server/mime/bodystructure.js';
import type { MimePart } from '../../electron/server/mime/types.js';

const b = (s: string) => Buffer.from(s, 'latin1');

/** The physical bytes of a part's header and body. */
function slices(msg: Buffer, p: MimePart): { header: string; body: string } {
  return { header: msg.toString('latin1', p.headerStart, p.bodyStart), body: msg.toString('latin1', p.bodyStart, p.bodyEnd) };
}

describe('StructureParser offsets and sizes', () => {
  it('gives physical offsets and CRLF sizes for an LF message', () => {
    const msg = b('Subject: x\nFrom: a@b\n\nline1\nline2\n');
    const root = parseStructure(msg);
    expect(root).toMatchObject({ headerStart: 0, bodyStart: 22, bodyEnd: 34, headerSize: 25, bodySize: 14, bodyLines: 2 });
    expect(root.type).toBe('text');
    expect(root.subtype).toBe('plain');
    expect(root.defaulted).toBe(true);
    expect(root.virtualStart).toBeUndefined();
  });

  it('gives the same sizes for the CRLF form', () => {
    const lf = parseStructure(b('Subject: x\nFrom: a@b\n\nline1\nline2\n'));
    const crlf = parseStructure(b('Subject: x\r\nFrom: a@b\r\n\r\nline1\r\nline2\r\n'));
    expect([crlf.headerSize, crlf.bodySize, crlf.bodyLines]).toEqual([lf.headerSize, lf.bodySize, lf.bodyLines]);
    expect(crlf.bodyStart).toBe(25);
  });

  it('counts LF characters as lines, like Dovecot (an unterminated last line adds none)', () => {
    expect(parseStructure(b('S: x\n\na\nb')).bodyLines).toBe(1);
    expect(parseStructure(b('S: x\n\na\nb\n')).bodyLines).toBe(2);
    expect(parseStructure(b('S: x\n\nhi')).bodyLines).toBe(0);
  });

  it('handles an empty message, a header without body and a header without newline', () => {
    expect(parseStructure(Buffer.alloc(0))).toMatchObject({ bodyStart: 0, bodyEnd: 0, headerSize: 0, bodySize: 0 });
    expect(parseStructure(b('Subject: x\n'))).toMatchObject({ bodyStart: 11, bodyEnd: 11, headerSize: 12, bodySize: 0 });
    expect(parseStructure(b('Subject: x'))).toMatchObject({ bodyStart: 10, headerSize: 10, bodySize: 0 });
  });

  it('locates multipart children, excluding the line break before each boundary', () => {
    const msg = b(
      'Content-Type: multipart/mixed; boundary="XX"\n\npreamble\n--XX\nContent-Type: text/plain\n\nfirst\n--XX\n\nsecond\n\n--XX--\nepilogue\n',
    );
    const root = parseStructure(msg);
    expect(root.parts).toHaveLength(2);
    expect(slices(msg, root.parts![0])).toEqual({ header: 'Content-Type: text/plain\n\n', body: 'first' });
    expect(slices(msg, root.parts![1])).toEqual({ header: '\n', body: 'second\n' });
    expect(root.parts![1]).toMatchObject({ headerSize: 2, bodySize: 8, bodyLines: 1 });
    // the epilogue belongs to the multipart's body
    expect(root.bodyEnd).toBe(msg.length);
  });

  it('matches boundaries by prefix, ignores trailing blanks and takes the longest match', () => {
    const msg = b(
      'Content-Type: multipart/mixed; boundary="ab"\n\n--ab \n' +
        'Content-Type: multipart/mixed; boundary="a"\n\n--a\n\ninner\n--abc\n\nouter\n--ab--\n',
    );
    const root = parseStructure(msg);
    // "--abc" matches the outer "ab" (longest) and closes the inner multipart
    expect(root.parts).toHaveLength(2);
    expect(root.parts![0].parts).toHaveLength(1);
    expect(slices(msg, root.parts![0].parts![0]).body).toBe('inner');
    expect(slices(msg, root.parts![1]).body).toBe('outer');
  });

  it('lets a part run to EOF when the final boundary is missing', () => {
    const msg = b('Content-Type: multipart/mixed; boundary=z\n\n--z\n\nnever closed\n');
    const root = parseStructure(msg);
    expect(slices(msg, root.parts![0]).body).toBe('never closed\n');
    expect(root.bodyEnd).toBe(msg.length);
  });

  it('keeps a multipart without boundary childless (BODYSTRUCTURE shows an empty text part)', () => {
    const root = parseStructure(b('Content-Type: multipart/mixed\n\n--z\n\nx\n'));
    expect(root.parts).toEqual([]);
    expect(bodyStructure(root, false)).toBe('(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0) "mixed")');
  });

  it('parses message/rfc822 with its envelope, and digest children default to message/rfc822', () => {
    const msg = b(
      'Content-Type: multipart/digest; boundary=d\n\n--d\n\nFrom: x@y\nSubject: inner\n\nhi\n--d\nContent-Type: text/plain\n\nplain\n--d--\n',
    );
    const root = parseStructure(msg);
    const first = root.parts![0];
    expect(first).toMatchObject({ type: 'message', subtype: 'rfc822', defaulted: true });
    expect(first.envelope).toBe('(NIL "inner" ((NIL NIL "x" "y")) ((NIL NIL "x" "y")) ((NIL NIL "x" "y")) NIL NIL NIL NIL NIL)');
    expect(first.message!.headerStart).toBe(first.bodyStart);
    expect(slices(msg, first.message!)).toEqual({ header: 'From: x@y\nSubject: inner\n\n', body: 'hi' });
    expect(root.parts![1].defaulted).toBeUndefined();
  });

  it('treats message/global as a leaf unless asked (Dovecot 2.3 does not parse it)', () => {
    const msg = b('Content-Type: message/global\n\nFrom: a@b\n\nhi\n');
    expect(parseStructure(msg).message).toBeUndefined();
    const root = parseStructure(msg, { messageGlobal: true });
    expect(root.message).toBeDefined();
    expect(bodyStructure(root, false)).toContain('"message" "global"');
  });

  it('records Content-* fields, lowercasing type and parameter names but keeping what was sent', () => {
    const root = parseStructure(
      b(
        'Content-Type: Text/HTML; Charset="UTF-8"; format=flowed\nContent-Transfer-Encoding: Base64\nContent-ID: <a@b>\n' +
          'Content-Description: d\nContent-MD5: m\nContent-Disposition: attachment; FileName=x.html\nContent-Language: en, de\n' +
          'Content-Location: http://x/\n\nPGI+\n',
      ),
    );
    expect(root).toMatchObject({
      type: 'text',
      subtype: 'html',
      params: [
        { name: 'charset', value: 'UTF-8' },
        { name: 'format', value: 'flowed' },
      ],
      encoding: 'Base64',
      id: '<a@b>',
      description: 'd',
      md5: 'm',
      disposition: { type: 'attachment', params: [{ name: 'filename', value: 'x.html' }] },
      language: ['en', 'de'],
      location: 'http://x/',
    });
    expect(root.asSent).toEqual({ type: 'Text', subtype: 'HTML', params: ['Charset', 'format'], dispositionParams: ['FileName'] });
    expect(parseStructure(b('Content-Type: text/plain; charset=x\n\n')).asSent).toBeUndefined();
  });

  it('keeps 8-bit header bytes as latin1 binary strings', () => {
    const root = parseStructure(b('Content-Type: text/plain; name="caf\xc3\xa9"\n\nx\n'));
    expect(root.params[0].value).toBe('caf\xc3\xa9');
    expect(Buffer.from(root.params[0].value, 'latin1').toString('utf8')).toBe('café');
  });

  it('is not confused by header lines without colon, 8-bit bytes or a missing empty line', () => {
    const root = parseStructure(b('Subject: x\nno colon here\n\xff\xfe: junk\nContent-Type: text/html\n\nbody\n'));
    expect(root.subtype).toBe('html');
    expect(parseStructure(b('Content-Type: text/html\nSubject: x')).subtype).toBe('html');
  });

  it('throws on write after end', () => {
    const p = new StructureParser();
    p.end();
    expect(() => p.write(b('x'))).toThrow();
  });
});

describe('StructureParser limits', () => {
  function nested(depth: number): Buffer {
    let s = '';
    for (let i = 0; i < depth; i++) s += `Content-Type: multipart/mixed; boundary="b${i}"\n\n--b${i}\n`;
    s += '\nleaf\n';
    for (let i = depth - 1; i >= 0; i--) s += `--b${i}--\n`;
    return b(s);
  }

  function depthOf(p: MimePart): number {
    let d = 1;
    while (p.parts?.length) {
      p = p.parts[0];
      d++;
    }
    return d;
  }

  it('turns parts at the depth limit into opaque leaves', () => {
    const root = parseStructure(nested(10), { maxDepth: 4 });
    expect(depthOf(root)).toBe(4);
    let p = root;
    while (p.parts?.length) p = p.parts[0];
    expect(p.overflow).toBe(true);
    expect(bodyStructure(root, false)).toContain('"application" "octet-stream" ("boundary" "b3")');
  });

  it('survives hostile nesting without deep recursion', () => {
    const root = parseStructure(nested(20000));
    expect(depthOf(root)).toBe(100);
    expect(bodyStructure(root, true).length).toBeGreaterThan(100);
    let m = '';
    for (let i = 0; i < 5000; i++) m += 'Content-Type: message/rfc822\n\n';
    const msgRoot = parseStructure(b(m + 'Subject: deep\n\nx\n'));
    let d = 1;
    for (let p: MimePart | undefined = msgRoot; p?.message; p = p.message) d++;
    expect(d).toBe(100);
  });

  it('stops making parts at the part limit; the last one takes the rest of the file', () => {
    let s = 'Content-Type: multipart/mixed; boundary=B\n\n';
    for (let i = 0; i < 50; i++) s += `--B\n\npart ${i}\n`;
    s += '--B--\n';
    const msg = b(s);
    const root = parseStructure(msg, { maxParts: 10 });
    expect(root.parts).toHaveLength(9);
    expect(root.parts![8].bodyEnd).toBe(msg.length);
    expect(parseStructure(msg).parts).toHaveLength(50);
  });
});

describe('StructureParser streaming', () => {
  it('keeps memory flat while a 50 MB message streams through', () => {
    const line = Buffer.from('QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\n');
    const chunk = Buffer.concat(Array.from({ length: 862 }, () => line)); // ~65 KB of base64 lines
    const p = new StructureParser();
    p.write(b('From: a@b\nContent-Type: multipart/mixed; boundary=BB\n\n--BB\nContent-Type: application/octet-stream\n\n'));
    const before = process.memoryUsage().arrayBuffers;
    let written = 0;
    while (written < 50 * 1024 * 1024) {
      // odd-sized pieces split lines across writes
      for (let i = 0; i < chunk.length; i += 40000) p.write(chunk.subarray(i, i + 40000));
      written += chunk.length;
    }
    const growth = process.memoryUsage().arrayBuffers - before;
    p.write(b('\n--BB--\n'));
    const root = p.end();
    expect(growth).toBeLessThan(4 * 1024 * 1024);
    expect(root.parts![0].bodySize).toBeGreaterThan(50 * 1024 * 1024);
    // LF files over 256 KiB get seek checkpoints, sorted pairs at line starts
    const map = root.crlfMap!;
    expect(map.length).toBeGreaterThan(300);
    for (let i = 2; i < map.length; i += 2) expect(map[i]).toBeGreaterThan(map[i - 2]);
  });

  it('caps what it keeps of an endless line', () => {
    const p = new StructureParser();
    p.write(b('Content-Type: multipart/mixed; boundary=Q\n\n--Q\n\n'));
    const piece = Buffer.alloc(1 << 20, 0x41);
    const before = process.memoryUsage().arrayBuffers;
    for (let i = 0; i < 30; i++) p.write(piece);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(2 * 1024 * 1024);
    p.write(b('\n--Q--\n'));
    const root = p.end();
    expect(root.parts![0].bodySize).toBe(30 << 20);
  });

  it('gives identical trees for every split point', () => {
    const msg = b(
      'Subject: s\r\nContent-Type: multipart/mixed; boundary="=_x"\r\n\r\n--=_x\r\nContent-Type: message/rfc822\r\n\r\n' +
        'From: a@b\nContent-Type: multipart/alternative; boundary=y\n\n--y\n\nA\r\n--y--\n--=_x\r\n\r\nB\r\n--=_x--',
    );
    const whole = JSON.stringify(parseStructure(msg));
    for (let cut = 0; cut <= msg.length; cut++) {
      const p = new StructureParser();
      p.write(msg.subarray(0, cut));
      p.write(msg.subarray(cut));
      expect(JSON.stringify(p.end())).toBe(whole);
    }
  });
});
