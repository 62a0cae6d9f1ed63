// What the maildir backend does not do: SELECT reads no message file (sizes and dates are
// found out when asked for, or in bulk by prefetch()), a mailbox is kept loaded between
// sessions (and reloaded when its files were replaced), parsed infos are served from memory,
// and Roost's own consecutive changes do not wait for the clock.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { openMailStore } from '../../electron/server/storage/index.js';
import type { MailboxView, MailStore } from '../../electron/server/storage/types.js';
import { measureFile, messageFileAccess, parseMessageFile, virtualSize } from '../../electron/server/storage/maildir/messagefile.js';
import { parseStructure } from '../../electron/server/mime/structure.js';
import { unloadIdleMailboxes } from '../../electron/server/storage/maildir/mailbox.js';
import { takeDotlock } from '../../electron/server/storage/maildir/dotlock.js';
import { FsContext } from '../../electron/server/storage/maildir/fsutil.js';
import { ensureKeywords, readKeywords } from '../../electron/server/storage/maildir/keywords.js';

let tmp: string;
let root: string;
const views: MailboxView[] = [];

function newStore(): MailStore {
  return openMailStore({ user: 'alice@brokkr.net', root, lockTimeoutMs: 2000 });
}

async function open(store: MailStore, name = 'INBOX', readOnly = false): Promise<MailboxView> {
  const v = await store.open(name, { readOnly });
  views.push(v);
  return v;
}

async function closeAll(): Promise<void> {
  for (const v of views.splice(0)) await v.close();
}

function accesses(): { opens: number; stats: number } {
  return { ...messageFileAccess };
}

beforeEach(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'roost-maildir-lazy-'));
  root = path.join(tmp, 'maildir');
});

afterEach(async () => {
  await closeAll();
  await unloadIdleMailboxes();
  await fs.rm(tmp, { recursive: true, force: true });
});

/** A maildir as Postfix and an old MUA left it: names without ,S=/W=, contents that are not mail. */
async function junkMaildir(): Promise<{ name: string; dir: 'new' | 'cur'; data: Buffer; mtime: number; letters: string }[]> {
  for (const d of ['cur', 'new', 'tmp']) await fs.mkdir(path.join(root, d), { recursive: true });
  const files: { name: string; dir: 'new' | 'cur'; data: Buffer; mtime: number; letters: string }[] = [];
  const letterSets = ['S', 'FS', '', 'RS', 'T', 'DS'];
  for (let i = 0; i < 12; i++) {
    const letters = letterSets[i % letterSets.length];
    files.push({ name: `${1600000000 + i}.M${i}P2.old:2,${letters}`, dir: 'cur', data: crypto.randomBytes(50 + i * 37), mtime: Date.UTC(2020, 0, 1 + i), letters });
  }
  for (let i = 0; i < 30; i++) {
    // Random bytes with bare LFs and CRLFs in them: no header, no body, sizes still exact.
    const data = Buffer.concat([crypto.randomBytes(20 + i * 11), Buffer.from('\n\r\n\n'), crypto.randomBytes(i)]);
    files.push({ name: `${1700000000 + i}.M${i}P1.mx`, dir: 'new', data, mtime: Date.UTC(2023, 5, 1 + (i % 28), i), letters: '' });
  }
  for (const f of files) {
    const file = path.join(root, f.dir, f.name);
    await fs.writeFile(file, f.data);
    await fs.utimes(file, new Date(), new Date(f.mtime));
  }
  return files;
}

const FLAG: Record<string, string> = { D: '\\Draft', F: '\\Flagged', R: '\\Answered', S: '\\Seen', T: '\\Deleted' };

