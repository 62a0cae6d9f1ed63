// The maildir MailStore against a real file system: folders, subscriptions, APPEND, views,
// flags, expunge, COPY/MOVE, changes made by other processes, \Recent, the cache.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { openMailStore } from '../../electron/server/storage/index.js';
import type { MailboxChange, MailboxView, MailStore } from '../../electron/server/storage/types.js';
import { StorageError } from '../../electron/server/storage/types.js';

let tmp: string;
let root: string;
let logs: string[];
const views: MailboxView[] = [];

function newStore(extra: { cacheDir?: string; owner?: { uid: number; gid: number } } = {}): MailStore {
  return openMailStore({
    user: 'alice@brokkr.net',
    root,
    log: (level, message) => logs.push(`${level}: ${message}`),
    lockTimeoutMs: 500,
    ...extra,
  } as Parameters<typeof openMailStore>[0]);
}

async function open(store: MailStore, name: string, readOnly = false): Promise<MailboxView> {
  const v = await store.open(name, { readOnly });
  views.push(v);
  return v;
}

function record(view: MailboxView): MailboxChange[] {
  const changes: MailboxChange[] = [];
  view.onChange((c) => changes.push(c));
  return changes;
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof StorageError)) throw new Error(`expected a StorageError, got ${String(err)}`);
  return err.code;
}

const msg = (subject: string, body = 'hello') => Buffer.from(`Subject: ${subject}\r\nFrom: a@b.c\r\n\r\n${body}\r\n`);

async function ls(dir: string): Promise<string[]> {
  return (await fs.readdir(dir)).sort();
}

beforeEach(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'roost-maildir-store-'));
  root = path.join(tmp, 'vmail', 'brokkr.net', 'alice', 'maildir');
  logs = [];
});

afterEach(async () => {
  for (const v of views.splice(0)) await v.close();
  await fs.rm(tmp, { recursive: true, force: true });
});

describe('ensure, folders and subscriptions', () => {
  it('creates INBOX and the auto folders (Dovecot auto=create), subscribed only with autoSubscribe', async () => {
    const store = newStore();
    await store.ensure();
    expect(await ls(root)).toEqual(expect.arrayContaining(['.Drafts', '.Junk', '.Sent', '.Trash', 'cur', 'new', 'tmp', 'dovecot-uidlist']));
    const uidlist = await fs.readFile(path.join(root, 'dovecot-uidlist'), 'utf8');
    const m = /^3 V(\d+) N1 G[0-9a-f]{32}\n$/.exec(uidlist);
    expect(m).not.toBeNull();
    expect(Math.abs(Number(m![1]) - Date.now() / 1000)).toBeLessThan(10);
    expect((await ls(path.join(root, '.Sent'))).filter((n) => !n.startsWith('roost.'))).toEqual([
      'cur',
      'dovecot-uidlist',
      'maildirfolder',
      'new',
      'tmp',
    ]);
    expect(await store.subscriptions()).toEqual([]);
    expect(await ls(root)).not.toContain('subscriptions');
    expect(await store.list()).toEqual([
      { name: 'INBOX', hasChildren: false },
      { name: 'Drafts', hasChildren: false, specialUse: '\\Drafts' },
      { name: 'Junk', hasChildren: false, specialUse: '\\Junk' },
      { name: 'Sent', hasChildren: false, specialUse: '\\Sent' },
      { name: 'Trash', hasChildren: false, specialUse: '\\Trash' },
    ]);
    // A deleted auto folder comes back at the next login.
    await store.delete('Junk');
    await newStore().ensure();
    expect((await store.list()).map((e) => e.name)).toContain('Junk');

    // auto = subscribe: Dovecot writes the folders it creates into `subscriptions` (INBOX not).
    await fs.rm(root, { recursive: true });
    const subscribing = openMailStore({ user: 'alice@brokkr.net', root, autoSubscribe: true, lockTimeoutMs: 500 });
    await subscribing.ensure();
    expect(await fs.readFile(path.join(root, 'subscriptions'), 'utf8')).toBe('V\t2\n\nDrafts\nJunk\nTrash\nSent\n');
    // An unsubscribed auto folder stays unsubscribed; a deleted one comes back subscribed once.
    await subscribing.unsubscribe('Trash');
    await subscribing.delete('Junk');
    await subscribing.ensure();
    expect(await subscribing.subscriptions()).toEqual(['Drafts', 'Junk', 'Sent']);
  });

  it('a read-only look never recreates the directories of a maildir being deleted (only a read-write SELECT repairs)', async () => {
    const store = newStore();
    await store.ensure();
    const trash = path.join(root, '.Trash');
    // As while `rm -r` runs: the folder is still there, its subdirectories are gone.
    for (const sub of ['cur', 'new', 'tmp', 'maildirfolder']) await fs.rm(path.join(trash, sub), { recursive: true, force: true });
    const before = await ls(trash);
    expect(before).not.toContain('cur');
    expect(await codeOf(store.open('Trash', { readOnly: true }))).toBe('NONEXISTENT');
    expect(await ls(trash)).toEqual(before);
    const v = await open(store, 'Trash');
    expect(v.readOnly).toBe(false);
    expect(await ls(trash)).toEqual(expect.arrayContaining(['cur', 'new', 'tmp', 'maildirfolder']));
  });

  it('creates, deletes and renames folders as Dovecot does', async () => {
    const store = newStore();
    await store.ensure();
    await store.create('a.b.c');
    await store.create('Käse');
    expect(await ls(root)).toEqual(expect.arrayContaining(['.a.b.c', '.K&AOQ-se']));
    expect(await ls(root)).not.toContain('.a');
    const list = await store.list();
    expect(list.find((e) => e.name === 'a')).toEqual({ name: 'a', hasChildren: true, noSelect: true });
    expect(list.find((e) => e.name === 'Käse')).toEqual({ name: 'Käse', hasChildren: false });

    expect(await codeOf(store.create('a.b.c'))).toBe('ALREADYEXISTS');
    expect(await codeOf(store.create('inbox'))).toBe('ALREADYEXISTS');
    expect(await codeOf(store.create('a/b'))).toBe('CANNOT');
    expect(await codeOf(store.delete('INBOX'))).toBe('NOPERM');
    expect(await codeOf(store.delete('a'))).toBe('NONEXISTENT');
    expect(await codeOf(store.delete('nothere'))).toBe('NONEXISTENT');

    // RENAME moves children; a \Noselect parent can be renamed (its children move).
    await store.create('a');
    await store.rename('a', 'z');
    expect((await store.list()).map((e) => e.name)).toEqual(expect.arrayContaining(['z', 'z.b', 'z.b.c']));
    expect(await ls(root)).toEqual(expect.arrayContaining(['.z', '.z.b.c']));
    await store.rename('z.b', 'y');
    expect(await ls(root)).toContain('.y.c');
    expect(await codeOf(store.rename('z', 'z.sub'))).toBe('CANNOT');
    expect(await codeOf(store.rename('z', 'Sent'))).toBe('ALREADYEXISTS');
    expect(await codeOf(store.rename('nothere', 'x'))).toBe('NONEXISTENT');

    // DELETE with children removes only the folder's own directory.
    await store.create('p.q');
    await store.create('p.q.r');
    await store.delete('p.q');
    const after = await store.list();
    expect(after.find((e) => e.name === 'p.q')).toEqual({ name: 'p.q', hasChildren: true, noSelect: true });
    expect(after.find((e) => e.name === 'p.q.r')).toBeTruthy();
    expect((await ls(root)).filter((n) => n.startsWith('..'))).toEqual([]);
  });

  it('subscribes only existing mailboxes and keeps subscriptions on rename', async () => {
    const store = newStore();
    await store.ensure();
    expect(await codeOf(store.subscribe('nothere'))).toBe('NONEXISTENT');
    await store.create('x.y');
    await store.subscribe('x.y');
    await store.subscribe('x.y');
    await store.unsubscribe('never');
    await store.rename('x.y', 'w');
    expect(await store.subscriptions()).toEqual(['x.y']);
    expect(await fs.readFile(path.join(root, 'subscriptions'), 'utf8')).toContain('\nx\ty\n');
  });
});

