// "Send a test message", local drop: writes a generated message into a user's maildir exactly the way
// Postfix's virtual(8) delivery agent does, to test the IMAP side alone (no SMTP involved):
//   1. create the maildir (tmp/ new/ cur/, mode 0700) when it is missing, as Postfix does;
//   2. write the message to tmp/<sec>.P<pid>Q<n>.<host> and fsync it (Postfix: <sec>.P<pid>.<host>;
//      the counter keeps two drops of one process in one second apart);
//   3. rename it to new/<sec>.V<dev hex>I<inode hex>M<usec>.<host> (Postfix's unique name, built from
//      the tmp file's device and inode numbers), so a reader never sees a half-written message.
// LF line endings and a Return-Path/Delivered-To/Received block on top, as Postfix writes them.
// Runs in the main/service process (never in the worker, never imports electron). The maildir is
// found through the same resolveUser() as an IMAP login, so the message lands where clients look.

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import type libmimeModule from 'libmime';
import type { ServerSettings } from '../shared/settings-types.js';
import { resolveUser } from '../server/auth/user.js';

export interface LocalDropOptions {
  settings: ServerSettings;
  /** Recipient: the IMAP login name whose maildir receives the message. */
  address: string;
  subject?: string;
  body?: string;
  from?: string;
}

export interface LocalDropResult {
  /** Absolute path of the delivered file (in new/). */
  path: string;
  filename: string;
  /** The maildir it went into. */
  maildir: string;
  messageId: string;
  subject: string;
  /** The token in the subject and X-Roost-Test header that identifies this message. */
  token: string;
  size: number;
}

export const DEFAULT_TEST_FROM = 'Roost test <roost-test@localhost>';

/** A short random token that identifies one test message (subject, Message-ID, X-Roost-Test). */
export function newToken(): string {
  return randomBytes(6).toString('hex');
}