describe('SELECT reads no message file', () => {
  it('lists flags of files that are not readable as messages, and finds sizes and dates only when asked', async () => {
    const files = await junkMaildir();
    const store = newStore();
    await store.ensure();
    const before = accesses();
    const v = await open(store);
    // Not one message file opened or stat()ed to load the index (and move new/ to cur/).
    expect(accesses()).toEqual(before);
    expect(await fs.readdir(path.join(root, 'new'))).toEqual([]);
    // Uids in Dovecot's order (the cur/ files are older), flags from the names.
    expect(v.messages().map((m) => [m.uid, m.filename.split(':')[0], m.flags])).toEqual(
      files.map((f, i) => [i + 1, f.name.split(':')[0], [...f.letters].map((l) => FLAG[l]).sort()]),
    );
    // Asked for, sizes and dates are exact: CRLF sizes, and the files' mtimes.
    expect(v.messages().map((m) => m.size)).toEqual(files.map((f) => virtualSize(f.data)));
    expect(v.messages().map((m) => m.internalDate)).toEqual(files.map((f) => f.mtime));
    const after = accesses();
    expect(after.opens - before.opens).toBe(files.length);
    // Found out once: reading them again touches nothing.
    expect(v.messages().map((m) => m.size)).toEqual(files.map((f) => virtualSize(f.data)));
    expect(v.messages().map((m) => m.internalDate)).toEqual(files.map((f) => f.mtime));
    expect(accesses()).toEqual(after);
  });

  it('prefetch() finds sizes and dates in parallel; the cache keeps them for the next load', async () => {
    const files = await junkMaildir();
    const store = newStore();
    await store.ensure();
    let v = await open(store);
    await v.prefetch!(v.messages().map((m) => m.uid));
    const fetched = accesses();
    expect(v.messages().map((m) => [m.size, m.internalDate])).toEqual(files.map((f) => [virtualSize(f.data), f.mtime]));
    expect(accesses()).toEqual(fetched);
    // Again: nothing left to find out.
    await v.prefetch!(v.messages().map((m) => m.uid));
    expect(accesses()).toEqual(fetched);
    // Unknown uids are ignored.
    await v.prefetch!([9999]);

    // A fresh load (nothing kept in memory) gets them from roost.cache, still without file access.
    await closeAll();
    await unloadIdleMailboxes();
    v = await open(newStore());
    expect(v.messages().map((m) => [m.size, m.internalDate])).toEqual(files.map((f) => [virtualSize(f.data), f.mtime]));
    expect(accesses()).toEqual(fetched);
  });

  it('answers 0 (and no exception) for a file that vanished before its size was asked for', async () => {
    await junkMaildir();
    const store = newStore();
    await store.ensure();
    const v = await open(store);
    const victim = v.messages()[3];
    await fs.unlink(path.join(root, victim.dir, victim.filename));
    expect(victim.size).toBe(0);
    expect(victim.internalDate).toBe(0);
    await v.prefetch!([victim.uid]);
    const expunged: number[] = [];
    v.onChange((c) => {
      if (c.kind === 'expunged') expunged.push(...c.uids);
    });
    await v.sync();
    expect(expunged).toEqual([victim.uid]);
  });
});

describe('reading message files in chunks', () => {
  it('parses and measures big files (header and body over the read buffer) exactly like an in-memory parse', async () => {
    await fs.mkdir(root, { recursive: true });
    const longHeader = Array.from({ length: 1500 }, (_, i) => `X-Trace-${i}: ${'t'.repeat(40 + (i % 17))}\n`).join('');
    const part = (n: number) => `--b0\nContent-Type: text/plain; charset=utf-8\n\n${`line ${n} `.repeat(9000)}\r\n`;
    const messages = [
      `Subject: big header\n${longHeader}Content-Type: multipart/mixed; boundary=b0\n\n${part(1)}${part(2)}--b0--\n`,
      `Subject: crlf\r\nContent-Type: multipart/alternative; boundary=b0\r\n\r\n${part(3)}${part(4)}${part(5)}--b0--\r\n`,
      `Subject: no body at all, and no empty line\n${longHeader}`,
    ];
    // Several at once, as the IMAP layer's read-ahead does, so read buffers are shared around.
    const results = await Promise.all(
      messages.map(async (text, i) => {
        const file = path.join(root, `m${i}`);
        await fs.writeFile(file, text);
        return { text, parsed: await parseMessageFile(file), measured: await measureFile(file) };
      }),
    );
    for (const { text, parsed, measured } of results) {
      const data = Buffer.from(text);
      const end = text.search(/\r?\n\r?\n/);
      const headerEnd = end < 0 ? data.length : Buffer.byteLength(text.slice(0, end + (text[end] === '\r' ? 2 : 1)));
      expect(parsed.header.equals(data.subarray(0, headerEnd))).toBe(true);
      expect(parsed.structure).toEqual(parseStructure(data));
      expect(parsed.physicalSize).toBe(data.length);
      expect(parsed.facts.vsize).toBe(virtualSize(data));
      expect(measured).toEqual({ size: data.length, vsize: virtualSize(data) });
    }
  });
});