describe('append and views', () => {
  it('stores LF files named <base>,S=,W=:2,<flags> with mtime = INTERNALDATE', async () => {
    const store = newStore();
    await store.ensure();
    const date = Date.UTC(2020, 0, 1, 10, 0, 0);
    const res = await store.append('INBOX', [
      { data: msg('one'), flags: ['\\Seen', '$Forwarded', 'Junk'], internalDate: date },
      { data: msg('two') },
      { data: msg('three'), flags: ['\\Deleted', '\\flagged', '\\Answered', '\\Draft', '\\Recent'] },
    ]);
    expect(res.uids).toEqual([1, 2, 3]);
    const uidlist = await fs.readFile(path.join(root, 'dovecot-uidlist'), 'utf8');
    expect(res.uidValidity).toBe(Number(/V(\d+)/.exec(uidlist)![1]));
    const cur = await ls(path.join(root, 'cur'));
    const size = msg('one').length;
    const lf = size - 4;
    expect(cur).toHaveLength(3);
    for (const name of cur) expect(name).toMatch(new RegExp(`^\\d+\\.M\\d+P${process.pid}\\.[^,]+,S=\\d+,W=\\d+:2,(Sab|DFRT|)$`));
    const first = cur.find((n) => n.endsWith(':2,Sab'))!;
    expect(first).toContain(`,S=${lf},W=${size}:`);
    expect((await fs.readFile(path.join(root, 'cur', first))).toString()).toBe('Subject: one\nFrom: a@b.c\n\nhello\n');
    expect((await fs.stat(path.join(root, 'cur', first))).mtimeMs).toBe(date);
    expect(await fs.readFile(path.join(root, 'dovecot-keywords'), 'utf8')).toBe('0 $Forwarded\n1 Junk\n');
    expect(uidlist.split('\n').slice(1, 4).map((l) => l.replace(/ :.*/, ''))).toEqual(['1', '2', '3']);
    expect(await ls(path.join(root, 'tmp'))).toEqual([]);

    const v = await open(store, 'INBOX');
    expect(v.uidValidity).toBe(res.uidValidity);
    expect(v.uidNext()).toBe(4);
    expect(v.keywords()).toEqual(['$Forwarded', 'Junk']);
    expect(v.messages().map((m) => [m.uid, m.flags, m.size])).toEqual([
      [1, ['$Forwarded', 'Junk', '\\Seen'], size],
      [2, [], msg('two').length],
      [3, ['\\Answered', '\\Deleted', '\\Draft', '\\Flagged'], msg('three').length],
    ]);
    expect(v.messages()[0].internalDate).toBe(date);

    expect(await codeOf(store.append('Nope', [{ data: msg('x') }]))).toBe('TRYCREATE');
    expect(await codeOf(store.append('INBOX', [{ data: msg('x'), flags: ['\\Bogus'] }]))).toBe('CANNOT');
  });

  it('reads parsed info and byte ranges, following renames by other processes', async () => {
    const store = newStore();
    await store.ensure();
    await store.append('INBOX', [{ data: msg('parse me', 'body line') }]);
    const v = await open(store, 'INBOX');
    const info = await v.info(1);
    expect(info.header.toString()).toBe('Subject: parse me\nFrom: a@b.c\n');
    expect(info.structure).toMatchObject({ type: 'text', subtype: 'plain', headerStart: 0 });
    expect(info.physicalSize).toBe(msg('parse me', 'body line').length - 4);
    expect((await v.read(1, 0, 7)).toString()).toBe('Subject');
    expect((await v.read(1)).toString()).toContain('body line');
    // Another process renames the file (flag change): reads still work.
    const [name] = await ls(path.join(root, 'cur'));
    await fs.rename(path.join(root, 'cur', name), path.join(root, 'cur', name.replace(/:2,.*$/, ':2,S')));
    expect((await v.read(1, 9, 17)).toString()).toBe('parse me');
    await fs.unlink(path.join(root, 'cur', name.replace(/:2,.*$/, ':2,S')));
    expect(await codeOf(v.read(1))).toBe('EXPUNGEISSUED');
    expect(await codeOf(v.info(99))).toBe('EXPUNGEISSUED');
  });
});

