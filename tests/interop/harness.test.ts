// The interop harness itself: response parsing and normalization (tests/helpers/imap-wire.ts)
// and the transcript client's literal handling, over a real TCP socket to a scripted peer.
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  decodeMailboxName,
  encodeMailboxName,
  ImapWire,
  internalDateToUtc,
  literal,
  normalize,
  normalizeUntagged,
  parseFetch,
  parseValues,
} from '../helpers/imap-wire.js';

describe('imap-wire parsing and normalization', () => {
  it('parses atoms, quoted strings, literals, NIL and nested lists', () => {
    expect(parseValues('("a \\"b\\"" NIL (x {3}\r\nc d) BODY[HEADER.FIELDS (FROM TO)]<0> \\Seen)')).toEqual([
      ['a "b"', null, ['x', 'c d'], 'BODY[HEADER.FIELDS (FROM TO)]<0>', '\\Seen'],
    ]);
  });

  it('parses FETCH responses into items keyed by upper-cased names', () => {
    const f = parseFetch('* 12 FETCH (uid 7 FLAGS (\\Seen foo) BODY[1] {5}\r\nhe)lo RFC822.SIZE 99)');
    expect(f).toEqual({ seq: 12, items: { UID: '7', FLAGS: ['\\Seen', 'foo'], 'BODY[1]': 'he)lo', 'RFC822.SIZE': '99' } });
    expect(parseFetch('* 3 EXISTS')).toBeUndefined();
  });

  it('normalizes what servers may legitimately answer differently', () => {
    expect(normalizeUntagged('* OK [UIDVALIDITY 1795498732] UIDs valid')).toBe('* OK [UIDVALIDITY <uidvalidity>]');
    expect(normalizeUntagged('* OK [UIDVALIDITY 17] x', { keepUidValidity: true })).toBe('* OK [UIDVALIDITY 17]');
    expect(normalizeUntagged('* OK [CAPABILITY IMAP4rev1 IDLE] Dovecot (Debian) ready.')).toBe('* OK [CAPABILITY <list>]');
    expect(normalizeUntagged('* FLAGS (\\Seen \\Answered Foo)')).toBe('* FLAGS (\\Answered \\Seen Foo)');
    expect(normalizeUntagged('* LIST (\\Marked \\HasNoChildren) "." INBOX')).toBe('* LIST (\\HasNoChildren) "." "INBOX"');
    expect(normalizeUntagged('* STATUS "Work" (UIDVALIDITY 5 MESSAGES 3)')).toBe('* STATUS "Work" (MESSAGES 3 UIDVALIDITY <uidvalidity>)');
    expect(normalizeUntagged('* SEARCH 5 1 3')).toBe('* SEARCH 1 3 5');
    expect(normalizeUntagged('* 1 FETCH (UID 4 INTERNALDATE "17-Jul-1996 02:44:25 -0700" FLAGS (\\Seen \\Recent))', { dropRecent: true }))
      .toBe('* 1 FETCH (FLAGS (\\Seen) INTERNALDATE "1996-07-17T09:44:25Z" UID "4")');
    expect(internalDateToUtc(' 1-Jan-2024 00:30:00 +0100')).toBe('2023-12-31T23:30:00Z');
    const r = normalize({
      command: 'a COPY 1 Work', tag: 'a', lines: ['a OK [COPYUID 99 1 5] Copy completed (0.001 + 0.000 secs).'],
      untagged: [], tagged: 'a OK [COPYUID 99 1 5] Copy completed (0.001 + 0.000 secs).', status: 'OK', code: 'COPYUID 99 1 5',
    });
    expect(r).toEqual({ command: 'a COPY 1 Work', status: 'OK', code: 'COPYUID <uidvalidity> 1 5', untagged: [] });
  });

  it('merges the FETCH responses of one message within a command', () => {
    const lines = ['* 8 FETCH (BODY[1] "x")', '* 3 EXISTS', '* 8 FETCH (FLAGS (\\Seen))'];
    const r = normalize({ command: 'a FETCH 8 BODY[1]', tag: 'a', lines: [...lines, 'a OK'], untagged: lines, tagged: 'a OK', status: 'OK' });
    expect(r.untagged).toEqual(['* 8 FETCH (BODY[1] "x" FLAGS (\\Seen))', '* 3 EXISTS']);
  });

  it('encodes and decodes modified UTF-7 mailbox names (RFC 3501 5.1.3)', () => {
    expect(encodeMailboxName('Entwürfe')).toBe('Entw&APw-rfe');
    expect(encodeMailboxName('A&B')).toBe('A&-B');
    expect(encodeMailboxName('日本語')).toBe('&ZeVnLIqe-');
    for (const s of ['Entwürfe', 'A&B', '日本語', 'Projekte.Zürich', 'plain']) expect(decodeMailboxName(encodeMailboxName(s))).toBe(s);
  });

  it('builds literals with the byte length of UTF-8 text', () => {
    expect(literal('Café')).toBe('{5}\r\nCaf\u00c3\u00a9');
    expect(literal('x', true)).toBe('{1+}\r\nx');
  });
});

