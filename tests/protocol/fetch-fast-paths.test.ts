// FETCH fast paths against a real server, byte for byte:
//  - BODY[] without MIME structure (file -> CRLF, NUL -> 0x80) equals BODY[HEADER] + BODY[TEXT]
//    (which go through the structure) for LF, CRLF, mixed, NUL, lone-CR and unterminated files;
//  - pipelined BODY.PEEK[] commands (served with read-ahead and batched output) answer exactly
//    what the same commands sent one at a time answer;
//  - whole-message partials convert NULs like full BODY[] does;
//  - a FETCH rendered from parsed info already in memory equals the first, cold one;
//  - two whole-message items in one FETCH, files around the 256 KB limit of the synchronous
//    path, bigger ones converted 256 KB at a time (line ends and NULs at the pieces' edges) and
//    one over the 4 MB of that, and line ends straddling the converter's 16-byte blocks;
//  - clients that read slowly, or that fetch at the same time (one output buffer is shared by
//    all connections of the worker), get exactly the bytes a lone, eager client gets.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import net from 'node:net';
import { mkdtemp, rm, mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startRoost, type RoostInstance } from '../helpers/roost.js';

const PW = 'ThisIsABadPassword';
const USER = 'fast@brokkr.net';
let vmail: string;
let roost: RoostInstance;

const big = (n: number, line: string) => line.repeat(Math.ceil(n / line.length)).slice(0, n);

/** name -> file bytes, delivered in this order (uid 1, 2, ...). */
const FILES: [string, Buffer][] = [
  ['lf', Buffer.from('From: a@b.c\nSubject: lf\n\nline one\nline two\n')],
  ['crlf', Buffer.from('From: a@b.c\r\nSubject: crlf\r\n\r\nline one\r\nline two\r\n')],
  ['mixed', Buffer.from('From: a@b.c\r\nSubject: mixed\n\nline one\r\nline two\nthree\r\n')],
  ['nul', Buffer.from('From: a@b.c\nSubject: nul\n\nbefore\x00after\nx\x00\x00y\n', 'latin1')],
  ['lone-cr', Buffer.from('From: a@b.c\nSubject: cr\n\nlone\rcarriage\r\nreturn\n')],
  ['unterminated', Buffer.from('From: a@b.c\nSubject: no final newline\n\nlast line')],
  ['8bit', Buffer.from('From: =?utf-8?q?J=C3=B6rg?= <j@x.de>\nSubject: Grüße\nContent-Type: text/plain; charset=utf-8\n\nSchöne Grüße\n')],
  [
    'multipart',
    Buffer.from(
      'From: a@b.c\nSubject: parts\nContent-Type: multipart/mixed; boundary=XX\n\npre\n--XX\nContent-Type: text/plain\n\nhello\n--XX\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\nAAEC\n--XX--\nepilogue\n',
    ),
  ],
  ['large', Buffer.from(`From: a@b.c\nSubject: large\n\n${big(300 * 1024, 'a fairly long line of text\n')}`)],
  ['huge', Buffer.from(`From: a@b.c\nSubject: huge\n\n${big(1200 * 1024, 'x\x00yz\n')}`, 'latin1')],
  // Line ends at every offset of a 16-byte block: CR as a block's last byte and LF as the next one's first.
  ['straddle', Buffer.from(`From: a@b.c\nSubject: straddle\n\n${Array.from({ length: 400 }, (_, i) => 'y'.repeat(i % 37) + (i % 3 === 0 ? '\r\n' : i % 3 === 1 ? '\n' : '\r\r\n')).join('')}`)],
  // Converted in memory and sent through the shared output buffer (under its 64 KB).
  ['medium', Buffer.from(`From: a@b.c\nSubject: medium\n\n${big(40 * 1024, 'a medium line\n')}`)],
  // Same size, other bytes: alternating with 'medium', a buffer overwritten too early shows.
  ['medium2', Buffer.from(`From: a@b.c\nSubject: medium\n\n${big(40 * 1024, 'A MEDIUM LINE\n')}`)],
  // Just under, at and over the 256 KB the synchronous path reads into its buffer.
  ...[256 * 1024 - 1, 256 * 1024, 256 * 1024 + 1].map((n): [string, Buffer] => [`edge-${n}`, Buffer.from(`From: a@b.c\nSubject: edge\n\n${big(n, 'line\n')}`).subarray(0, n)]),
  // Bigger messages are converted 256 KB at a time: a CRLF split between two pieces (it stays
  // one CRLF), a bare LF that starts a piece, and a NUL at a piece's end.
  ['piece-crlf', pieceEdge(256 * 1024, '\r\n')],
  ['piece-lf', pieceEdge(2 * 256 * 1024, 'x\n')],
  ['piece-nul', pieceEdge(256 * 1024, '\x00\x00')],
  // Over the 4 MB converted without a promise: read() and the string route.
  ['over-pieces', Buffer.from(`From: a@b.c\nSubject: over\n\n${big(4 * 1024 * 1024 + 1000, 'a line of the biggest one\n')}`)],
];

