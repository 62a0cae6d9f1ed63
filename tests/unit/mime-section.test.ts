import { describe, it, expect } from 'vitest';
import { parseStructure } from '../../electron/server/mime/structure.js';
import { crlfSize, fetchSection, findPart, toCrlf, type SectionSpec } from '../../electron/server/mime/section.js';

const b = (s: string) => Buffer.from(s, 'latin1');

function reader(msg: Buffer) {
  const stats = { bytes: 0, calls: 0 };
  const read = async (s: number, e: number) => {
    stats.bytes += e - s;
    stats.calls++;
    return msg.subarray(s, e);
  };
  return { read, stats };
}

async function section(msg: Buffer, spec: SectionSpec, partial?: { offset: number; length: number }): Promise<string | null> {
  const got = await fetchSection(parseStructure(msg), spec, reader(msg).read, partial);
  return got === null ? null : got.toString('latin1');
}

describe('toCrlf / crlfSize', () => {
  it('converts bare LF only', () => {
    expect(toCrlf(b('a\nb\r\nc\rd\n')).toString('latin1')).toBe('a\r\nb\r\nc\rd\r\n');
    expect(crlfSize(b('a\nb\r\nc\rd\n'))).toBe(11);
    expect(crlfSize(b(''))).toBe(0);
  });

  it('returns the same buffer when nothing changes', () => {
    const crlf = b('a\r\nb');
    expect(toCrlf(crlf)).toBe(crlf);
  });

  it('continues across chunks that split CR and LF', () => {
    expect(toCrlf(b('\nx'), true).toString('latin1')).toBe('\nx');
    expect(toCrlf(b('\nx'), false).toString('latin1')).toBe('\r\nx');
  });
});

describe('findPart (RFC 3501 6.4.5 numbering, as Dovecot)', () => {
  const root = parseStructure(
    b(
      'Content-Type: multipart/mixed; boundary=X\n\n--X\n\none\n--X\nContent-Type: message/rfc822\n\n' +
        'Content-Type: multipart/alternative; boundary=Y\n\n--Y\n\nalt1\n--Y\n\nalt2\n--Y--\n--X--\n',
    ),
  );

  it('walks multipart children and continues inside message/rfc822', () => {
    expect(findPart(root, [])).toBe(root);
    expect(findPart(root, [1])).toBe(root.parts![0]);
    expect(findPart(root, [2])).toBe(root.parts![1]);
    expect(findPart(root, [2, 1])).toBe(root.parts![1].message!.parts![0]);
    expect(findPart(root, [2, 2])).toBe(root.parts![1].message!.parts![1]);
  });

  it('lets a non-multipart be its own part 1, but no deeper', () => {
    expect(findPart(root, [1, 1])).toBe(root.parts![0]);
    expect(findPart(root, [1, 1, 1])).toBeNull();
    expect(findPart(root, [3])).toBeNull();
    expect(findPart(root, [0])).toBeNull();
  });
});

describe('fetchSection', () => {
  const msg = b(
    'Subject: s\nContent-Type: multipart/mixed; boundary=X\n\n--X\nContent-Type: text/plain\n\none\ntwo\n--X\n' +
      'Content-Type: message/rfc822\n\nSubject: inner\nX-A: 1\n\ninner body\n--X--\n',
  );

  it('returns whole message, header, text and parts in CRLF form', async () => {
    expect(await section(msg, { part: [] })).toBe(toCrlf(msg).toString('latin1'));
    expect(await section(msg, { part: [], text: 'HEADER' })).toBe('Subject: s\r\nContent-Type: multipart/mixed; boundary=X\r\n\r\n');
    expect(await section(msg, { part: [1] })).toBe('one\r\ntwo');
    expect(await section(msg, { part: [1], text: 'MIME' })).toBe('Content-Type: text/plain\r\n\r\n');
    expect(await section(msg, { part: [2], text: 'HEADER' })).toBe('Subject: inner\r\nX-A: 1\r\n\r\n');
    expect(await section(msg, { part: [2], text: 'TEXT' })).toBe('inner body');
    expect(await section(msg, { part: [2], text: 'HEADER.FIELDS', fields: ['x-a'] })).toBe('X-A: 1\r\n\r\n');
    expect(await section(msg, { part: [2], text: 'HEADER.FIELDS.NOT', fields: ['X-A'] })).toBe('Subject: inner\r\n\r\n');
  });

  it('returns null where the part or section does not exist', async () => {
    expect(await section(msg, { part: [3] })).toBeNull();
    expect(await section(msg, { part: [1], text: 'HEADER' })).toBeNull();
    expect(await section(msg, { part: [1], text: 'TEXT' })).toBeNull();
    expect(await section(msg, { part: [], text: 'MIME' })).toBeNull();
  });

  it('applies partials to the CRLF form, with an empty result past the end', async () => {
    expect(await section(msg, { part: [1] }, { offset: 2, length: 5 })).toBe('e\r\ntw');
    expect(await section(msg, { part: [1] }, { offset: 4, length: 1 })).toBe('\n');
    expect(await section(msg, { part: [1] }, { offset: 100, length: 4 })).toBe('');
    expect(await section(msg, { part: [2], text: 'HEADER.FIELDS', fields: ['subject'] }, { offset: 9, length: 100 })).toBe('inner\r\n\r\n');
  });

  it('agrees with slicing the converted section for every offset and length', async () => {
    const m = b('S: 1\n\r\na\n\nb\r\r\nc\n');
    const full = toCrlf(m).toString('latin1');
    for (let off = 0; off <= full.length; off++) {
      for (let len = 0; len <= full.length - off + 1; len++) {
        expect(await section(m, { part: [] }, { offset: off, length: len })).toBe(full.slice(off, off + len));
      }
    }
  });

  it('sends NUL as 0x80 unless asked to keep it', async () => {
    const m = b('S: a\x00b\n\nx\x00y\n');
    expect(await section(m, { part: [1] })).toBe('x\x80y\r\n');
    expect(await section(m, { part: [], text: 'HEADER.FIELDS', fields: ['S'] })).toBe('S: a\x80b\r\n\r\n');
    const root = parseStructure(m);
    const kept = await fetchSection(root, { part: [1] }, reader(m).read, undefined, { keepNuls: true });
    expect(kept!.toString('latin1')).toBe('x\x00y\r\n');
  });
});

