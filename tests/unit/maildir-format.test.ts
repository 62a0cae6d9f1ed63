// On-disk formats of the maildir backend, each checked against what Dovecot 2.3 writes.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { StorageError } from '../../electron/server/storage/types.js';
import {
  baseOf,
  buildFilename,
  compareForUidOrder,
  escapedHostname,
  flagsToLetters,
  generateBase,
  lettersToFlags,
  sizeField,
  splitFilename,
} from '../../electron/server/storage/maildir/filename.js';
import { readUidlist, appendRecords, rewriteUidlist, nextUidOf, UidlistError, newHeader } from '../../electron/server/storage/maildir/uidlist.js';
import { ensureKeywords, parseKeywords, readKeywords, emptyKeywords } from '../../electron/server/storage/maildir/keywords.js';
import { formatSubscriptions, parseSubscriptions } from '../../electron/server/storage/maildir/subscriptions.js';
import { takeDotlock } from '../../electron/server/storage/maildir/dotlock.js';
import { FsContext } from '../../electron/server/storage/maildir/fsutil.js';
import { nextUidValidity } from '../../electron/server/storage/maildir/uidvalidity.js';
import { buildList, validateName, mailboxDir, folderNameOf } from '../../electron/server/storage/maildir/folders.js';
import { toStoredForm, virtualSize, measureFile, parseMessageFile } from '../../electron/server/storage/maildir/messagefile.js';

let tmp: string;
const fsx = new FsContext(undefined, () => {}, 300);