/** A message whose bytes at `at - 1` and `at` are `pair`, with LF line ends elsewhere. */
function pieceEdge(at: number, pair: string): Buffer {
  const head = Buffer.from(`From: a@b.c\nSubject: piece ${at}\n\n`);
  const filler = Buffer.from(big(at - 1 - head.length, 'filler line\n'));
  return Buffer.concat([head, filler, Buffer.from(pair, 'latin1'), Buffer.from(big(3000, 'after\n'))]);
}

/** What BODY[] must carry: CRLF line ends, NUL as 0x80. */
function imapForm(file: Buffer): Buffer {
  const s = file.toString('latin1').replace(/\r?\n/g, '\r\n').replace(/\0/g, '\x80');
  return Buffer.from(s, 'latin1');
}

beforeAll(async () => {
  vmail = await mkdtemp(path.join(os.tmpdir(), 'roost-fastpath-'));
  const md = path.join(vmail, 'brokkr.net', 'fast', 'maildir');
  for (const d of ['tmp', 'new', 'cur']) await mkdir(path.join(md, d), { recursive: true });
  let t = 1700000000;
  for (const [name, data] of FILES) await writeFile(path.join(md, 'new', `${t++}.M1P1.${name}`), data);
  roost = await startRoost({ vmail, password: PW });
});

afterAll(async () => {
  await roost?.stop();
  await rm(vmail, { recursive: true, force: true });
});

/** A raw connection: every byte the server sends, so literals are compared exactly. */
class Raw {
  /** Received bytes not yet returned: buf[0, len), grown by doubling (responses run to many MB). */
  private buf = Buffer.alloc(64 * 1024);
  private len = 0;
  /** Where the search for the awaited tagged line resumes. */
  private scanned = 0;
  private wake: (() => void) | null = null;
  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      if (this.len + d.length > this.buf.length) {
        const bigger = Buffer.alloc(Math.max(this.buf.length * 2, this.len + d.length));
        this.buf.copy(bigger, 0, 0, this.len);
        this.buf = bigger;
      }
      d.copy(this.buf, this.len);
      this.len += d.length;
      this.wake?.();
    });
  }

  static async open(): Promise<Raw> {
    const socket = net.connect(roost.port, roost.host);
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const r = new Raw(socket);
    await r.until('*');
    await r.send(`l LOGIN ${USER} ${PW}\r\n`, 'l');
    await r.send('s SELECT INBOX\r\n', 's');
    return r;
  }

  /** Waits for the line starting with `marker` (a tag, or "*" for the greeting); returns and clears everything up to its end. */
  private async until(marker: string): Promise<Buffer> {
    const deadline = Date.now() + 20_000;
    const needle = Buffer.from(`\r\n${marker} `, 'latin1');
    for (;;) {
      const data = this.buf.subarray(0, this.len);
      let at = data.subarray(0, needle.length - 2).equals(needle.subarray(2)) ? 0 : -1;
      if (at < 0) {
        const found = data.indexOf(needle, Math.max(0, this.scanned - needle.length));
        if (found >= 0) at = found + 2;
      }
      const end = at >= 0 ? data.indexOf('\r\n', at) : -1;
      if (end >= 0) {
        const out = Buffer.from(data.subarray(0, end + 2));
        this.buf.copy(this.buf, 0, end + 2, this.len);
        this.len -= end + 2;
        this.scanned = 0;
        return out;
      }
      this.scanned = this.len;
      if (Date.now() > deadline) throw new Error(`timeout waiting for ${marker}: ${data.subarray(-300).toString('latin1')}`);
      await new Promise<void>((r) => {
        this.wake = r;
        setTimeout(r, 50);
      });
    }
  }

  /** Sends raw bytes and returns everything up to and including the tagged line of `lastTag`. */
  async send(bytes: string, lastTag: string): Promise<Buffer> {
    this.socket.write(bytes, 'latin1');
    return this.until(lastTag);
  }

  /** Sends raw bytes without waiting for an answer. */
  write(bytes: string): void {
    this.socket.write(bytes, 'latin1');
  }

  /** Stops reading from the socket (the server's writes back up), or reads again. */
  reading(on: boolean): void {
    if (on) this.socket.resume();
    else this.socket.pause();
  }

  /** Everything up to and including the tagged line of `tag`. */
  wait(tag: string): Promise<Buffer> {
    return this.until(tag);
  }

  close(): void {
    this.socket.destroy();
  }
}

