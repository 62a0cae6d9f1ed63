// ENVELOPE and BODYSTRUCTURE details beyond the recorded Dovecot cases (mime-dovecot.test.ts).
import { describe, it, expect } from 'vitest';
import { envelope } from '../../electron/server/mime/envelope.js';
import { parseAddressList } from '../../electron/server/mime/address.js';
import { bodyStructure } from '../../electron/server/mime/bodystructure.js';
import { mergeRfc2231 } from '../../electron/server/mime/content.js';
import { humanStr, nolf, nstr } from '../../electron/server/mime/quote.js';
import { parseStructure } from '../../electron/server/mime/structure.js';

const b = (s: string) => Buffer.from(s, 'latin1');

describe('IMAP strings as Dovecot writes them', () => {
  it('quotes with up to four escapes, else sends a literal', () => {
    expect(nstr('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect(nstr('""""')).toBe('"\\"\\"\\"\\""');
    expect(nstr('"""""')).toBe('{5}\r\n"""""');
    expect(nstr('caf\xc3\xa9')).toBe('{5}\r\ncaf\xc3\xa9');
    expect(nstr(null)).toBe('NIL');
    expect(nstr('x'.repeat(5000))).toBe('"' + 'x'.repeat(5000) + '"');
  });

  it('normalizes text for humans and sends changed text as a literal', () => {
    expect(humanStr('plain text')).toBe('"plain text"');
    expect(humanStr('  a \t b\n c  ')).toBe('{5}\r\na b c');
    expect(humanStr('say "hi"')).toBe('{8}\r\nsay "hi"');
    expect(humanStr(' \t ')).toBe('""');
    expect(humanStr('')).toBe('""');
  });

  it('unfolds by removing line breaks, a lone CR becoming a space', () => {
    expect(nolf('a\r\n b')).toBe('a b');
    expect(nolf('a\n\tb')).toBe('a\tb');
    expect(nolf('x\ry')).toBe('x y');
  });
});

describe('addresses (RFC 5322 3.4)', () => {
  const parse = (s: string) => parseAddressList(b(s)).map((a) => [a.name, a.route, a.mailbox, a.domain]);

  it('parses name-addr, addr-spec with comment, routes and groups', () => {
    expect(parse('"Doe, John" <john@example.com>, x@y (Comment), <@r1,@r2:u@d>, G: a@b, c@d;')).toEqual([
      ['Doe, John', null, 'john', 'example.com'],
      ['Comment', null, 'x', 'y'],
      [null, '@r1,@r2', 'u', 'd'],
      [null, null, 'G', null],
      [null, null, 'a', 'b'],
      [null, null, 'c', 'd'],
      [null, null, null, null],
    ]);
  });

  it('repairs broken addresses the way Dovecot does', () => {
    expect(parse('nodomain')).toEqual([[null, null, 'nodomain', 'MISSING_DOMAIN']]);
    expect(parse('some words')).toEqual([['some words', null, 'MISSING_MAILBOX', 'MISSING_DOMAIN']]);
    expect(parse('Name <a@b')).toEqual([['Name', null, 'a', 'SYNTAX_ERROR']]);
    expect(parse('<@r a@b>')).toEqual([[null, 'INVALID_ROUTE', 'a', 'b']]);
    expect(parse('a@b, , c@d')).toEqual([
      [null, null, 'a', 'b'],
      [null, null, 'MISSING_MAILBOX', 'MISSING_DOMAIN'],
      [null, null, 'c', 'd'],
    ]);
    expect(parse('   ')).toEqual([]);
  });

  it('keeps encoded words as they are', () => {
    expect(parse('=?UTF-8?Q?J=C3=B6rg?= <j@x.de>')).toEqual([['=?UTF-8?Q?J=C3=B6rg?=', null, 'j', 'x.de']]);
  });
});

describe('envelope', () => {
  it('defaults Sender and Reply-To to From and handles CRLF headers', () => {
    expect(envelope(b('From: a@b\r\nSubject: s\r\n\r\n'))).toBe(
      '(NIL "s" ((NIL NIL "a" "b")) ((NIL NIL "a" "b")) ((NIL NIL "a" "b")) NIL NIL NIL NIL NIL)',
    );
    expect(envelope(b('From: a@b\nSender: s@t\nReply-To: r@t\n'))).toBe(
      '(NIL NIL ((NIL NIL "a" "b")) ((NIL NIL "s" "t")) ((NIL NIL "r" "t")) NIL NIL NIL NIL NIL)',
    );
  });

  it('gives an all-NIL envelope for an empty header', () => {
    expect(envelope(Buffer.alloc(0))).toBe('(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)');
  });
});

describe('bodyStructure details', () => {
  it('joins RFC 2231 continuations like Dovecot', () => {
    expect(mergeRfc2231([['a', '1'], ['n*1', 'b'], ['n*0', 'a']])).toEqual([
      ['a', '1'],
      ['n', 'ab'],
    ]);
    expect(mergeRfc2231([['f*0*', "utf-8''%E2"], ['f*1', '50%']])).toEqual([['f*', "utf-8''%E250%25"]]);
    expect(mergeRfc2231([['f*1', 'x']])).toEqual([['f*1', 'x']]);
    expect(mergeRfc2231([['f*', "utf-8''x"]])).toEqual([['f*', "utf-8''x"]]);
  });

  it('renders an encapsulated message with envelope, body and line count', () => {
    const root = parseStructure(b('Content-Type: message/rfc822\n\nSubject: in\n\nbody\n'));
    expect(bodyStructure(root, false)).toBe(
      '("message" "rfc822" NIL NIL NIL "7bit" 21 (NIL "in" NIL NIL NIL NIL NIL NIL NIL NIL) ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 6 1) 3)',
    );
  });

  it('adds the default charset after the sent parameters of a text part', () => {
    const root = parseStructure(b('Content-Type: text/plain; format=flowed\n\nx\n'));
    expect(bodyStructure(root, false)).toBe('("text" "plain" ("format" "flowed" "charset" "us-ascii") NIL NIL "7bit" 3 1)');
  });
});
