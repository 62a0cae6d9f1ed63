// SEARCH FROM/TO/CC/BCC/SUBJECT/HEADER byte-level shortcut (mime/header-match.ts, used by
// search.ts headerMatches) against the full decoding path: every value of the field decoded
// (headerValues: unfolded, RFC 2047, 8-bit as UTF-8 or latin1), searchFold()ed, includes().
// The shortcut must never drop a true match nor invent one: encoded words, folded headers,
// mixed case, latin1 and UTF-8 bytes, addresses in comments and display names, group syntax,
// lone CRs, needles with blanks, colons, line breaks and non-ASCII characters.
import { describe, it, expect } from 'vitest';
import { appendMessages } from '../../bench/corpus.js';
import { headerValues, searchFold, foldedHeaderValue } from '../../electron/server/mime/search-text.js';
import { asciiNeedle, rawValueIncludes } from '../../electron/server/mime/header-match.js';
import { headerKeyMatches } from '../../electron/server/imap/commands/search.js';

const b = (s: string) => Buffer.from(s, 'latin1');
const u = (s: string) => Buffer.from(s, 'utf8');

/** The definition: any decoded value of the field holds the folded needle ("" = field present). */
function reference(header: Buffer, field: string, needle: string): boolean {
  const values = headerValues(header, field);
  if (needle === '') return values.length > 0;
  const n = searchFold(needle);
  return values.some((v) => searchFold(v).includes(n));
}

const FIELDS = ['from', 'to', 'cc', 'bcc', 'subject', 'x-mailer', 'reply-to'];

function check(header: Buffer, needles: readonly string[]): number {
  let hits = 0;
  for (const field of FIELDS) {
    for (const needle of needles) {
      const want = reference(header, field, needle);
      expect(headerKeyMatches(header, field, needle), `${field} ${JSON.stringify(needle)} in ${JSON.stringify(header.toString('latin1'))}`).toBe(want);
      if (want) hits++;
    }
  }
  return hits;
}

const NEEDLES = [
  '', ' ', 'a', 'halvorsen', 'HALVORSEN', 'Halvorsen', 'ola halvorsen', 'ola  halvorsen', 'halvorsen@example', '<ola', 'example.com>',
  'søren', 'SØREN', 'sören', 'café', 'cafe', 'strasse', 'straße', 'ß', 'ﬁle', 'file', 'é', '=?', '?=', 'utf-8', 'q?', ':', 'team:', ';',
  'undisclosed', 'comment', '(', ')', '"', '\r\n', '\n', 'halv\r\norsen', 'olahalvorsen', 'ÿ', '€', 'Ω', 'ω', '°', 'µ', 'μ', '½', '1⁄2', '£',
];

