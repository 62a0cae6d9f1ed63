import { describe, it, expect } from 'vitest';
import { decodeHeaderValue, headerFields, parseHeader } from '../../electron/server/mime/header.js';

const b = (s: string) => Buffer.from(s, 'latin1');

describe('parseHeader', () => {
  it('splits fields, keeps folding unless unfolded, and stops at the empty line', () => {
    const h = b('Subject: hello\n  world\r\nX-Empty:\nTo:   a@b\n\nBody: not a header\n');
    const raw = parseHeader(h).map((f) => [f.name, f.value.toString('latin1')]);
    expect(raw).toEqual([
      ['Subject', 'hello\n  world'],
      ['X-Empty', ''],
      ['To', 'a@b'],
    ]);
    expect(parseHeader(h, true)[0].value.toString('latin1')).toBe('hello  world');
  });

  it('is lenient like Dovecot: blanks before the colon, lines without colon, blank-only values', () => {
    const fields = parseHeader(b('Subject : spaced\nno colon line\nDate: \t\n  \n'));
    expect(fields.map((f) => f.name)).toEqual(['Subject', 'Date']);
    expect(fields[0].value.toString()).toBe('spaced');
    // a value made only of blanks loses just the first one
    expect(fields[1].value.toString('latin1')).toBe('\t\n  ');
  });

  it('treats a leading blank on the first line as part of the name', () => {
    expect(parseHeader(b(' X: 1\nY: 2\n')).map((f) => f.name)).toEqual([' X', 'Y']);
  });
});

describe('headerFields (BODY[HEADER.FIELDS], RFC 3501 6.4.5)', () => {
  const h = b('From: a@b\nSubject: one\n two\nX-A: 1\r\nsubject: again\nbroken\n\n');

  it('selects fields case-insensitively, with continuation lines, in CRLF form, plus the empty line', () => {
    expect(headerFields(h, ['SUBJECT'], false).toString('latin1')).toBe('Subject: one\r\n two\r\nsubject: again\r\n\r\n');
    expect(headerFields(h, ['nothing'], false).toString('latin1')).toBe('\r\n');
  });

  it('NOT keeps everything else, including lines without colon', () => {
    expect(headerFields(h, ['subject', 'x-a'], true).toString('latin1')).toBe('From: a@b\r\nbroken\r\n\r\n');
  });

  it('follows Dovecot for headers that end without an empty line', () => {
    const cut = b('Subject: no body');
    expect(headerFields(cut, ['subject'], false).toString('latin1')).toBe('Subject: no body\r\n\r\n');
    expect(headerFields(cut, ['x'], true).toString('latin1')).toBe('Subject: no body');
    const noEoh = b('Subject: header only\n');
    expect(headerFields(noEoh, ['x'], true, false).toString('latin1')).toBe('Subject: header only\r\n');
    // without the hint, a block ending in a line break is taken to have lost its empty line
    expect(headerFields(noEoh, ['x'], true).toString('latin1')).toBe('Subject: header only\r\n\r\n');
  });
});

describe('decodeHeaderValue', () => {
  it('unfolds and decodes RFC 2047 encoded words', () => {
    expect(decodeHeaderValue(b('=?UTF-8?B?SGVsbG8=?=\n =?iso-8859-1?q?J=F6rg?='))).toBe('HelloJörg');
    expect(decodeHeaderValue(b('plain\r\n text'))).toBe('plain text');
  });

  it('takes raw 8-bit bytes as UTF-8, or latin1 when they are not UTF-8', () => {
    expect(decodeHeaderValue(Buffer.from('café', 'utf8'))).toBe('café');
    expect(decodeHeaderValue(b('caf\xe9'))).toBe('café');
  });

  it('does not throw on broken encoded words', () => {
    expect(() => decodeHeaderValue(b('=?x-unknown?q?abc?= =?utf-8?b?###?='))).not.toThrow();
  });
});
