// The command framer: any chunking (down to one byte at a time) gives the same frames,
// literals (synchronizing and LITERAL+) are framed exactly, limits give clear errors.
import { describe, it, expect } from 'vitest';
import { CommandFramer, type Frame } from '../../electron/server/imap/framer.js';
import { DEFAULT_LIMITS, type ImapLimits } from '../../electron/server/imap/limits.js';

function frames(input: Buffer, chunk: number, limits: ImapLimits = DEFAULT_LIMITS): Frame[] {
  const f = new CommandFramer(limits);
  const out: Frame[] = [];
  for (let i = 0; i < input.length; i += chunk) {
    f.push(input.subarray(i, i + chunk));
    for (let fr = f.next(); fr; fr = f.next()) out.push(fr);
  }
  return out;
}

function text(fs: Frame[]): string[] {
  return fs.map((f) => {
    if (f.type === 'command') return `CMD ${f.data.toString('latin1')}`;
    if (f.type === 'continue') return `CONT ${f.size}`;
    if (f.type === 'error') return `ERR ${f.tag} ${f.message}${f.fatal ? ' FATAL' : ''}`;
    return `LINE ${f.data.toString('latin1')}`;
  });
}

describe('CommandFramer', () => {
  const stream = Buffer.from(
    'a1 LOGIN alice pw\r\n' +
      'a2 APPEND INBOX {11}\r\nhello\r\nworl (\\Seen) {3+}\r\nabc\r\n' +
      'a3 NOOP\n' + // bare LF is tolerated
      'a4 LOGIN {5+}\r\nal\x00ce {2}\r\npw\r\n',
    'latin1',
  );

  it('gives identical frames for every chunk size, including one byte at a time', () => {
    const expected = text(frames(stream, stream.length));
    expect(expected).toEqual([
      'CMD a1 LOGIN alice pw\r\n',
      'CONT 11',
      'CMD a2 APPEND INBOX {11}\r\nhello\r\nworl (\\Seen) {3+}\r\nabc\r\n',
      'CMD a3 NOOP\n',
      'CONT 2',
      'CMD a4 LOGIN {5+}\r\nal\x00ce {2}\r\npw\r\n',
    ]);
    for (const size of [1, 2, 3, 7, 13, 64]) {
      expect(text(frames(stream, size)), `chunk size ${size}`).toEqual(expected);
    }
  });

  it('returns raw lines in line mode (AUTHENTICATE, IDLE) without reading ahead', () => {
    const f = new CommandFramer(DEFAULT_LIMITS);
    f.push(Buffer.from('a IDLE\r\nDONE\r\nb NOOP {3}\r\n'));
    expect(text([f.next()!])).toEqual(['CMD a IDLE\r\n']);
    expect(text([f.next('line')!])).toEqual(['LINE DONE']);
    expect(text([f.next()!])).toEqual(['CONT 3']);
    expect(f.next()).toBeNull();
  });

  it('refuses an over-long line with the tag and keeps framing the next command', () => {
    const limits = { ...DEFAULT_LIMITS, maxLineLength: 100 };
    const input = Buffer.from('x1 NOOP ' + 'a'.repeat(500) + '\r\nx2 NOOP\r\n');
    for (const size of [1, 50, input.length]) {
      expect(text(frames(input, size, limits))).toEqual(['ERR x1 Command line too long', 'CMD x2 NOOP\r\n']);
    }
  });

  it('refuses a too large synchronizing literal without waiting for its bytes', () => {
    const limits = { ...DEFAULT_LIMITS, maxLiteralSize: 10 };
    expect(text(frames(Buffer.from('a APPEND INBOX {4294967295}\r\nb NOOP\r\n'), 1, limits))).toEqual([
      'ERR a Literal too large',
      'CMD b NOOP\r\n',
    ]);
  });

  it('skips a refused small non-synchronizing literal, and closes on a huge one (RFC 7888)', () => {
    const limits = { ...DEFAULT_LIMITS, maxLiteralSize: 10 };
    expect(text(frames(Buffer.from('a APPEND INBOX {20+}\r\n01234567890123456789\r\nb NOOP\r\n'), 3, limits))).toEqual([
      'ERR a Literal too large',
      'CMD b NOOP\r\n',
    ]);
    expect(text(frames(Buffer.from('a APPEND INBOX {999999999+}\r\nxx'), 5, limits))).toEqual(['ERR a Literal too large FATAL']);
  });

  it('treats an unterminated literal as incomplete, not as a command', () => {
    expect(text(frames(Buffer.from('a LOGIN {10}\r\nabc'), 1))).toEqual(['CONT 10']);
  });

  it('rejects literal sizes beyond 2^32-1 as invalid', () => {
    expect(text(frames(Buffer.from('a LOGIN {99999999999}\r\nb NOOP\r\n'), 4))).toEqual(['ERR a Invalid literal size', 'CMD b NOOP\r\n']);
  });
});