describe('parsed infos in memory', () => {
  it('infoCached() answers synchronously once info() has loaded or parsed them', async () => {
    const store = newStore();
    await store.ensure();
    const subjects = ['one', 'two', 'three', 'four'];
    await store.append('INBOX', subjects.map((s) => ({ data: Buffer.from(`Subject: ${s}\r\nFrom: a@b.c\r\n\r\nbody ${s}\r\n`) })));
    let v = await open(store);
    expect(v.infoCached!(1)).toBeUndefined();
    const info = await v.info(1);
    expect(v.infoCached!(1)).toBe(info);
    for (const uid of [2, 3, 4]) await v.info(uid);

    // Next load: the first info() reads the whole cache; the others are then in memory.
    await closeAll();
    await unloadIdleMailboxes();
    v = await open(newStore());
    const before = accesses();
    expect(v.infoCached!(3)).toBeUndefined();
    expect((await v.info(1)).header.toString()).toBe('Subject: one\nFrom: a@b.c\n');
    for (const [i, s] of subjects.entries()) expect(v.infoCached!(i + 1)?.header.toString()).toBe(`Subject: ${s}\nFrom: a@b.c\n`);
    expect(v.infoCached!(3)?.structure.type).toBe('text');
    expect(accesses()).toEqual(before); // served from roost.cache.data, not the message files
    expect(v.infoCached!(99)).toBeUndefined();
  });
});

describe('a mailbox kept loaded between sessions', () => {
  it('is loaded again when its uidlist was replaced meanwhile', async () => {
    const store = newStore();
    await store.ensure();
    await store.append('INBOX', [{ data: Buffer.from('Subject: a\r\n\r\na\r\n') }, { data: Buffer.from('Subject: b\r\n\r\nb\r\n') }]);
    let v = await open(store);
    const bases = v.messages().map((m) => m.filename.split(':')[0]);
    await closeAll();
    // "Dovecot" recreates the uidlist (new UIDVALIDITY, other uids) while nobody has INBOX open.
    await fs.writeFile(path.join(root, 'dovecot-uidlist'), `3 V4242 N10 G0123456789abcdef0123456789abcdef\n7 :${bases[0]}\n9 :${bases[1]}\n`);
    v = await open(newStore());
    expect(v.uidValidity).toBe(4242);
    expect(v.messages().map((m) => m.uid)).toEqual([7, 9]);
    expect(v.uidNext()).toBe(10);
  });

  it('sees deliveries and flag changes made while it was not in use', async () => {
    const store = newStore();
    await store.ensure();
    await store.append('INBOX', [{ data: Buffer.from('Subject: a\r\n\r\na\r\n') }]);
    let v = await open(store);
    const [m] = v.messages();
    await closeAll();
    await fs.rename(path.join(root, 'cur', m.filename), path.join(root, 'cur', m.filename + 'F'));
    await fs.writeFile(path.join(root, 'new', '1800000000.M1P1.mx'), 'Subject: new\n\nx\n');
    v = await open(newStore());
    expect(v.messages().map((x) => [x.uid, x.flags])).toEqual([
      [1, ['\\Flagged']],
      [2, []],
    ]);
    expect(v.isRecent(2)).toBe(true);
  });
});

describe('a maildir deleted while its index is loaded', () => {
  // The cache's timers (roost.cache flush, roost.cache.recent) fire after the user's maildir
  // was removed: they must not put files back, or `rm -r` of the user fails with ENOTEMPTY.
  for (const how of ['whole directory', 'contents only (rm -r half-way)'] as const) {
    it(`writes nothing into it afterwards (${how})`, async () => {
      await junkMaildir();
      const store = newStore();
      await store.ensure();
      const v = await open(store);
      // Sizes found out now are queued for roost.cache (flush timer); the SELECT queued the \Recent state (recent timer).
      expect(v.messages().every((m) => m.size > 0)).toBe(true);
      if (how === 'whole directory') {
        await fs.rm(root, { recursive: true, force: true });
      } else {
        for (const name of await fs.readdir(root)) await fs.rm(path.join(root, name), { recursive: true, force: true });
      }
      await new Promise((resolve) => setTimeout(resolve, 600));
      if (how === 'whole directory') {
        await expect(fs.stat(root)).rejects.toThrow();
      } else {
        expect(await fs.readdir(root)).toEqual([]);
        await fs.rmdir(root);
      }
      await closeAll();
      await expect(fs.stat(root)).rejects.toThrow();
    });
  }
});