/** The data of the first "BODY[...] {n}" literal (or "" empty string) in a response. */
function literalOf(resp: Buffer, label: string): Buffer {
  const text = resp.toString('latin1');
  if (text.includes(`${label} ""`)) return Buffer.alloc(0);
  const at = text.indexOf(`${label} {`);
  if (at < 0) throw new Error(`no ${label} literal in ${text.slice(0, 200)}`);
  const close = text.indexOf('}\r\n', at);
  const n = Number(text.slice(at + label.length + 2, close));
  return resp.subarray(close + 3, close + 3 + n);
}

describe('BODY[] without the MIME structure', () => {
  it('sends the file with CRLF line ends and NUL as 0x80, equal to BODY[HEADER] + BODY[TEXT]', async () => {
    const c = await Raw.open();
    try {
      for (let uid = 1; uid <= FILES.length; uid++) {
        const [name, file] = FILES[uid - 1];
        const whole = literalOf(await c.send(`w UID FETCH ${uid} (BODY.PEEK[])\r\n`, 'w'), 'BODY[]');
        const header = literalOf(await c.send(`h UID FETCH ${uid} (BODY.PEEK[HEADER])\r\n`, 'h'), 'BODY[HEADER]');
        const text = literalOf(await c.send(`t UID FETCH ${uid} (BODY.PEEK[TEXT])\r\n`, 't'), 'BODY[TEXT]');
        expect(whole.equals(imapForm(file)), name).toBe(true);
        expect(whole.equals(Buffer.concat([header, text])), name).toBe(true);
        // RFC822.SIZE counts exactly these bytes
        const size = /RFC822\.SIZE (\d+)/.exec((await c.send(`z UID FETCH ${uid} (RFC822.SIZE)\r\n`, 'z')).toString('latin1'))![1];
        expect(Number(size), name).toBe(whole.length);
      }
    } finally {
      c.close();
    }
  });

  it('converts NULs in whole-message partials too, like Dovecot', async () => {
    const c = await Raw.open();
    try {
      const uid = FILES.findIndex(([n]) => n === 'nul') + 1;
      const whole = literalOf(await c.send(`w UID FETCH ${uid} (BODY.PEEK[])\r\n`, 'w'), 'BODY[]');
      const part = literalOf(await c.send(`p UID FETCH ${uid} (BODY.PEEK[]<10.40>)\r\n`, 'p'), 'BODY[]<10>');
      expect(part.equals(whole.subarray(10, 50))).toBe(true);
      expect(part.includes(0)).toBe(false);
    } finally {
      c.close();
    }
  });
});

describe('pipelined FETCH', () => {
  it('answers pipelined BODY.PEEK[] commands exactly as the same commands sent one at a time', async () => {
    const uids = [3, 1, 4, 1, 9, 2, 6, 5, 10, 8, 7, 9, 99, 2, 3];
    const cmds = uids.map((u, i) => `p${i} UID FETCH ${u} (UID RFC822.SIZE BODY.PEEK[])\r\n`);
    const one = await Raw.open();
    const piped = await Raw.open();
    try {
      const sequential: Buffer[] = [];
      for (let i = 0; i < cmds.length; i++) sequential.push(await one.send(cmds[i], `p${i}`));
      const all = await piped.send(cmds.join(''), `p${cmds.length - 1}`);
      expect(all.equals(Buffer.concat(sequential))).toBe(true);
      // plain FETCH by sequence number and RFC822 too, mixed with other commands
      const mixed = ['m0 FETCH 2 (BODY.PEEK[])\r\n', 'm1 NOOP\r\n', 'm2 FETCH 4 (RFC822.SIZE BODY.PEEK[]<0.20>)\r\n', 'm3 FETCH 4 (BODY.PEEK[])\r\n', 'm4 UID FETCH 1:3 (BODY.PEEK[])\r\n'];
      const seq2: Buffer[] = [];
      for (let i = 0; i < mixed.length; i++) seq2.push(await one.send(mixed[i], `m${i}`));
      const all2 = await piped.send(mixed.join(''), `m${mixed.length - 1}`);
      expect(all2.toString('latin1')).toBe(Buffer.concat(seq2).toString('latin1'));
    } finally {
      one.close();
      piped.close();
    }
  });
});