const HEADERS: Buffer[] = [
  b('From: Ola Halvorsen <ola@example.com>\r\nTo: team@example.com\r\nSubject: Hello\r\n\r\n'),
  b('FROM: OLA HALVORSEN <OLA@EXAMPLE.COM>\nsubject: MiXeD CaSe\n\n'),
  b('from:   ola halvorsen\n'), // no empty line, trailing blanks after the colon
  // folded, LF and CRLF
  b('From: Ola\r\n Halvorsen\r\n <ola@example.com>\r\nSubject: a\r\n  long\r\n\tsubject\r\n\r\n'),
  b('From: Ola\n\tHalvorsen <ola@example.com>\n\n'),
  b('From:\r\n Ola Halvorsen <ola@example.com>\r\n\r\n'),
  b('From: \r\n\r\n'),
  // encoded words, in display names and subjects, split and adjacent
  b('From: =?utf-8?q?Ola_Halvorsen?= <ola@example.com>\r\n\r\n'),
  b('From: =?UTF-8?B?T2xhIEhhbHZvcnNlbg==?= <ola@example.com>\r\n\r\n'),
  b('From: =?utf-8?q?S=C3=B8ren?= Halv=?utf-8?q?orsen?= <s@example.com>\r\n\r\n'),
  b('From: =?utf-8?q?Ola_Halv?=\r\n =?utf-8?q?orsen?= <ola@example.com>\r\n\r\n'),
  b('From: =?iso-8859-1?q?Caf=E9?= <cafe@example.com>\r\nSubject: =?iso-8859-1?q?Stra=DFe?=\r\n\r\n'),
  b('Subject: =?utf-8?b?77yo77yh77ys77y2?= fullwidth\r\n\r\n'),
  b('Subject: =?utf-8?q?=EF=AC=81le?= ligature\r\n\r\n'),
  b('Subject: not =? an encoded word\r\n\r\n'),
  b('Subject: =?broken\r\n\r\n'),
  // lone CR: unfolding removes it, joining what surrounds it (also into an encoded word)
  b('From: Halv\rorsen <ola@example.com>\r\n\r\n'),
  b('From: Ola =\r?utf-8?q?Halvorsen?= <x@y>\r\n\r\n'),
  b('Subject: ola\rhalvorsen\r\n\r\n'),
  // 8-bit: latin1 and UTF-8 raw bytes
  b('From: S\xf8ren Halvorsen <s@example.com>\r\nSubject: Caf\xe9\r\n\r\n'),
  u('From: Søren Halvorsen <s@example.com>\r\nSubject: Straße ﬁle Ω\r\n\r\n'),
  b('From: \xff\xfe <x@y>\r\n\r\n'),
  b('Subject: 100\xb0 \xb5ller \xbd \xa3\r\n\r\n'), // latin1 bytes below 0xc0 (no UTF-8 lead byte)
  // addresses in comments, display names, group syntax, quoted strings
  b('From: ola@example.com (Ola Halvorsen)\r\n\r\n'),
  b('From: "Halvorsen, Ola" <ola@example.com>\r\n\r\n'),
  b('To: Team: Ola Halvorsen <ola@example.com>, kari@example.com;\r\nCc: undisclosed-recipients:;\r\n\r\n'),
  b('To: =?utf-8?q?Team?=: =?utf-8?q?Ola?= Halvorsen <ola@example.com>;\r\n\r\n'),
  b('Bcc: "=?utf-8?q?Ola_Halvorsen?=" <ola@example.com>\r\n\r\n'),
  // several fields of the name, other fields holding the needle
  b('From: a@example.com\r\nFrom: Ola Halvorsen <ola@example.com>\r\n\r\n'),
  b('To: Ola Halvorsen <ola@example.com>\r\nFrom: kari@example.com\r\nX-Mailer: Halvorsen Mail 1.0\r\n\r\n'),
  b('From : Ola Halvorsen\r\nReply-To:Halvorsen\r\n\r\n'), // blank before the colon, none after
  b(' From: Ola Halvorsen\r\n\r\n'), // blank first line
  b('From Ola Halvorsen\r\nFrom: x\r\n\r\n'), // line without a colon
];

describe('SEARCH header keys: byte-level shortcut vs full decoding', () => {
  it('hand-made headers (encoded words, folding, case, 8-bit, comments, groups, lone CR)', () => {
    let hits = 0;
    for (const h of HEADERS) hits += check(h, NEEDLES);
    expect(hits).toBeGreaterThan(100);
  });

  it('benchmark-style mail, with needles taken from its own decoded fields', () => {
    let hits = 0;
    for (const msg of appendMessages('search-header-prefilter', 200)) {
      const eoh = msg.indexOf('\r\n\r\n');
      const header = msg.subarray(0, eoh < 0 ? msg.length : eoh + 4);
      const needles = [...NEEDLES];
      for (const field of ['from', 'to', 'subject']) {
        for (const v of headerValues(header, field)) {
          const words = v.split(/[\s<>"(),]+/).filter((w) => w.length > 2);
          for (const w of words.slice(0, 3)) needles.push(w, w.toUpperCase(), w.slice(1, -1));
          needles.push(v.slice(0, 12));
        }
      }
      hits += check(header, needles);
    }
    expect(hits).toBeGreaterThan(500);
  });

  it('rawValueIncludes decides only plain ASCII values, exactly', () => {
    const values = ['Ola Halvorsen', 'ola\r\n halvorsen', 'x =?utf-8?q?a?=', 'Caf\xe9', 'a =\r? b', 'a = ? b', 'HALVORSEN', 'halv\rorsen', ''];
    for (const v of values) {
      for (const needle of NEEDLES.filter((n) => n !== '')) {
        const folded = searchFold(needle);
        const raw = rawValueIncludes(b(v), 0, b(v).length, asciiNeedle(folded));
        if (raw !== undefined) expect(raw, `${JSON.stringify(needle)} in ${JSON.stringify(v)}`).toBe(foldedHeaderValue(b(v)).includes(folded));
        if (/[\x80-\xff]|=\r*\?/.test(v)) expect(raw).toBeUndefined();
      }
    }
  });
});