describe('flags and expunge', () => {
  it('renames files on STORE and tells every view', async () => {
    const store = newStore();
    await store.ensure();
    await store.append('INBOX', [{ data: msg('a') }, { data: msg('b') }]);
    const v1 = await open(store, 'INBOX');
    const v2 = await open(newStore(), 'INBOX'); // another login, same maildir: shared index
    const c1 = record(v1);
    const c2 = record(v2);
    const res = await v1.store([1, 2], 'add', ['\\Seen', 'Work']);
    expect([...res]).toEqual([
      [1, ['Work', '\\Seen']],
      [2, ['Work', '\\Seen']],
    ]);
    expect((await ls(path.join(root, 'cur'))).every((n) => n.endsWith(':2,Sa'))).toBe(true);
    expect(c2).toEqual([
      { kind: 'flags', uid: 1, flags: ['Work', '\\Seen'] },
      { kind: 'flags', uid: 2, flags: ['Work', '\\Seen'] },
    ]);
    expect(c1).toEqual(c2);
    expect(v2.messages()[0].flags).toEqual(['Work', '\\Seen']);
    await v2.store([1], 'remove', ['work']);
    await v2.store([2], 'set', ['\\Flagged']);
    expect(v1.messages().map((m) => m.flags)).toEqual([['\\Seen'], ['\\Flagged']]);

    const ro = await open(store, 'INBOX', true);
    expect(await codeOf(ro.store([1], 'add', ['\\Seen']))).toBe('CANNOT');
    expect(await codeOf(ro.expunge())).toBe('CANNOT');
  });

  it('never loses concurrent flag changes', async () => {
    const store = newStore();
    await store.ensure();
    await store.append('INBOX', [{ data: msg('a') }]);
    const v1 = await open(store, 'INBOX');
    const v2 = await open(newStore(), 'INBOX');
    await Promise.all([
      v1.store([1], 'add', ['\\Seen']),
      v2.store([1], 'add', ['\\Flagged']),
      v1.store([1], 'add', ['k1']),
      v2.store([1], 'add', ['k2']),
    ]);
    expect(v1.messages()[0].flags).toEqual(['\\Flagged', '\\Seen', 'k1', 'k2']);
    expect(await ls(path.join(root, 'cur'))).toEqual([expect.stringMatching(/:2,FSab$/)]);
  });

  it('applies STORE on top of a rename by another process', async () => {
    const store = newStore();
    await store.ensure();
    await store.append('INBOX', [{ data: msg('a') }]);
    const v = await open(store, 'INBOX');
    const changes = record(v);
    const [name] = await ls(path.join(root, 'cur'));
    await fs.rename(path.join(root, 'cur', name), path.join(root, 'cur', name.replace(/:2,.*/, ':2,F')));
    await v.store([1], 'add', ['\\Seen']);
    expect(v.messages()[0].flags).toEqual(['\\Flagged', '\\Seen']);
    expect(await ls(path.join(root, 'cur'))).toEqual([name.replace(/:2,.*/, ':2,FS')]);
    expect(changes.at(-1)).toEqual({ kind: 'flags', uid: 1, flags: ['\\Flagged', '\\Seen'] });
  });

  it('refuses the 27th keyword with LIMIT', async () => {
    const store = newStore();
    await store.ensure();
    await store.append('INBOX', [{ data: msg('a') }]);
    const v = await open(store, 'INBOX');
    await v.store([1], 'add', Array.from({ length: 26 }, (_, i) => `kw${i}`));
    expect(v.messages()[0].flags).toHaveLength(26);
    expect(await codeOf(v.store([1], 'add', ['kw26']))).toBe('LIMIT');
    expect(await codeOf(store.append('INBOX', [{ data: msg('b'), flags: ['another'] }]))).toBe('LIMIT');
    expect(v.keywords()).toHaveLength(26);
  });

  it('expunges \\Deleted messages only (optionally a subset)', async () => {
    const store = newStore();
    await store.ensure();
    await store.append('INBOX', [{ data: msg('a') }, { data: msg('b') }, { data: msg('c') }, { data: msg('d') }]);
    const v = await open(store, 'INBOX');
    const other = await open(newStore(), 'INBOX');
    const changes = record(other);
    await v.store([1, 3, 4], 'add', ['\\Deleted']);
    expect(await v.expunge([1, 2, 3])).toEqual([1, 3]);
    expect(changes.filter((c) => c.kind === 'expunged')).toEqual([{ kind: 'expunged', uids: [1, 3] }]);
    expect(await v.expunge()).toEqual([4]);
    expect(other.messages().map((m) => m.uid)).toEqual([2]);
    expect(await ls(path.join(root, 'cur'))).toHaveLength(1);
  });
});

