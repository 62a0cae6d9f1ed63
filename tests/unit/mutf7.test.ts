import { describe, expect, it } from 'vitest';
import { decodeMutf7, encodeMutf7 } from '../../electron/server/storage/mutf7.js';

describe('modified UTF-7 (RFC 3501 5.1.3)', () => {
  const pairs: [string, string][] = [
    ['INBOX', 'INBOX'],
    ['Käse', 'K&AOQ-se'],
    ['amp&x', 'amp&-x'],
    ['&', '&-'],
    ['~peter/mail/台北/日本語', '~peter/mail/&U,BTFw-/&ZeVnLIqe-'],
    ['Entwürfe', 'Entw&APw-rfe'],
    ['Отправленные', '&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-'],
    ['😀 smile', '&2D3eAA- smile'],
    ['a\tb', 'a&AAk-b'],
    ['sp ace', 'sp ace'],
    ['', ''],
  ];

  it.each(pairs)('encodes %j as %j and back', (utf8, mutf7) => {
    expect(encodeMutf7(utf8)).toBe(mutf7);
    expect(decodeMutf7(mutf7)).toBe(utf8);
  });

  it('round-trips mixed runs', () => {
    for (const s of ['aé€b', 'éé', 'x&y&&z', '日本 語 & more ü', '\u0080\u00ff\u0100']) {
      expect(decodeMutf7(encodeMutf7(s))).toBe(s);
    }
  });

  it.each([
    ['unterminated shift', 'K&AOQ'],
    ['bad base64 character', 'K&AO*-se'],
    ['8-bit input', 'Käse'],
    ['control character', 'a\tb'],
    ['printable ASCII in base64', '&AGE-'],
    ['empty shift other than &-', '&-x&-'.replace('&-x', '&,-x')],
    ['non-zero padding bits', '&AOR-'],
    ['half a UTF-16 unit', '&AO-'],
    ['unpaired high surrogate', '&2D0-'],
    ['unpaired low surrogate', '&3gA-'],
    ['slash instead of comma', '&U/BTFw-'],
  ])('decode rejects %s', (_why, input) => {
    expect(() => decodeMutf7(input)).toThrow();
  });
});
