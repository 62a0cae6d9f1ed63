// Command tokenizer and argument grammar: what clients send, and what hostile input gets.
import { describe, it, expect } from 'vitest';
import { parseCommand, ImapSyntaxError, type Token } from '../../electron/server/imap/parser.js';
import { DEFAULT_LIMITS } from '../../electron/server/imap/limits.js';
import { parseSequenceSet, resolveSeqNumbers, resolveUidIndexes, formatSet } from '../../electron/server/imap/sequence.js';
import { parseDateTime } from '../../electron/server/imap/args.js';

const parse = (s: string) => parseCommand(Buffer.from(s, 'latin1'), DEFAULT_LIMITS);

function show(t: Token): unknown {
  if (t.type === 'atom') return t.section ? { atom: t.value, section: t.section.map(show), partial: t.partial } : t.value;
  if (t.type === 'string') return { str: t.value.toString('latin1'), literal: t.literal };
  return t.items.map(show);
}

describe('parseCommand', () => {
  it('parses tag, name and UID subcommands', () => {
    const c = parse('a1 uid fetch 1:* (FLAGS)\r\n');
    expect(c.tag).toBe('a1');
    expect(c.name).toBe('UID FETCH');
    expect(c.args.map(show)).toEqual(['1:*', ['FLAGS']]);
  });

  it('parses quoted strings with escapes and literals', () => {
    const c = parse('a LOGIN "al\\"ice" {4}\r\np w!\r\n');
    expect(c.args.map(show)).toEqual([
      { str: 'al"ice', literal: false },
      { str: 'p w!', literal: true },
    ]);
  });

  it('keeps BODY sections and partials together', () => {
    const c = parse('a FETCH 1 (BODY.PEEK[HEADER.FIELDS (From To)]<0.100> BODY[1.2.MIME] BODY[])\r\n');
    expect(c.args.map(show)).toEqual([
      '1',
      [
        { atom: 'BODY.PEEK', section: ['HEADER.FIELDS', ['From', 'To']], partial: [0, 100] },
        { atom: 'BODY', section: ['1.2.MIME'], partial: undefined },
        { atom: 'BODY', section: [], partial: undefined },
      ],
    ]);
  });

  it('accepts [ and ] in ordinary atoms such as mailbox names', () => {
    expect(parse('a SELECT [Gmail].Sent\r\n').args.map(show)).toEqual(['[Gmail].Sent']);
  });

  it('refuses malformed input with a BAD-worthy reason', () => {
    const bad = [
      'a LOGIN "unterminated\r\n',
      'a FETCH 1 (FLAGS\r\n',
      'a FETCH 1 FLAGS)\r\n',
      'a LOGIN "bad\\escape"\r\n',
      '+tag NOOP\r\n',
      'a FETCH 1 BODY[HEADER\r\n',
      'a FETCH 1 BODY[]<abc>\r\n',
      'a LOGIN {5}\r\nab\r\n',
      'a SELECT f\xe4\r\n',
      '\r\n',
    ];
    for (const line of bad) expect(() => parse(line), JSON.stringify(line)).toThrow(ImapSyntaxError);
  });

  it('limits nesting depth', () => {
    const deep = 'a SEARCH ' + '('.repeat(200) + 'ALL' + ')'.repeat(200) + '\r\n';
    expect(() => parse(deep)).toThrow(/nesting/);
    const ok = 'a SEARCH ' + '('.repeat(20) + 'ALL' + ')'.repeat(20) + '\r\n';
    expect(parse(ok).args).toHaveLength(1);
  });
});

describe('sequence sets', () => {
  it('resolves sequence numbers and *, refusing numbers beyond the mailbox', () => {
    expect(resolveSeqNumbers(parseSequenceSet('1,3:4,*'), 5)).toEqual([1, 3, 4, 5]);
    expect(resolveSeqNumbers(parseSequenceSet('4:2'), 5)).toEqual([2, 3, 4]);
    expect(resolveSeqNumbers(parseSequenceSet('6'), 5)).toBeNull();
    expect(resolveSeqNumbers(parseSequenceSet('*'), 0)).toBeNull();
  });

  it('resolves UID sets against existing uids; n:* always includes the last message', () => {
    const uids = [3, 7, 9, 20];
    expect(resolveUidIndexes(parseSequenceSet('1:8'), uids)).toEqual([0, 1]);
    expect(resolveUidIndexes(parseSequenceSet('100:*'), uids)).toEqual([3]);
    expect(resolveUidIndexes(parseSequenceSet('*'), [])).toEqual([]);
  });

  it('refuses 1:*:*, 0, 4294967296 and garbage', () => {
    for (const s of ['1:*:*', '0', '4294967296', '1,,2', 'a', '', '1:']) {
      expect(() => parseSequenceSet(s), s).toThrow(ImapSyntaxError);
    }
    expect(parseSequenceSet('4294967295').ranges).toEqual([[4294967295, 4294967295]]);
  });

  it('formats ascending numbers compactly', () => {
    expect(formatSet([1, 2, 3, 5, 7, 8])).toBe('1:3,5,7:8');
  });
});

describe('date-time', () => {
  it('parses APPEND date-time with zone', () => {
    const t: Token = { type: 'string', value: Buffer.from('17-Jul-1996 02:44:25 -0700'), literal: false };
    expect(new Date(parseDateTime(t)).toISOString()).toBe('1996-07-17T09:44:25.000Z');
    const bad: Token = { type: 'string', value: Buffer.from('31-Foo-1996 02:44:25 -0700'), literal: false };
    expect(() => parseDateTime(bad)).toThrow(ImapSyntaxError);
  });
});