describe('ImapWire over a real socket to a scripted peer', () => {
  let server: net.Server | undefined;
  const sockets = new Set<net.Socket>();
  afterEach(async () => {
    for (const s of sockets) s.destroy();
    sockets.clear();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    server = undefined;
  });

  /** A peer that runs `script` for each connection; resolves with its port. */
  async function peer(script: (sock: net.Socket, lines: AsyncIterator<string>) => Promise<void>): Promise<number> {
    server = net.createServer((sock) => {
      sockets.add(sock);
      let buf = '';
      const queue: string[] = [];
      const waiting: Array<(l: string) => void> = [];
      sock.on('data', (d) => {
        buf += d.toString('latin1');
        let i: number;
        while ((i = buf.indexOf('\r\n')) >= 0) {
          const l = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const w = waiting.shift();
          if (w) w(l);
          else queue.push(l);
        }
      });
      const lines: AsyncIterator<string> = {
        next: () => new Promise((resolve) => {
          const l = queue.shift();
          if (l !== undefined) resolve({ value: l, done: false });
          else waiting.push((v) => resolve({ value: v, done: false }));
        }),
      };
      void script(sock, lines).catch(() => sock.destroy());
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
    return (server!.address() as net.AddressInfo).port;
  }

  it('assembles literals split across packets and byte-by-byte writes', async () => {
    const port = await peer(async (sock, lines) => {
      sock.write('* OK hi\r\n');
      await lines.next();
      const body = 'line one\r\n{3}\r\nnot a literal\r\n';
      const resp = `* 1 FETCH (BODY[] {${body.length}}\r\n${body} FLAGS (\\Seen))\r\na1 OK done\r\n`;
      for (const ch of resp) {
        sock.write(ch, 'latin1');
        await new Promise((r) => setImmediate(r));
      }
    });
    const w = await ImapWire.connect('127.0.0.1', port);
    const r = await w.command('a1 FETCH 1 BODY[]');
    expect(r.status).toBe('OK');
    expect(r.untagged).toHaveLength(1);
    expect(parseFetch(r.untagged[0]!)!.items['BODY[]']).toBe('line one\r\n{3}\r\nnot a literal\r\n');
    w.destroy();
  });

  it('waits for "+" before sending a synchronizing literal, not for LITERAL+', async () => {
    const seen: string[] = [];
    const port = await peer(async (sock, lines) => {
      sock.write('* OK hi\r\n');
      let l = (await lines.next()).value as string;
      seen.push(l);
      sock.write('+ go ahead\r\n');
      l = (await lines.next()).value as string; // literal "hello" + rest of the line
      seen.push(l);
      sock.write('a2 OK [APPENDUID 1 9] appended\r\n');
      l = (await lines.next()).value as string;
      seen.push(l);
      sock.write('a3 NO nope\r\n');
    });
    const w = await ImapWire.connect('127.0.0.1', port);
    const r = await w.command(`a2 APPEND INBOX ${literal('hello')}`);
    expect(r).toMatchObject({ status: 'OK', code: 'APPENDUID 1 9' });
    const r3 = await w.command(`a3 APPEND INBOX ${literal('x', true)}`);
    expect(r3.status).toBe('NO');
    expect(seen).toEqual(['a2 APPEND INBOX {5}', 'hello', 'a3 APPEND INBOX {1+}']);
    w.destroy();
  });

  it('run() adds a tag unless the text already starts with one', async () => {
    const seen: string[] = [];
    const port = await peer(async (sock, lines) => {
      sock.write('* OK hi\r\n');
      for (;;) {
        const l = (await lines.next()).value as string;
        seen.push(l);
        sock.write(`${l.split(' ')[0]} OK done\r\n`);
      }
    });
    const w = await ImapWire.connect('127.0.0.1', port);
    expect((await w.run('NOOP')).tag).toBe('t1');
    expect((await w.run('a FROBNICATE')).tag).toBe('a');
    expect((await w.ok('select INBOX')).tag).toBe('t2');
    expect(seen).toEqual(['t1 NOOP', 'a FROBNICATE', 't2 select INBOX']);
    // Concurrent commands on one connection run one after another, each with its own answer.
    const rs = await Promise.all([w.run('NOOP'), w.run('CHECK'), w.run('b NOOP')]);
    expect(rs.map((r) => r.tagged)).toEqual(['t3 OK done', 't4 OK done', 'b OK done']);
    w.destroy();
  });

  it('fails a wait with the transcript so far', async () => {
    const port = await peer(async (sock) => {
      sock.write('* OK hi\r\n');
    });
    const w = await ImapWire.connect('127.0.0.1', port, { timeoutMs: 200 });
    const err = await w.command('a1 NOOP').then(() => undefined, (e: Error) => e);
    expect(err?.message).toMatch(/timed out after 200 ms waiting for the tagged response to a1/);
    expect(err?.message).toMatch(/C: a1 NOOP/);
    expect(err?.message).toMatch(/S: \* OK hi/);
    w.destroy();
  });
});
