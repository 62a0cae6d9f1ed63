// FETCH fast paths against a real server, byte for byte:
//  - BODY[] without MIME structure (file -> CRLF, NUL -> 0x80) equals BODY[HEADER] + BODY[TEXT]
//    (which go through the structure) for LF, CRLF, mixed, NUL, lone-CR and unterminated files;
//  - pipelined BODY.PEEK[] commands (served with read-ahead and batched output) answer exactly
//    what the same commands sent one at a time answer;
//  - whole-message partials convert NULs like full BODY[] does;
//  - a FETCH rendered from parsed info already in memory equals the first, cold one.
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
];

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
  private data = Buffer.alloc(0);
  private wake: (() => void) | null = null;
  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.data = Buffer.concat([this.data, d]);
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
    const deadline = Date.now() + 10_000;
    for (;;) {
      const text = this.data.toString('latin1');
      const at = text.startsWith(`${marker} `) ? 0 : text.indexOf(`\r\n${marker} `) + 2;
      const end = at >= 0 && at !== 1 ? text.indexOf('\r\n', at) : -1;
      if (end >= 0) {
        const out = this.data.subarray(0, end + 2);
        this.data = this.data.subarray(end + 2);
        return out;
      }
      if (Date.now() > deadline) throw new Error(`timeout waiting for ${marker}: ${text.slice(-300)}`);
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