describe('whole-message items', () => {
  it('sends two whole-message items of one FETCH (BODY[] and RFC822) with the same bytes', async () => {
    const c = await Raw.open();
    try {
      for (let uid = 1; uid <= FILES.length; uid++) {
        const [name, file] = FILES[uid - 1];
        const resp = await c.send(`w UID FETCH ${uid} (BODY.PEEK[] RFC822.SIZE RFC822 BODY.PEEK[]<0.7>)\r\n`, 'w');
        const body = literalOf(resp, 'BODY[]');
        expect(body.equals(imapForm(file)), name).toBe(true);
        expect(literalOf(resp, 'RFC822').equals(body), name).toBe(true);
        expect(literalOf(resp, 'BODY[]<0>').equals(body.subarray(0, 7)), name).toBe(true);
        expect(resp.toString('latin1'), name).toMatch(new RegExp(`RFC822\\.SIZE ${body.length}[ )]`));
      }
    } finally {
      c.close();
    }
  });
});

describe('output under back-pressure and concurrency', () => {
  // Every file, and mostly the 40 KB one: ~15 MB that passes through the shared output buffer,
  // more than the kernel's socket buffers hold while the client does not read.
  const medium = FILES.findIndex(([n]) => n === 'medium') + 1;
  const medium2 = FILES.findIndex(([n]) => n === 'medium2') + 1;
  const uids = [...FILES.map((_, i) => i + 1), ...Array.from({ length: 400 }, (_, i) => (i % 2 ? medium2 : medium))];
  const cmds = uids.map((u, i) => `q${i} UID FETCH ${u} (UID BODY.PEEK[])\r\n`);

  it('gives a client that stops reading for a while exactly the bytes an eager client gets', async () => {
    const eager = await Raw.open();
    const slow = await Raw.open();
    try {
      const want = await eager.send(cmds.join(''), `q${cmds.length - 1}`);
      slow.reading(false);
      slow.write(cmds.join(''));
      await new Promise((r) => setTimeout(r, 400));
      slow.reading(true);
      const got = await slow.wait(`q${cmds.length - 1}`);
      expect(got.length).toBe(want.length);
      expect(got.equals(want)).toBe(true);
    } finally {
      eager.close();
      slow.close();
    }
  });

  it('gives clients fetching at the same time each their own bytes', async () => {
    const ref = await Raw.open();
    const clients = await Promise.all([Raw.open(), Raw.open(), Raw.open()]);
    try {
      const want = await ref.send(cmds.join(''), `q${cmds.length - 1}`);
      const got = await Promise.all(clients.map((c) => c.send(cmds.join(''), `q${cmds.length - 1}`)));
      for (const g of got) expect(g.equals(want)).toBe(true);
    } finally {
      ref.close();
      for (const c of clients) c.close();
    }
  });
});

describe('FETCH from parsed info in memory', () => {
  it('renders the same bytes as the first (cold) FETCH', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'roost-fastpath-cold-'));
    const md = path.join(dir, 'brokkr.net', 'fast', 'maildir');
    for (const d of ['tmp', 'new', 'cur']) await mkdir(path.join(md, d), { recursive: true });
    let t = 1700000000;
    for (const [name, data] of FILES) await writeFile(path.join(md, 'new', `${t++}.M1P1.${name}`), data);
    const server = await startRoost({ vmail: dir, password: PW });
    const saved = roost;
    roost = server;
    const c = await Raw.open();
    try {
      const cmd = 'UID FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE ENVELOPE BODYSTRUCTURE BODY BODY.PEEK[HEADER.FIELDS (From Subject Content-Type)] BODY.PEEK[HEADER.FIELDS.NOT (From)] BODY.PEEK[1.MIME])';
      const cold = await c.send(`a ${cmd}\r\n`, 'a');
      const warm = await c.send(`a ${cmd}\r\n`, 'a');
      expect(warm.toString('latin1')).toBe(cold.toString('latin1'));
      expect(cold.toString('latin1').match(/ENVELOPE \(/g)?.length).toBe(FILES.length);
    } finally {
      c.close();
      roost = saved;
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