describe('copy and move', () => {
  it('hard-links copies under new names, keeps flags and keywords, returns UIDPLUS pairs', async () => {
    const store = newStore();
    await store.ensure();
    await store.create('Archive');
    await store.append('Archive', [{ data: msg('x'), flags: ['Other'] }]);
    await store.append('INBOX', [{ data: msg('a'), flags: ['\\Seen', 'Work'] }, { data: msg('b') }]);
    const v = await open(store, 'INBOX');
    const dest = await open(store, 'Archive');
    const destChanges = record(dest);
    const res = await v.copyTo([1, 2], 'Archive');
    expect(res.uidValidity).toBe(dest.uidValidity);
    expect(res.pairs).toEqual([
      [1, 2],
      [2, 3],
    ]);
    expect(destChanges).toEqual([{ kind: 'added', messages: [expect.objectContaining({ uid: 2 }), expect.objectContaining({ uid: 3 })] }]);
    expect(dest.messages().map((m) => m.flags)).toEqual([['Other'], ['Work', '\\Seen'], []]);
    // Archive's keyword file got Work as its second keyword: letter b.
    expect(await fs.readFile(path.join(root, '.Archive', 'dovecot-keywords'), 'utf8')).toBe('0 Other\n1 Work\n');
    const srcFile = path.join(root, 'cur', v.messages()[0].filename);
    const dstFile = path.join(root, '.Archive', 'cur', dest.messages()[1].filename);
    expect(dest.messages()[1].filename).toMatch(/:2,Sb$/);
    expect(baseName(dstFile)).not.toBe(baseName(srcFile));
    expect((await fs.stat(dstFile)).ino).toBe((await fs.stat(srcFile)).ino);
    expect(dest.messages()[1].internalDate).toBe(v.messages()[0].internalDate);
    expect(v.messages()).toHaveLength(2);

    expect(await codeOf(v.copyTo([1], 'Nope'))).toBe('TRYCREATE');
    expect(await codeOf(v.copyTo([1, 77], 'Archive'))).toBe('EXPUNGEISSUED');
    expect(dest.messages()).toHaveLength(3);
  });

  it('moves by rename: source expunged, destination added', async () => {
    const store = newStore();
    await store.ensure();
    await store.append('INBOX', [{ data: msg('a'), flags: ['\\Flagged'] }, { data: msg('b') }]);
    const v = await open(store, 'INBOX');
    const changes = record(v);
    const ino = (await fs.stat(path.join(root, 'cur', v.messages()[0].filename))).ino;
    const res = await v.moveTo([1], 'Trash');
    expect(res.pairs).toEqual([[1, 1]]);
    expect(changes).toEqual([{ kind: 'expunged', uids: [1] }]);
    expect(v.messages().map((m) => m.uid)).toEqual([2]);
    const [moved] = await ls(path.join(root, '.Trash', 'cur'));
    expect(moved).toMatch(/:2,F$/);
    expect((await fs.stat(path.join(root, '.Trash', 'cur', moved))).ino).toBe(ino);
    const trash = await open(store, 'Trash');
    expect(trash.messages().map((m) => [m.uid, m.flags])).toEqual([[1, ['\\Flagged']]]);
    expect(await fs.readFile(path.join(root, '.Trash', 'dovecot-uidlist'), 'utf8')).toMatch(/\n1 :[^\n]+,W=\d+\n$/);
  });
});

function baseName(file: string): string {
  return path.basename(file).split(':')[0];
}