describe('fetchSection partials on a large nested LF message', () => {
  const lines = (tag: string, n: number) => Array.from({ length: n }, (_, i) => `${tag} line ${i} ${'x'.repeat(i % 70)}`).join('\n');
  const msg = b(
    'Subject: nested\nContent-Type: multipart/mixed; boundary=A\n\n--A\n\n' +
      lines('one', 9000) +
      '\n--A\nContent-Type: message/rfc822\n\nSubject: inner\nContent-Type: multipart/alternative; boundary=B\n\n--B\n\n' +
      lines('two', 12000) +
      '\r\n--B\n\n' +
      lines('three', 7000) +
      '\n--B--\n--A--\n',
  );
  const root = parseStructure(msg);
  const specs: SectionSpec[] = [{ part: [] }, { part: [1] }, { part: [2] }, { part: [2], text: 'TEXT' }, { part: [2, 1] }, { part: [2, 2] }];

  it('uses checkpoints and agrees with the converted bytes at any offset', async () => {
    expect(root.crlfMap!.length).toBeGreaterThan(4);
    let seed = 7;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (const spec of specs) {
      const full = (await fetchSection(root, spec, reader(msg).read))!;
      expect(full.length).toBeGreaterThan(1000);
      for (let k = 0; k < 40; k++) {
        const offset = rnd(full.length + 10);
        const length = 1 + rnd(5000);
        const got = await fetchSection(root, spec, reader(msg).read, { offset, length });
        expect(got!.equals(full.subarray(offset, offset + length))).toBe(true);
      }
    }
  });
});

describe('fetchSection reads only what it needs', () => {
  function bigMessage(lf: boolean): Buffer {
    const nl = lf ? '\n' : '\r\n';
    const line = 'QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0' + nl;
    const head = `Subject: big${nl}Content-Type: multipart/mixed; boundary=Z${nl}${nl}--Z${nl}${nl}hi${nl}--Z${nl}Content-Transfer-Encoding: base64${nl}${nl}`;
    return Buffer.concat([b(head), Buffer.from(line.repeat(Math.ceil((50 << 20) / line.length))), b(`--Z--${nl}`)]);
  }

  for (const lf of [true, false]) {
    describe(lf ? 'LF file' : 'CRLF file', () => {
      const msg = bigMessage(lf);
      const root = parseStructure(msg);
      const full = toCrlf(msg.subarray(root.parts![1].bodyStart, root.parts![1].bodyEnd));

      it('reads about 1 KB for a 1 KB partial at the start of a 50 MB part', async () => {
        const { read, stats } = reader(msg);
        const got = await fetchSection(root, { part: [2] }, read, { offset: 0, length: 1024 });
        expect(got!.equals(full.subarray(0, 1024))).toBe(true);
        expect(stats.bytes).toBeLessThanOrEqual(1024);
      });

      it('seeks near a deep offset instead of scanning from the start', async () => {
        const { read, stats } = reader(msg);
        const offset = 40_000_123;
        const got = await fetchSection(root, { part: [2] }, read, { offset, length: 4096 });
        expect(got!.equals(full.subarray(offset, offset + 4096))).toBe(true);
        expect(stats.bytes).toBeLessThan(300 * 1024);
      });

      it('reads the whole part exactly once', async () => {
        const { read, stats } = reader(msg);
        const got = await fetchSection(root, { part: [2] }, read);
        expect(got!.length).toBe(root.parts![1].bodySize);
        expect(stats.bytes).toBe(root.parts![1].bodyEnd - root.parts![1].bodyStart);
      });
    });
  }
});
