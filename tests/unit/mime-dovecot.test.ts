// Conformance with Dovecot 2.3: every recorded case must give the same RFC822.SIZE, ENVELOPE,
// BODYSTRUCTURE, BODY and section bytes, whatever the chunking of the input.
import { describe, it, expect } from 'vitest';
import { DOVECOT_CASES } from './mime-fixtures.js';
import { StructureParser, parseStructure } from '../../electron/server/mime/structure.js';
import { envelope } from '../../electron/server/mime/envelope.js';
import { bodyStructure } from '../../electron/server/mime/bodystructure.js';
import { fetchSection, type SectionSpec } from '../../electron/server/mime/section.js';
import type { MimePart } from '../../electron/server/mime/types.js';

/** "BODY[2.HEADER.FIELDS (a b)]<3.10>" -> spec and partial. */
function parseLabel(label: string): { spec: SectionSpec; partial?: { offset: number; length: number } } {
  const m = /^BODY\[([^\]]*)\](?:<(\d+)\.(\d+)>)?$/.exec(label);
  if (!m) throw new Error('bad label ' + label);
  const s = /^([\d.]*?)\.?(HEADER\.FIELDS\.NOT|HEADER\.FIELDS|HEADER|TEXT|MIME)?(?: \((.*)\))?$/.exec(m[1])!;
  const spec: SectionSpec = { part: s[1] ? s[1].split('.').filter(Boolean).map(Number) : [] };
  if (s[2]) spec.text = s[2] as SectionSpec['text'];
  if (s[3]) spec.fields = s[3].split(' ');
  return { spec, partial: m[2] !== undefined ? { offset: Number(m[2]), length: Number(m[3]) } : undefined };
}

function parseChunked(buf: Buffer, size: (i: number) => number): MimePart {
  const p = new StructureParser();
  for (let i = 0, k = 0; i < buf.length; k++) {
    const n = size(k);
    p.write(buf.subarray(i, i + n));
    i += n;
  }
  return p.end();
}

/** Deterministic pseudo-random chunk sizes. */
function lcg(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    return x;
  };
}

describe('Dovecot 2.3 conformance', () => {
  for (const c of DOVECOT_CASES) {
    describe(c.name, () => {
      const msg = Buffer.from(c.message, 'latin1');
      const root = parseStructure(msg);

      it('RFC822.SIZE', () => {
        expect(root.headerSize + root.bodySize).toBe(c.size);
      });

      it('ENVELOPE', () => {
        expect(envelope(msg.subarray(0, root.bodyStart))).toBe(c.envelope);
      });

      it('BODYSTRUCTURE and BODY', () => {
        expect(bodyStructure(root, true)).toBe(c.bodystructure);
        expect(bodyStructure(root, false)).toBe(c.body);
      });

      it('is independent of chunking', () => {
        const whole = JSON.stringify(root);
        expect(JSON.stringify(parseChunked(msg, () => 1))).toBe(whole);
        const rnd = lcg(msg.length);
        expect(JSON.stringify(parseChunked(msg, () => 1 + (rnd() % 23)))).toBe(whole);
        expect(JSON.stringify(parseChunked(msg, () => 2 + (rnd() % 300)))).toBe(whole);
      });

      for (const [label, expected] of Object.entries(c.sections)) {
        it(label, async () => {
          const { spec, partial } = parseLabel(label);
          const read = async (s: number, e: number) => msg.subarray(s, e);
          const got = await fetchSection(root, spec, read, partial);
          expect((got ?? Buffer.alloc(0)).toString('latin1')).toBe(expected);
        });
      }
    });
  }
});