describe('changes made by other processes', () => {
  it('picks up deliveries to new/, moves them to cur/ in a read-write sync, and gives \\Recent once', async () => {
    const store = newStore();
    await store.ensure();
    const ro = await open(store, 'INBOX', true);
    const rw = await open(newStore(), 'INBOX');
    const roChanges = record(ro);
    await fs.writeFile(path.join(root, 'new', '1700000001.M1P1.mx'), 'Subject: d1\n\nx\n');
    await fs.writeFile(path.join(root, 'new', '1700000000.M1P1.mx'), 'Subject: d0\n\nx\n');
    await ro.sync();
    // Read-only sync: uids assigned in Dovecot's order, files stay in new/, \Recent waits.
    expect(ro.messages().map((m) => [m.uid, m.filename, m.dir, m.size])).toEqual([
      [1, '1700000000.M1P1.mx', 'new', 18],
      [2, '1700000001.M1P1.mx', 'new', 18],
    ]);
    expect(roChanges).toHaveLength(1);
    expect(await ls(path.join(root, 'new'))).toHaveLength(2);
    expect(rw.isRecent(1)).toBe(true); // the attached read-write view took them
    expect(ro.isRecent(1)).toBe(false);
    await rw.sync();
    expect(await ls(path.join(root, 'new'))).toEqual([]);
    expect(await ls(path.join(root, 'cur'))).toEqual(['1700000000.M1P1.mx:2,', '1700000001.M1P1.mx:2,']);
    expect(rw.messages().map((m) => m.dir)).toEqual(['cur', 'cur']);
    const uidlist = await fs.readFile(path.join(root, 'dovecot-uidlist'), 'utf8');
    expect(uidlist).toContain('\n1 W18 :1700000000.M1P1.mx\n2 W18 :1700000001.M1P1.mx\n');
    // A later view does not get \Recent again, even after everything was closed.
    for (const v of views.splice(0)) await v.close();
    const again = await open(store, 'INBOX');
    expect(again.isRecent(1)).toBe(false);
    await fs.writeFile(path.join(root, 'new', '1700000002.M1P1.mx'), 'Subject: d2\n\nx\n');
    const st = await store.status('INBOX');
    expect(st).toMatchObject({ messages: 3, recent: 1, uidNext: 4, unseen: 3 });
    await again.sync();
    expect(again.isRecent(3)).toBe(true);
  });

  it('gives files found without uids theirs before an APPEND, and \\Recent like a fresh Dovecot index', async () => {
    // A tree copied from elsewhere: message files, no dovecot-uidlist.
    await fs.mkdir(path.join(root, 'cur'), { recursive: true });
    await fs.mkdir(path.join(root, 'new'), { recursive: true });
    await fs.writeFile(path.join(root, 'cur', '1500000001.M1P1.old:2,S'), 'Subject: b\n\nx\n');
    await fs.writeFile(path.join(root, 'cur', '1500000000.M1P1.old:2,'), 'Subject: a\n\nx\n');
    await fs.writeFile(path.join(root, 'new', '1500000002.M1P1.old'), 'Subject: c\n\nx\n');
    const store = newStore();
    await store.ensure();
    expect((await store.append('INBOX', [{ data: msg('appended') }])).uids).toEqual([4]);
    const ro = await open(store, 'INBOX', true);
    expect(ro.messages().map((m) => [m.uid, m.filename.split(':')[0]])).toEqual([
      [1, '1500000000.M1P1.old'],
      [2, '1500000001.M1P1.old'],
      [3, '1500000002.M1P1.old'],
      [4, expect.stringMatching(/,W=\d+$/)],
    ]);
    // Never seen by Roost: all \Recent; EXAMINE shows that without taking it.
    expect(ro.messages().map((m) => ro.isRecent(m.uid))).toEqual([true, true, true, true]);
    expect((await store.status('INBOX')).recent).toBe(4);
    const rw = await open(store, 'INBOX');
    expect(rw.messages().map((m) => rw.isRecent(m.uid))).toEqual([true, true, true, true]);
    expect(ro.isRecent(1)).toBe(false);
    const rw2 = await open(newStore(), 'INBOX');
    expect(rw2.isRecent(1)).toBe(false);
  });

  it('treats messages an existing uidlist numbers as old, like Dovecot building a new index', async () => {
    const store = newStore();
    await store.ensure();
    const dir = path.join(root, '.Work');
    for (const d of ['cur', 'new', 'tmp']) await fs.mkdir(path.join(dir, d), { recursive: true });
    await fs.writeFile(path.join(dir, 'cur', '1500000000.M1P1.old:2,S'), 'Subject: a\n\nx\n');
    await fs.writeFile(path.join(dir, 'cur', '1500000001.M1P1.old:2,'), 'Subject: b\n\nx\n');
    await fs.writeFile(path.join(dir, 'new', '1500000002.M1P1.old'), 'Subject: c\n\nx\n');
    await fs.writeFile(path.join(dir, 'dovecot-uidlist'), '3 V12345 N15 G0123456789abcdef0123456789abcdef\n3 :1500000000.M1P1.old\n7 :1500000001.M1P1.old\n');
    expect(await store.status('Work')).toEqual({ messages: 3, recent: 1, uidNext: 16, uidValidity: 12345, unseen: 2 });
    const ro = await open(store, 'Work', true);
    expect(ro.messages().map((m) => [m.uid, ro.isRecent(m.uid)])).toEqual([
      [3, false],
      [7, false],
      [15, true],
    ]);
  });

  it('sees flag renames, expunges and uids assigned by another process', async () => {
    const store = newStore();
    await store.ensure();
    await store.append('INBOX', [{ data: msg('a') }, { data: msg('b') }]);
    const v = await open(store, 'INBOX');
    const changes = record(v);
    const [a, b] = v.messages();
    await fs.rename(path.join(root, 'cur', a.filename), path.join(root, 'cur', a.filename + 'S'));
    await fs.unlink(path.join(root, 'cur', b.filename));
    // "Dovecot" delivers a message and records its uid itself.
    await fs.writeFile(path.join(root, 'cur', '1800000000.M5P9.other,S=3,W=4:2,'), 'x\ny');
    await fs.appendFile(path.join(root, 'dovecot-uidlist'), '7 :1800000000.M5P9.other,S=3,W=4\n');
    await v.sync();
    expect(changes).toEqual([
      { kind: 'flags', uid: 1, flags: ['\\Seen'] },
      { kind: 'expunged', uids: [2] },
      { kind: 'added', messages: [expect.objectContaining({ uid: 7, size: 4 })] },
    ]);
    expect(v.uidNext()).toBe(8);
    // A file that reappears with an old uid gets a new one (UIDs never go backwards).
    await fs.writeFile(path.join(root, 'cur', b.filename), 'again');
    await v.sync();
    expect(v.messages().map((m) => m.uid)).toEqual([1, 7, 8]);
    const records = (await fs.readFile(path.join(root, 'dovecot-uidlist'), 'utf8')).split('\n').filter((l) => l.includes(baseName(b.filename)));
    expect(records).toEqual([expect.stringMatching(/^8 /)]);
  });

  it('waits for a Dovecot lock and answers INUSE when it is not released', async () => {
    const store = newStore();
    await store.ensure();
    await store.append('INBOX', [{ data: msg('a') }]);
    const v = await open(store, 'INBOX');
    await fs.writeFile(path.join(root, 'dovecot-uidlist.lock'), `1:${os.hostname()}`);
    expect(await codeOf(v.store([1], 'add', ['\\Seen']))).toBe('INUSE');
    await fs.unlink(path.join(root, 'dovecot-uidlist.lock'));
    await v.store([1], 'add', ['\\Seen']);
  });

  it('shows a deleted folder as empty and refuses further work', async () => {
    const store = newStore();
    await store.ensure();
    await store.create('Tmp');
    await store.append('Tmp', [{ data: msg('a') }]);
    const v = await open(store, 'Tmp');
    const changes = record(v);
    await newStore().delete('Tmp');
    expect(changes).toEqual([{ kind: 'expunged', uids: [1] }]);
    expect(await codeOf(v.store([1], 'add', ['\\Seen']))).toBe('NONEXISTENT');
    await store.create('Tmp');
    const fresh = await open(store, 'Tmp');
    expect(fresh.messages()).toEqual([]);
    expect(fresh.uidValidity).toBeGreaterThan(v.uidValidity);
  });
});