describe('locks and keywords', () => {
  const fsx = new FsContext(undefined, () => {}, 2000);

  it('a lingering dotlock is taken over at once by its owner; anyone else waits until it ends', async () => {
    await fs.mkdir(root, { recursive: true });
    const file = path.join(root, 'dovecot-uidlist');
    const lock = await takeDotlock(file, fsx);
    const { ino } = await fs.stat(file + '.lock');
    await lock.release({ lingerUntil: Date.now() + 150 });
    // Still there for other processes.
    expect((await fs.stat(file + '.lock')).ino).toBe(ino);
    const again = await takeDotlock(file, fsx, { reuseLingering: true });
    expect((await fs.stat(file + '.lock')).ino).toBe(ino);
    await again.release({ lingerUntil: Date.now() + 150 });
    const start = Date.now();
    const other = await takeDotlock(file, fsx);
    expect(Date.now() - start).toBeGreaterThanOrEqual(100);
    await other.release();
    await expect(fs.stat(file + '.lock')).rejects.toThrow();
  });

  it('makes the mtime of dovecot-keywords grow in whole seconds, as Dovecot needs to notice the change', async () => {
    await fs.mkdir(root, { recursive: true });
    const file = path.join(root, 'dovecot-keywords');
    await fs.writeFile(file, '0 $Forwarded\n');
    // Dovecot may have pushed the mtime a second ahead of the clock itself.
    const ahead = (Math.floor(Date.now() / 1000) + 1) * 1000;
    await fs.utimes(file, new Date(), new Date(ahead));
    const state = await ensureKeywords(root, fsx, ['Junk'], await readKeywords(root));
    expect(state.names).toEqual(['$Forwarded', 'Junk']);
    expect(Math.floor((await fs.stat(file)).mtimeMs / 1000)).toBeGreaterThan(ahead / 1000);
  });
});

describe('the cache format', () => {
  it('ignores a cache of the previous format and writes the current one', async () => {
    const store = newStore();
    await store.ensure();
    await store.append('INBOX', [{ data: Buffer.from('Subject: a\r\n\r\na\r\n') }]);
    let v = await open(store);
    await v.info(1);
    const uidValidity = v.uidValidity;
    await closeAll();
    await unloadIdleMailboxes();
    await fs.writeFile(path.join(root, 'roost.cache'), `H\troost-cache\t1\t${uidValidity}\tabc\t${root}\nM\t1\t0\t999\tnothing\n`);
    v = await open(newStore());
    expect(v.messages()[0].size).toBe(virtualSize(Buffer.from('Subject: a\n\na\n')));
    expect((await fs.readFile(path.join(root, 'roost.cache'), 'utf8')).split('\t').slice(0, 3)).toEqual(['H', 'roost-cache', '2']);
  });
});

describe('reading a whole message without a promise (FETCH BODY[] of small messages)', () => {
  it('reads the file synchronously, and leaves a file renamed by another program, or too big for the buffer, to read()', async () => {
    for (const d of ['cur', 'new', 'tmp']) await fs.mkdir(path.join(root, d), { recursive: true });
    const data = Buffer.from('From: a@b.c\nSubject: whole\n\nbody line\n');
    await fs.writeFile(path.join(root, 'cur', '1700000000.M1P1.host:2,'), data);
    const view = (await open(newStore())) as MailboxView & { readWholeSync(uid: number, into: Buffer): Buffer | undefined };
    const into = Buffer.alloc(4096);
    expect(view.readWholeSync(1, into)?.equals(data)).toBe(true);
    // Too big for the buffer: the caller must use read().
    expect(view.readWholeSync(1, Buffer.alloc(8))).toBeUndefined();
    // Another program marks it \Seen (renames the file) and the index has not synced yet.
    await fs.rename(path.join(root, 'cur', '1700000000.M1P1.host:2,'), path.join(root, 'cur', '1700000000.M1P1.host:2,S'));
    expect(view.readWholeSync(1, into)).toBeUndefined();
    expect((await view.read(1)).equals(data)).toBe(true);
    // A uid that does not exist is reported like read() reports it.
    expect(() => view.readWholeSync(99, into)).toThrow(/expunged/);
  });
});