beforeEach(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'roost-maildir-format-'));
});
afterEach(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

describe('file names', () => {
  it('splits base, flags and extra fields', () => {
    expect(splitFilename('1795499182.M640400P16863.vm,S=25,W=28:2,Sab')).toEqual({
      base: '1795499182.M640400P16863.vm,S=25,W=28',
      letters: 'Sab',
      extra: '',
      hasInfo: true,
    });
    expect(splitFilename('123.x:2,FS,XYZ')).toMatchObject({ letters: 'FS', extra: ',XYZ' });
    expect(splitFilename('1700000000.M1P1.deliv')).toMatchObject({ base: '1700000000.M1P1.deliv', hasInfo: false });
    expect(baseOf('a.b.c:2,S')).toBe('a.b.c');
  });

  it('reads S= and W= like Dovecot', () => {
    const base = '1795499182.M640400P16863.vm,S=25,W=28';
    expect(sizeField(base, 'S')).toBe(25);
    expect(sizeField(base, 'W')).toBe(28);
    expect(sizeField('1.M1P1.host', 'W')).toBeUndefined();
    expect(sizeField('1.M1P1.host,S=12x', 'S')).toBeUndefined();
    expect(sizeField('1.M1P1.host,S=12,foo', 'S')).toBe(12);
  });

  it('maps flags to letters in ASCII order and keeps letters it does not own', () => {
    const kw = ['$Forwarded', 'Junk', 'NewKw'];
    const idx = (k: string) => kw.findIndex((x) => x.toLowerCase() === k.toLowerCase());
    expect(flagsToLetters(['\\Seen', '\\Deleted', '\\Answered', '\\Flagged', '\\Draft'], idx, '', kw)).toBe('DFRST');
    expect(flagsToLetters(['\\Seen', 'Junk', '$Forwarded'], idx, '', kw)).toBe('Sab');
    // P (passed) and a keyword letter without an entry survive a flag change.
    expect(flagsToLetters(['\\Seen'], idx, 'PRaz', kw)).toBe('PSz');
    // So does the letter of a hole in dovecot-keywords.
    expect(flagsToLetters([], idx, 'bcd', ['x', undefined, 'y'])).toBe('bd');
    expect(lettersToFlags('PSabz', kw)).toEqual(['$Forwarded', 'Junk', '\\Seen']);
    expect(buildFilename('b', 'TSRFD', ',x')).toBe('b:2,DFRST,x');
  });

  it('generates Dovecot-style unique bases', () => {
    const a = generateBase();
    const b = generateBase();
    expect(a).toMatch(new RegExp(`^\\d+\\.M\\d+P${process.pid}\\.`));
    expect(a).not.toBe(b);
    expect(compareForUidOrder(a, b)).toBeLessThan(0);
    expect(escapedHostname('ho/st:x')).toBe('ho\\057st\\072x');
  });

  it('orders new files by time, then microseconds, then name', () => {
    const names = ['20.M5P1.h', '10.M9P1.h', '10.M10P1.h', '10.x.h', '10.w.h'];
    expect([...names].sort(compareForUidOrder)).toEqual(['10.M9P1.h', '10.M10P1.h', '10.w.h', '10.x.h', '20.M5P1.h']);
  });
});

describe('dovecot-uidlist', () => {
  it('reads version 3 with ext fields, stale N, full names', async () => {
    await fs.writeFile(
      path.join(tmp, 'dovecot-uidlist'),
      '3 V1795498563 N2 G1a14e5154322056b6a21000083ecc375 X7\n' +
        '1 :1795499182.M640400P16863.vm,S=25,W=28\n' +
        '4 W23 :1700000000.M1P1.deliv\n' +
        '6 W23 P123 :1700000002.M1P1.deliv:2,F\n',
    );
    const s = (await readUidlist(tmp))!;
    expect(s.header).toMatchObject({ version: 3, uidValidity: 1795498563, nextUid: 2, guid: '1a14e5154322056b6a21000083ecc375', extra: ['X7'] });
    expect(nextUidOf(s)).toBe(7);
    expect(s.uids.get('1700000002.M1P1.deliv')).toBe(6);
    expect(s.ext.get('1700000002.M1P1.deliv')).toBe('W23 P123');
    expect(s.needsRewrite).toBe(false);
  });

  it('reads version 1 (Courier) files', async () => {
    await fs.writeFile(path.join(tmp, 'dovecot-uidlist'), '1 1234567890 5\n1 1.M1P1.h:2,S\n3 2.M1P1.h\n');
    const s = (await readUidlist(tmp))!;
    expect(s.header.uidValidity).toBe(1234567890);
    expect(s.uids.get('1.M1P1.h')).toBe(1);
    expect(s.uids.get('2.M1P1.h')).toBe(3);
    expect(nextUidOf(s)).toBe(5);
    expect(s.needsRewrite).toBe(true);
  });

  it('flags duplicates and disorder for a rewrite, first record wins', async () => {
    await fs.writeFile(path.join(tmp, 'dovecot-uidlist'), '3 V5 N1 Gx\n2 :a\n1 :b\n3 :a\ngarbage\n');
    const s = (await readUidlist(tmp))!;
    expect(s.uids.get('a')).toBe(2);
    expect(s.uids.has('b')).toBe(false);
    expect(s.needsRewrite).toBe(true);
  });

  it('rejects a broken header', async () => {
    await fs.writeFile(path.join(tmp, 'dovecot-uidlist'), 'hello\n');
    await expect(readUidlist(tmp)).rejects.toBeInstanceOf(UidlistError);
  });

  it('appends, then reads only what was appended', async () => {
    let s = await rewriteUidlist(tmp, fsx, newHeader(42), 1, []);
    expect(await fs.readFile(path.join(tmp, 'dovecot-uidlist'), 'utf8')).toMatch(/^3 V42 N1 G[0-9a-f]{32}\n$/);
    expect(await appendRecords(tmp, s, [{ uid: 1, base: 'a' }, { uid: 2, base: 'b', ext: 'W10' }])).toBe(true);
    // Another process appends a record.
    await fs.appendFile(path.join(tmp, 'dovecot-uidlist'), '3 :c\n4 :d');
    s = (await readUidlist(tmp, s))!;
    expect([...s.uids]).toEqual([['a', 1], ['b', 2], ['c', 3]]);
    await fs.appendFile(path.join(tmp, 'dovecot-uidlist'), '\n');
    s = (await readUidlist(tmp, s))!;
    expect(s.uids.get('d')).toBe(4);
    const text = await fs.readFile(path.join(tmp, 'dovecot-uidlist'), 'utf8');
    expect(text.split('\n').slice(1)).toEqual(['1 :a', '2 W10 :b', '3 :c', '4 :d', '']);
  });
});

describe('dovecot-keywords', () => {
  it('parses and adds keywords under the lock, case-insensitively', async () => {
    expect(parseKeywords('0 $Forwarded\n1 Junk\n\n30 x\nbad\n')).toEqual(['$Forwarded', 'Junk']);
    let k = await ensureKeywords(tmp, fsx, ['$Forwarded', 'Junk'], emptyKeywords());
    k = await ensureKeywords(tmp, fsx, ['junk', 'NewKw'], k);
    expect(await fs.readFile(path.join(tmp, 'dovecot-keywords'), 'utf8')).toBe('0 $Forwarded\n1 Junk\n2 NewKw\n');
    expect(k.names).toEqual(['$Forwarded', 'Junk', 'NewKw']);
    await expect(fs.stat(path.join(tmp, 'dovecot-keywords.lock'))).rejects.toThrow();
    // Holes are never reused (files may still carry their letter).
    await fs.writeFile(path.join(tmp, 'dovecot-keywords'), '0 A\n2 C\n');
    await ensureKeywords(tmp, fsx, ['D'], emptyKeywords());
    expect(await fs.readFile(path.join(tmp, 'dovecot-keywords'), 'utf8')).toBe('0 A\n2 C\n3 D\n');
  });

  it('refuses the 27th keyword with LIMIT', async () => {
    const names = Array.from({ length: 26 }, (_, i) => `k${i}`);
    const k = await ensureKeywords(tmp, fsx, names, emptyKeywords());
    expect(k.names).toHaveLength(26);
    const err = await ensureKeywords(tmp, fsx, ['one-more'], k).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect((err as StorageError).code).toBe('LIMIT');
    expect((await readKeywords(tmp)).names).toHaveLength(26);
  });
});

describe('subscriptions', () => {
  it('writes the Dovecot 2.3 format (V\\t2, TAB separator, modified UTF-7)', () => {
    const text = formatSubscriptions(['Sent', 'a.b.c', 'Käse', 'INBOX']);
    expect(text).toBe('V\t2\n\nSent\na\tb\tc\nK&AOQ-se\nINBOX\n');
    expect(parseSubscriptions(text)).toEqual(['Sent', 'a.b.c', 'Käse', 'INBOX']);
  });

  it('reads the old header-less format', () => {
    expect(parseSubscriptions('Sent\nx.y\ninbox\n')).toEqual(['Sent', 'x.y', 'INBOX']);
  });
});

describe('dotlock', () => {
  it('is exclusive, times out with INUSE, and writes pid:host', async () => {
    const file = path.join(tmp, 'dovecot-uidlist');
    const lock = await takeDotlock(file, fsx);
    expect(await fs.readFile(file + '.lock', 'utf8')).toBe(`${process.pid}:${os.hostname()}`);
    // A lock by another live process on this host is respected.
    await lock.release();
    await fs.writeFile(file + '.lock', `1:${os.hostname()}`);
    const err = await takeDotlock(file, fsx, { timeoutMs: 200 }).catch((e: unknown) => e);
    expect((err as StorageError).code).toBe('INUSE');
    await fs.unlink(file + '.lock');
  });

  it('overrides stale locks (dead pid, or old mtime)', async () => {
    const file = path.join(tmp, 'x');
    await fs.writeFile(file + '.lock', `999999999:${os.hostname()}`);
    (await takeDotlock(file, fsx, { timeoutMs: 200 })).release();
    await new Promise((r) => setTimeout(r, 20));
    await fs.writeFile(file + '.lock', 'not ours:elsewhere');
    const old = new Date(Date.now() - 5 * 60_000);
    await fs.utimes(file + '.lock', old, old);
    const lock = await takeDotlock(file, fsx, { timeoutMs: 200 });
    await lock.release();
    await expect(fs.stat(file + '.lock')).rejects.toThrow();
  });

  it('serializes holders inside the process', async () => {
    const file = path.join(tmp, 'y');
    const order: string[] = [];
    const a = await takeDotlock(file, fsx);
    const pending = takeDotlock(file, fsx, { timeoutMs: 5000 }).then(async (b) => {
      order.push('b');
      await b.release();
    });
    await new Promise((r) => setTimeout(r, 50));
    order.push('a');
    await a.release();
    await pending;
    expect(order).toEqual(['a', 'b']);
  });
});

describe('uidvalidity', () => {
  it('starts at the current time and counts up through dovecot-uidvalidity.<hex>', async () => {
    const now = Math.floor(Date.now() / 1000);
    const a = await nextUidValidity(fsx, tmp);
    expect(Math.abs(a - now)).toBeLessThan(5);
    const b = await nextUidValidity(fsx, tmp);
    const c = await nextUidValidity(fsx, tmp);
    expect([b, c]).toEqual([a + 1, a + 2]);
    expect(await fs.readFile(path.join(tmp, 'dovecot-uidvalidity'), 'utf8')).toBe(c.toString(16).padStart(8, '0'));
    const names = (await fs.readdir(tmp)).filter((n) => n.startsWith('dovecot-uidvalidity.'));
    expect(names).toEqual([`dovecot-uidvalidity.${c.toString(16)}`]);
  });
});

describe('folder names', () => {
  it('validates like Dovecot', () => {
    for (const bad of ['a/b', '~x', 'a..b', '.lead', '', 'tab\there']) {
      expect(() => validateName(bad)).toThrow(StorageError);
    }
    expect(validateName('x.')).toBe('x');
    expect(validateName('inbox')).toBe('INBOX');
    expect(validateName('Inbox.Kid')).toBe('INBOX.Kid');
    expect(validateName('st*ar')).toBe('st*ar');
    expect(mailboxDir('/m', 'Käse.Sub')).toBe('/m/.K&AOQ-se.Sub');
    expect(folderNameOf('.K&AOQ-se')).toBe('Käse');
    expect(folderNameOf('..roost-deleting.x')).toBeUndefined();
    expect(folderNameOf('.bad&Zz')).toBeUndefined();
  });

  it('lists \\Noselect parents and special-use names', () => {
    expect(buildList(['a.b.c', 'Sent', 'Archive'])).toEqual([
      { name: 'INBOX', hasChildren: false },
      { name: 'Archive', hasChildren: false, specialUse: '\\Archive' },
      { name: 'Sent', hasChildren: false, specialUse: '\\Sent' },
      { name: 'a', hasChildren: true, noSelect: true },
      { name: 'a.b', hasChildren: true, noSelect: true },
      { name: 'a.b.c', hasChildren: false },
    ]);
  });
});

describe('message files', () => {
  it('stores LF and counts CRLF sizes', async () => {
    const sent = Buffer.from('Subject: hi\r\n\r\nhello\r\nbare\nlone\rcr\r\n');
    const stored = toStoredForm(sent);
    expect(stored.toString()).toBe('Subject: hi\n\nhello\nbare\nlone\rcr\n');
    expect(virtualSize(stored)).toBe(sent.length + 1); // the bare LF counts as CRLF
    const file = path.join(tmp, 'm');
    await fs.writeFile(file, stored);
    expect(await measureFile(file)).toEqual({ size: stored.length, vsize: sent.length + 1 });
  });

  it('parses header and structure by streaming', async () => {
    const file = path.join(tmp, 'm');
    const big = 'x'.repeat(200_000);
    await fs.writeFile(file, `Subject: hi\nContent-Type: text/plain; charset=utf-8\n\n${big}\n`);
    const info = await parseMessageFile(file);
    expect(info.header.toString()).toBe('Subject: hi\nContent-Type: text/plain; charset=utf-8\n');
    expect(info.physicalSize).toBe((await fs.stat(file)).size);
    expect(info.structure).toMatchObject({ type: 'text', subtype: 'plain', bodyEnd: info.physicalSize });
    await fs.writeFile(file, 'A: b\r\n\r\nbody');
    expect((await parseMessageFile(file)).header.toString()).toBe('A: b\r\n');
  });
});