describe('RENAME INBOX and STATUS', () => {
  it('moves INBOX messages into the new folder and leaves INBOX empty', async () => {
    const store = newStore();
    await store.ensure();
    await store.append('INBOX', [{ data: msg('a'), flags: ['Kw'] }, { data: msg('b') }]);
    const inbox = await open(store, 'INBOX');
    const changes = record(inbox);
    const before = inbox.uidNext();
    await store.rename('INBOX', 'Old');
    expect(changes).toEqual([{ kind: 'expunged', uids: [1, 2] }]);
    const old = await open(store, 'Old');
    expect(old.messages().map((m) => [m.uid, m.flags])).toEqual([
      [1, ['Kw']],
      [2, []],
    ]);
    expect(await store.status('INBOX')).toMatchObject({ messages: 0, uidNext: before });
    const res = await store.append('INBOX', [{ data: msg('c') }]);
    expect(res.uids).toEqual([before]);
  });

  it('counts without loading the mailbox', async () => {
    const store = newStore();
    await store.ensure();
    await store.append('Sent', [{ data: msg('a'), flags: ['\\Seen'] }, { data: msg('b') }]);
    await fs.writeFile(path.join(root, '.Sent', 'new', '1700000000.M1P1.mx'), 'x');
    const st = await store.status('Sent');
    expect(st).toMatchObject({ messages: 3, unseen: 2, uidNext: 4 });
    expect(st.recent).toBe(3);
    expect(await codeOf(store.status('Nope'))).toBe('NONEXISTENT');
  });
});

describe('the disposable cache', () => {
  it('serves INTERNALDATE from the cache on a warm open and rebuilds silently when damaged', async () => {
    const store = newStore();
    await store.ensure();
    // Files without W= (as Postfix delivers them): sizes must be computed once.
    for (let i = 0; i < 5; i++) await fs.writeFile(path.join(root, 'cur', `170000000${i}.M1P1.mx:2,S`), `Subject: ${i}\n\nbody\n`);
    let v = await open(store, 'INBOX');
    expect(v.messages().map((m) => m.size)).toEqual(Array(5).fill(20));
    const dates = v.messages().map((m) => m.internalDate);
    await v.info(1);
    await v.close();
    views.length = 0;
    expect(await ls(root)).toEqual(expect.arrayContaining(['roost.cache', 'roost.cache.data']));
    // Change an mtime behind Roost's back: a warm open does not stat, so it still reports the cached date.
    const f = path.join(root, 'cur', '1700000000.M1P1.mx:2,S');
    await fs.utimes(f, new Date(), new Date(Date.UTC(2001, 0, 1)));
    v = await open(store, 'INBOX');
    expect(v.messages().map((m) => m.internalDate)).toEqual(dates);
    expect((await v.info(1)).header.toString()).toBe('Subject: 0\n');
    await v.close();
    views.length = 0;
    // Corrupt cache: rebuilt from the files, nothing lost.
    await fs.writeFile(path.join(root, 'roost.cache'), 'garbage\n\x00\x01');
    await fs.writeFile(path.join(root, 'roost.cache.data'), 'more garbage');
    v = await open(store, 'INBOX');
    expect(v.messages()[0].internalDate).toBe(Date.UTC(2001, 0, 1));
    expect((await v.info(2)).header.toString()).toBe('Subject: 1\n');
    await v.close();
    views.length = 0;
    // Empty files, as a system crash can leave the cache's new files (written without fsync).
    for (const name of ['roost.cache', 'roost.cache.data', 'roost.cache.recent']) await fs.writeFile(path.join(root, name), '');
    v = await open(store, 'INBOX');
    expect(v.messages().map((m) => m.size)).toEqual(Array(5).fill(20));
    expect((await v.info(3)).header.toString()).toBe('Subject: 2\n');
    await v.close();
    views.length = 0;
    expect((await fs.readFile(path.join(root, 'roost.cache'), 'utf8')).startsWith('H\troost-cache\t')).toBe(true);
    await fs.rm(path.join(root, 'roost.cache'));
    await fs.rm(path.join(root, 'roost.cache.data'));
    v = await open(store, 'INBOX');
    expect(v.messages()).toHaveLength(5);
    views.push(v);
  });

  it('is compacted when mostly garbage, and keeps serving what is live', async () => {
    const store = newStore();
    await store.ensure();
    const bigHeader = `X-Big: ${'y'.repeat(20_000)}\r\n`;
    await store.append('INBOX', Array.from({ length: 50 }, (_, i) => ({ data: Buffer.from(`Subject: s${i}\r\n${bigHeader}\r\nbody\r\n`) })));
    let v = await open(store, 'INBOX');
    for (let uid = 1; uid <= 50; uid++) await v.info(uid);
    const before = (await fs.stat(path.join(root, 'roost.cache.data'))).size;
    await v.store(Array.from({ length: 45 }, (_, i) => i + 1), 'add', ['\\Deleted']);
    await v.expunge();
    await v.close();
    views.length = 0;
    const after = (await fs.stat(path.join(root, 'roost.cache.data'))).size;
    expect(after).toBeLessThan(before / 5);
    // Served from the cache: change a message file behind Roost's back (never done in real life).
    const m = (await ls(path.join(root, 'cur')))[0];
    const file = path.join(root, 'cur', m);
    const st = await fs.stat(file);
    await fs.writeFile(file, 'Subject: changed\n\n');
    await fs.utimes(file, st.atime, st.mtime);
    v = await open(store, 'INBOX');
    views.push(v);
    expect((await v.info(v.messages()[0].uid)).header.toString()).toMatch(/^Subject: s4\d\n/);
  });

  it('can live under cacheDir', async () => {
    const cacheDir = path.join(tmp, 'cache');
    const store = newStore({ cacheDir });
    await store.ensure();
    await store.append('INBOX', [{ data: msg('a') }]);
    const v = await open(store, 'INBOX');
    await v.info(1);
    expect((await ls(cacheDir)).some((n) => n.endsWith('.cache.data'))).toBe(true);
    expect(await ls(root)).not.toContain('roost.cache');
  });
});