/** Postfix's host name in maildir file names: '/' and ':' would break the name, so they are escaped. */
export function maildirHostname(host = os.hostname()): string {
  return (host || 'localhost').replace(/\//g, '\\057').replace(/:/g, '\\072');
}

/** RFC 5322 date-time in local time ("Tue, 24 Nov 2026 09:30:00 +0100"). */
export function rfc5322Date(d = new Date()): string {
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? '+' : '-';
  const abs = Math.abs(off);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${days[d.getDay()]}, ${d.getDate()} ${months[d.getMonth()]} ${d.getFullYear()} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())} ${sign}${two(Math.floor(abs / 60))}${two(abs % 60)}`;
}

/** A header value that may hold non-ASCII text, RFC 2047-encoded where needed. */
function headerText(s: string): string {
  return /^[\x20-\x7e]*$/.test(s) ? s : libmime().encodeWords(s, 'Q', 52);
}

// libmime is loaded on first use (a non-ASCII subject): the server process that never sends
// a test message keeps its code and tables out of memory.
let libmimeLoaded: typeof libmimeModule | undefined;
function libmime(): typeof libmimeModule {
  libmimeLoaded ??= createRequire(import.meta.url)('libmime') as typeof libmimeModule;
  return libmimeLoaded;
}

function bareAddress(s: string): string {
  const m = /<([^>]*)>/.exec(s);
  return (m ? m[1] : s).trim();
}

/** The generated message (LF line endings, as Postfix stores it). */
export function buildTestMessage(o: { to: string; from: string; subject: string; body: string; token: string; messageId: string; date?: Date; received?: string }): Buffer {
  const date = o.date ?? new Date();
  const lines = [
    `Return-Path: <${bareAddress(o.from)}>`,
    `Delivered-To: ${o.to}`,
    ...(o.received ? [`Received: ${o.received}; ${rfc5322Date(date)}`] : []),
    `Date: ${rfc5322Date(date)}`,
    `From: ${headerText(o.from)}`,
    `To: ${o.to}`,
    `Subject: ${headerText(o.subject)}`,
    `Message-ID: ${o.messageId}`,
    `X-Roost-Test: ${o.token}`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 8bit',
    '',
    ...o.body.replace(/\r\n?/g, '\n').split('\n'),
  ];
  let text = lines.join('\n');
  if (!text.endsWith('\n')) text += '\n';
  return Buffer.from(text, 'utf8');
}

async function mkdirOwned(dir: string, owner: { uid?: number; gid?: number }): Promise<void> {
  try {
    await fs.mkdir(dir, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return;
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    await mkdirOwned(path.dirname(dir), owner);
    await fs.mkdir(dir, { mode: 0o700 }).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw e;
    });
  }
  if (owner.uid !== undefined && owner.gid !== undefined) await fs.chown(dir, owner.uid, owner.gid).catch(() => {});
}

/** Creates <maildir>/{tmp,new,cur} like Postfix (and the home above it), owned like Postfix's files. */
export async function ensureMaildir(maildir: string, owner: { uid?: number; gid?: number } = {}): Promise<void> {
  await mkdirOwned(maildir, owner);
  for (const sub of ['tmp', 'new', 'cur']) await mkdirOwned(path.join(maildir, sub), owner);
}

/**
 * Delivers `data` into `maildir` the Postfix way (tmp/ then rename into new/) and returns the new
 * file's path. `mtimeMs` sets the file's mtime (INTERNALDATE) before the rename.
 */
export async function deliverToMaildir(maildir: string, data: Buffer, owner: { uid?: number; gid?: number } = {}, mtimeMs?: number): Promise<string> {
  await ensureMaildir(maildir, owner);
  const now = Date.now();
  const sec = Math.floor(now / 1000);
  const usec = (now % 1000) * 1000 + Math.floor(Math.random() * 1000);
  const host = maildirHostname();
  // Postfix: tmp/<sec>.P<pid>.<host>; a counter keeps two drops in one second apart in one process.
  const tmp = path.join(maildir, 'tmp', `${sec}.P${process.pid}Q${++dropCount}.${host}`);
  const fh = await fs.open(tmp, 'wx', 0o600);
  let renamed = false;
  try {
    await fh.writeFile(data);
    await fh.sync();
    const st = await fh.stat();
    await fh.close();
    if (owner.uid !== undefined && owner.gid !== undefined) await fs.chown(tmp, owner.uid, owner.gid).catch(() => {});
    if (mtimeMs !== undefined) await fs.utimes(tmp, new Date(mtimeMs), new Date(mtimeMs));
    const name = `${sec}.V${st.dev.toString(16)}I${st.ino.toString(16)}M${usec}.${host}`;
    const dest = path.join(maildir, 'new', name);
    // link() + unlink() would refuse to replace an existing name; the inode makes the name unique.
    await fs.rename(tmp, dest);
    renamed = true;
    return dest;
  } finally {
    if (!renamed) {
      await fh.close().catch(() => {});
      await fs.unlink(tmp).catch(() => {});
    }
  }
}
let dropCount = 0;

/** Writes a generated test message into the user's maildir (see the top of the file). */
export async function localDrop(options: LocalDropOptions): Promise<LocalDropResult> {
  const loc = resolveUser(options.settings, options.address);
  const token = newToken();
  const subject = options.subject ?? `Roost test message ${token}`;
  const fullSubject = subject.includes(token) ? subject : `${subject} [${token}]`;
  const messageId = `<roost-test-${token}@${os.hostname() || 'localhost'}>`;
  const data = buildTestMessage({
    to: loc.user,
    from: options.from ?? DEFAULT_TEST_FROM,
    subject: fullSubject,
    body: options.body ?? `This is a test message Roost wrote straight into ${loc.user}'s maildir (local drop, token ${token}).\n`,
    token,
    messageId,
    received: `by ${os.hostname() || 'localhost'} (Roost local drop) id ${token} for <${loc.user}>`,
  });
  const owner = { ...(loc.uid !== undefined ? { uid: loc.uid } : {}), ...(loc.gid !== undefined ? { gid: loc.gid } : {}) };
  const file = await deliverToMaildir(loc.maildir, data, owner);
  return { path: file, filename: path.basename(file), maildir: loc.maildir, messageId, subject: fullSubject, token, size: data.length };
}