describe('ownership', () => {
  const isRoot = process.getuid?.() === 0;
  it.skipIf(!isRoot)('chowns everything it creates to the owner (running as root)', async () => {
    const store = newStore({ owner: { uid: 65534, gid: 65534 } });
    await store.ensure();
    await store.append('INBOX', [{ data: msg('a'), flags: ['Kw'] }]);
    const v = await open(store, 'INBOX');
    await v.info(1);
    await v.store([1], 'add', ['\\Seen']);
    const paths = [root, path.dirname(root), ...(await fs.readdir(root, { recursive: true })).map((p) => path.join(root, p))];
    for (const p of paths) expect((await fs.lstat(p)).uid, p).toBe(65534);
  });

  it.skipIf(!isRoot)('without an owner, new files take the owner of their directory', async () => {
    await fs.mkdir(root, { recursive: true });
    await fs.chown(root, 65534, 65534);
    const store = newStore();
    await store.ensure();
    await store.append('INBOX', [{ data: msg('a') }]);
    for (const p of await fs.readdir(root, { recursive: true })) expect((await fs.lstat(path.join(root, p))).uid, p).toBe(65534);
  });
  if (!isRoot) it('ownership tests need root', () => console.log('skipped: ownership tests need root'));
});

describe('scale', () => {
  it('opens 100,000 messages named with S=/W= quickly, and warm without stat', async () => {
    const store = newStore();
    await store.ensure();
    const cur = path.join(root, 'cur');
    const names: string[] = [];
    for (let i = 0; i < 100_000; i++) names.push(`${1600000000 + i}.M${i}P1.bulk,S=10,W=12:2,${i % 3 === 0 ? 'S' : ''}`);
    for (let i = 0; i < names.length; i += 500) {
      await Promise.all(names.slice(i, i + 500).map((n) => fs.writeFile(path.join(cur, n), '')));
    }
    let t = Date.now();
    let v = await open(store, 'INBOX');
    const cold = Date.now() - t;
    expect(v.messages()).toHaveLength(100_000);
    expect(v.messages()[99_999]).toMatchObject({ uid: 100_000, size: 12 });
    await v.close();
    views.length = 0;
    t = Date.now();
    v = await open(store, 'INBOX');
    const warm = Date.now() - t;
    views.push(v);
    t = Date.now();
    const st = await newStore().status('Sent');
    expect(st.messages).toBe(0);
    console.log(`100k messages: cold open ${cold} ms, warm open ${warm} ms, heap ${Math.round(process.memoryUsage().heapUsed / 1e6)} MB`);
    expect(warm).toBeLessThan(cold);
    expect(warm).toBeLessThan(5000);
  }, 120_000);
});

describe('concurrency', () => {
  it('loses nothing and invents no expunges while views and another process work at once', async () => {
    const store = newStore();
    await store.ensure();
    const a = await open(store, 'INBOX');
    const b = await open(newStore(), 'INBOX');
    const ro = await open(newStore(), 'INBOX', true);
    const announced = new Set<number>();
    a.onChange((c) => {
      if (c.kind === 'expunged') for (const u of c.uids) announced.add(u);
    });
    const expungedByUs = new Set<number>();
    let delivered = 0;
    let appended = 0;
    let stop = false;

    // "Another MUA": delivers to new/ and toggles \Flagged by renaming, without any lock.
    const external = (async () => {
      let n = 0;
      while (!stop) {
        if (n % 3 === 0) {
          await fs.writeFile(path.join(root, 'new', `1700000000.M${n}P42.other`), `Subject: ext ${n}\n\nx\n`);
          delivered++;
        } else {
          const names = await fs.readdir(path.join(root, 'cur'));
          const name = names[n % Math.max(1, names.length)];
          if (name) {
            const i = name.indexOf(':2,');
            const letters = i < 0 ? '' : name.slice(i + 3);
            const next = letters.includes('F') ? letters.replace('F', '') : [...letters, 'F'].sort().join('');
            await fs.rename(path.join(root, 'cur', name), path.join(root, 'cur', `${i < 0 ? name : name.slice(0, i)}:2,${next}`)).catch(() => {});
          }
        }
        n++;
        await new Promise((r) => setImmediate(r));
      }
    })();

    const worker = async (v: MailboxView, seed: number) => {
      for (let i = 0; i < 60; i++) {
        const msgs = v.messages();
        const pick = msgs.length > 0 ? msgs[(i * 7 + seed) % msgs.length].uid : undefined;
        switch ((i + seed) % 5) {
          case 0:
            await store.append('INBOX', [{ data: msg(`w${seed}-${i}`), flags: ['\\Seen'] }]);
            appended++;
            break;
          case 1:
            if (pick) await v.store([pick], 'add', ['\\Deleted']);
            break;
          case 2:
            for (const u of await v.expunge()) expungedByUs.add(u);
            break;
          case 3:
            if (pick) await v.store([pick], i % 2 ? 'add' : 'remove', ['\\Seen', `kw${seed}`]);
            break;
          default:
            await v.sync();
        }
      }
    };
    await Promise.all([worker(a, 1), worker(b, 2), (async () => {
      for (let i = 0; i < 40; i++) await ro.sync();
    })()]);
    stop = true;
    await external;
    // The other MUA takes no lock, so its last rename may share an mtime tick with Roost's own
    // last change (Dovecot has the same blind spot); any later change to cur/ reveals it.
    await new Promise((r) => setTimeout(r, 20));
    await fs.writeFile(path.join(root, 'cur', '.touch'), '');
    await fs.unlink(path.join(root, 'cur', '.touch'));
    await a.sync();
    await b.sync();

    const list = a.messages();
    expect(b.messages()).toBe(list);
    expect(ro.messages()).toBe(list);
    for (let i = 1; i < list.length; i++) expect(list[i].uid).toBeGreaterThan(list[i - 1].uid);
    // Every expunge announced was one of ours; nothing else vanished.
    expect([...announced].sort((x, y) => x - y)).toEqual([...expungedByUs].sort((x, y) => x - y));
    const onDisk = [...(await fs.readdir(path.join(root, 'cur'))), ...(await fs.readdir(path.join(root, 'new')))];
    expect(onDisk.length).toBe(delivered + appended - expungedByUs.size);
    expect(list.length).toBe(onDisk.length);
    const byName = new Set(onDisk);
    for (const m of list) expect(byName.has(m.filename), m.filename).toBe(true);
    // The uidlist agrees with the index.
    const uidlist = await fs.readFile(path.join(root, 'dovecot-uidlist'), 'utf8');
    const recorded = new Map(uidlist.split('\n').slice(1).filter(Boolean).map((l) => [l.slice(l.indexOf(':') + 1), Number(l.split(' ')[0])]));
    for (const m of list) expect(recorded.get(m.filename.split(':')[0]), m.filename).toBe(m.uid);
    expect(delivered).toBeGreaterThan(5);
  }, 60_000);

  it('in a big mailbox, still sees a locked change made right after its own STORE', async () => {
    const store = newStore();
    await store.ensure();
    const cur = path.join(root, 'cur');
    const names = Array.from({ length: 5000 }, (_, i) => `${1600000000 + i}.M${i}P7.big,S=1,W=1:2,`);
    for (let i = 0; i < names.length; i += 500) await Promise.all(names.slice(i, i + 500).map((n) => fs.writeFile(path.join(cur, n), 'x')));
    await new Promise((r) => setTimeout(r, 1100)); // let cur/'s mtime age, so the scan is trusted
    const v = await open(store, 'INBOX');
    const { takeDotlock } = await import('../../electron/server/storage/maildir/dotlock.js');
    const { FsContext } = await import('../../electron/server/storage/maildir/fsutil.js');
    for (let round = 0; round < 5; round++) {
      await v.store([1 + round], 'add', ['\\Seen']);
      // "Dovecot" flags another message under the lock immediately afterwards.
      const lock = await takeDotlock(path.join(root, 'dovecot-uidlist'), new FsContext(undefined, () => {}, 1000));
      const target = v.messages()[100 + round];
      await fs.rename(path.join(cur, target.filename), path.join(cur, target.filename + 'F'));
      await lock.release();
      await v.sync();
      expect(v.messages()[100 + round].flags, `round ${round}`).toEqual(['\\Flagged']);
      expect(v.messages()[round].flags).toEqual(['\\Seen']);
    }
  }, 60_000);

  it('copies bytes when a hard link is impossible (folder on another file system)', async () => {
    const other = '/dev/shm';
    const st = await fs.stat(other).catch(() => undefined);
    if (!st || st.dev === (await fs.stat(tmp)).dev) {
      console.log('skipped: no second file system (/dev/shm) to test the copy fallback');
      return;
    }
    const store = newStore();
    await store.ensure();
    const elsewhere = await fs.mkdtemp(path.join(other, 'roost-maildir-'));
    try {
      for (const d of ['cur', 'new', 'tmp']) await fs.mkdir(path.join(elsewhere, d));
      await fs.symlink(elsewhere, path.join(root, '.Far'));
      await store.append('INBOX', [{ data: msg('far away'), flags: ['\\Seen'], internalDate: Date.UTC(2019, 5, 5) }]);
      const v = await open(store, 'INBOX');
      expect((await v.copyTo([1], 'Far')).pairs).toEqual([[1, 1]]);
      expect((await v.moveTo([1], 'Far')).pairs).toEqual([[1, 2]]);
      const far = await open(store, 'Far');
      expect(far.messages().map((m) => [m.uid, m.flags, m.internalDate])).toEqual([
        [1, ['\\Seen'], Date.UTC(2019, 5, 5)],
        [2, ['\\Seen'], Date.UTC(2019, 5, 5)],
      ]);
      expect((await far.read(2)).toString()).toContain('far away');
      expect(v.messages()).toEqual([]);
      expect(await ls(path.join(root, 'cur'))).toEqual([]);
      expect(await ls(path.join(elsewhere, 'tmp'))).toEqual([]);
    } finally {
      for (const x of views.splice(0)) await x.close();
      await fs.rm(elsewhere, { recursive: true, force: true });
    }
  });

  it('moves within one mailbox and compacts the uidlist after many expunges', async () => {
    const store = newStore();
    await store.ensure();
    await store.append('INBOX', Array.from({ length: 1205 }, (_, i) => ({ data: msg(`m${i}`) })));
    const v = await open(store, 'INBOX');
    expect((await v.moveTo([1205], 'INBOX')).pairs).toEqual([[1205, 1206]]);
    await v.store(Array.from({ length: 1200 }, (_, i) => i + 1), 'add', ['\\Deleted']);
    expect(await v.expunge()).toHaveLength(1200);
    const lines = (await fs.readFile(path.join(root, 'dovecot-uidlist'), 'utf8')).trim().split('\n');
    expect(lines[0]).toMatch(/ N1207 /);
    expect(lines.slice(1).map((l) => Number(l.split(' ')[0]))).toEqual([1201, 1202, 1203, 1204, 1206]);
    expect(v.messages().map((m) => m.uid)).toEqual([1201, 1202, 1203, 1204, 1206]);
  }, 60_000);
});
