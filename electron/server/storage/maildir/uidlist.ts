// dovecot-uidlist: the UID <-> file mapping of one maildir, in Dovecot's format.
//
// Version 3 (Dovecot 1.1+, what Roost writes):
//   3 V<uidvalidity> N<nextuid> G<mailbox guid, 32 hex digits>      (header; fields in any order,
//                                                                   unknown ones kept on rewrite)
//   <uid> [<ext fields>] :<file name>                               (one record per message)
// Ext fields are a letter plus a value, separated by spaces: W<vsize> (CRLF size, written when
// the name has no W=), G<guid>, P<pop3 uidl>, O<pop3 order>... Roost keeps them verbatim.
// The name after ':' is the base name (Dovecot writes it without ':2,flags'); readers also
// accept a full name and strip the info part.
// Version 1 (Courier compatible): header `1 <uidvalidity> <nextuid>`, records `<uid> <name>`.
//
// Rules (Dovecot's maildir documentation): readers need no lock; writers hold
// `dovecot-uidlist.lock` (see dotlock.ts) and either append records at the end or replace the
// whole file with rename() (Dovecot uses the fixed name `dovecot-uidlist.tmp` while locked;
// Roost does the same, plus fsync). Records are in ascending UID order. Appending does not
// update N in the header, so the next UID is max(N, last UID + 1). Records of expunged
// messages may linger until the next rewrite; a file without a record is new.

import fsSync, { constants as FS } from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { baseOf } from './filename.js';
import { FsContext, closeQuietly, fsAsync, readFullySync, readTextSync, statIfExists, writeText } from './fsutil.js';

export const UIDLIST = 'dovecot-uidlist';

export interface UidlistHeader {
  version: number;
  uidValidity: number;
  /** N from the header (may lag behind appended records). */
  nextUid: number;
  guid: string;
  /** Other header fields, kept verbatim for rewrites. */
  extra: string[];
}

export interface UidlistState {
  header: UidlistHeader;
  /** base name -> uid */
  uids: Map<string, number>;
  /** base name -> ext fields as written (only for records that have any) */
  ext: Map<string, string>;
  /** Highest uid of any record. */
  maxUid: number;
  /** True when the file had duplicates, disorder or junk: the next write should be a rewrite. */
  needsRewrite: boolean;
  /** Identity and parsed length, for reading only what was appended since. */
  ino: number;
  size: number;
  mtimeMs: number;
  parsedBytes: number;
  /** The header line as read, to recognise the same file (inode numbers get reused). */
  headerLine: string;
}

export function nextUidOf(state: UidlistState): number {
  return Math.max(state.header.nextUid, state.maxUid + 1, 1);
}

export function newGuid(): string {
  return crypto.randomBytes(16).toString('hex');
}

export function newHeader(uidValidity: number): UidlistHeader {
  return { version: 3, uidValidity, nextUid: 1, guid: newGuid(), extra: [] };
}

export function formatHeader(h: UidlistHeader, nextUid: number): string {
  return ['3', `V${h.uidValidity}`, `N${nextUid}`, `G${h.guid}`, ...h.extra].join(' ') + '\n';
}

export function formatRecord(uid: number, base: string, ext?: string): string {
  return ext ? `${uid} ${ext} :${base}\n` : `${uid} :${base}\n`;
}

/** The W<vsize> ext field of a record, if present. */
export function extVsize(ext: string | undefined): number | undefined {
  if (!ext) return undefined;
  for (const field of ext.split(' ')) {
    if (field.length > 1 && field[0] === 'W' && /^\d+$/.test(field.slice(1))) return Number(field.slice(1));
  }
  return undefined;
}

/** Replace or add W<vsize> in an ext string. */
export function withExtVsize(ext: string | undefined, vsize: number): string {
  const fields = (ext ?? '').split(' ').filter((f) => f !== '' && f[0] !== 'W');
  fields.unshift(`W${vsize}`);
  return fields.join(' ');
}

export class UidlistError extends Error {}

function parseHeader(line: string): UidlistHeader {
  const parts = line.trim().split(/ +/);
  const version = Number(parts[0]);
  if (version === 1 || version === 2) {
    // Courier-style: "1 <uidvalidity> <nextuid>"
    const uidValidity = Number(parts[1]);
    const nextUid = Number(parts[2]);
    if (!Number.isInteger(uidValidity) || uidValidity <= 0 || !Number.isInteger(nextUid)) {
      throw new UidlistError(`broken version ${version} header`);
    }
    return { version, uidValidity, nextUid, guid: newGuid(), extra: [] };
  }
  if (version !== 3) throw new UidlistError(`unsupported version '${parts[0] ?? ''}'`);
  const h: UidlistHeader = { version, uidValidity: 0, nextUid: 1, guid: '', extra: [] };
  for (const field of parts.slice(1)) {
    const key = field[0];
    const value = field.slice(1);
    if (key === 'V') h.uidValidity = Number(value);
    else if (key === 'N') h.nextUid = Number(value);
    else if (key === 'G') h.guid = value;
    else h.extra.push(field);
  }
  if (!Number.isInteger(h.uidValidity) || h.uidValidity <= 0) throw new UidlistError('header without a valid V field');
  if (!Number.isInteger(h.nextUid) || h.nextUid < 1) h.nextUid = 1;
  if (!/^[0-9a-f]{32}$/i.test(h.guid)) h.guid = newGuid();
  return h;
}

/** Parse complete record lines into `state`. */
function parseRecords(text: string, state: UidlistState): void {
  const v1 = state.header.version < 3;
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const line = text.slice(start, end);
    start = end + 1;
    if (line === '') continue;
    let i = 0;
    let uid = 0;
    while (i < line.length && line.charCodeAt(i) >= 0x30 && line.charCodeAt(i) <= 0x39) {
      uid = uid * 10 + (line.charCodeAt(i) - 0x30);
      i++;
    }
    if (i === 0 || uid === 0 || line[i] !== ' ') {
      state.needsRewrite = true;
      continue;
    }
    let name: string;
    let ext = '';
    if (v1) {
      name = line.slice(i + 1);
    } else {
      // ext fields until a field that starts with ':'; the name is the rest of the line.
      const exts: string[] = [];
      let nameAt = -1;
      while (i < line.length) {
        while (line[i] === ' ') i++;
        if (line[i] === ':') {
          nameAt = i + 1;
          break;
        }
        let j = line.indexOf(' ', i);
        if (j < 0) j = line.length;
        exts.push(line.slice(i, j));
        i = j;
      }
      if (nameAt < 0) {
        state.needsRewrite = true;
        continue;
      }
      name = line.slice(nameAt);
      ext = exts.join(' ');
    }
    const base = baseOf(name);
    if (base === '' || base.includes('/')) {
      state.needsRewrite = true;
      continue;
    }
    if (uid <= state.maxUid || state.uids.has(base)) {
      // Out of order or a duplicate: the first record wins; the file gets rewritten.
      state.needsRewrite = true;
      continue;
    }
    state.uids.set(base, uid);
    if (ext) state.ext.set(base, ext);
    state.maxUid = uid;
  }
}

/**
 * Read the uidlist. With `prev` from the same file (same inode, grown), only the appended
 * bytes are parsed. Returns undefined when the file does not exist; throws UidlistError when
 * it is unusable (the caller then starts a new UIDVALIDITY, like Dovecot).
 * Synchronous I/O: an unchanged file costs an open and an fstat, a changed one a read of a
 * local file of some hundred kilobytes at most.
 */
export async function readUidlist(dir: string, prev?: UidlistState): Promise<UidlistState | undefined> {
  const file = path.join(dir, UIDLIST);
  let fd: number;
  try {
    fd = fsSync.openSync(file, FS.O_RDONLY);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const st = fsSync.fstatSync(fd);
    if (prev && prev.ino === st.ino && st.size === prev.size && st.mtimeMs === prev.mtimeMs) return prev;
    // Read as text in small pieces (readTextSync): the file of a big mailbox is megabytes.
    if (prev && prev.ino === st.ino && st.size > prev.parsedBytes && prev.parsedBytes > 0 && sameHeader(fd, prev)) {
      const { text, afterLastLf } = readTextSync(fd, prev.parsedBytes, st.size);
      parseRecords(text.slice(0, text.lastIndexOf('\n') + 1), prev);
      prev.parsedBytes = afterLastLf;
      prev.size = st.size;
      prev.mtimeMs = st.mtimeMs;
      return prev;
    }
    const { text, afterLastLf } = readTextSync(fd, 0, st.size);
    const nl = text.indexOf('\n');
    if (nl < 0) throw new UidlistError('no header line');
    // A copy: a slice would keep the whole text alive even when no record refers to it.
    const headerLine = Buffer.from(text.slice(0, nl), 'utf8').toString('utf8');
    const state: UidlistState = {
      header: parseHeader(headerLine),
      uids: new Map(),
      ext: new Map(),
      maxUid: 0,
      needsRewrite: false,
      ino: st.ino,
      size: st.size,
      mtimeMs: st.mtimeMs,
      parsedBytes: 0,
      headerLine,
    };
    parseRecords(text.slice(nl + 1, Math.max(nl + 1, text.lastIndexOf('\n') + 1)), state);
    state.parsedBytes = afterLastLf;
    if (state.header.version < 3) state.needsRewrite = true;
    return state;
  } finally {
    closeQuietly(fd);
  }
}

function sameHeader(fd: number, prev: UidlistState): boolean {
  const expect = Buffer.from(prev.headerLine + '\n');
  const buf = Buffer.alloc(expect.length);
  if (readFullySync(fd, buf, 0).length !== expect.length || !buf.equals(expect)) return false;
  const last = Buffer.alloc(1);
  readFullySync(fd, last, prev.parsedBytes - 1);
  return last[0] === 0x0a;
}

/** Identity of the uidlist file as last read or written (for noticing changes by others). */
export function uidlistIdentity(state: UidlistState): string {
  return `${state.ino}:${state.size}:${state.mtimeMs}`;
}

/** Identity of the uidlist file on disk now, or '' when it is missing. */
export function uidlistIdentityOnDisk(dir: string): string {
  const st = statIfExists(path.join(dir, UIDLIST));
  return st ? `${st.ino}:${st.size}:${st.mtimeMs}` : '';
}

/** Append records (caller holds the uidlist lock). Returns false if the file must be rewritten instead. */
export async function appendRecords(dir: string, state: UidlistState, records: { uid: number; base: string; ext?: string }[]): Promise<boolean> {
  if (state.needsRewrite || state.header.version < 3) return false;
  const file = path.join(dir, UIDLIST);
  const fd = fsSync.openSync(file, FS.O_WRONLY | FS.O_APPEND);
  try {
    const st = fsSync.fstatSync(fd);
    // The file must be the one we parsed, ending at a line boundary.
    if (st.ino !== state.ino || st.size !== state.parsedBytes) return false;
    let text = '';
    for (const r of records) text += formatRecord(r.uid, r.base, r.ext);
    await writeText(fd, text);
    await fsAsync.fsync(fd);
    const after = fsSync.fstatSync(fd);
    for (const r of records) {
      state.uids.set(r.base, r.uid);
      if (r.ext) state.ext.set(r.base, r.ext);
      if (r.uid > state.maxUid) state.maxUid = r.uid;
    }
    state.parsedBytes += Buffer.byteLength(text, 'utf8');
    state.size = after.size;
    state.mtimeMs = after.mtimeMs;
    return true;
  } finally {
    closeQuietly(fd);
  }
}

/**
 * Replace the uidlist with the given records (caller holds the uidlist lock), via
 * dovecot-uidlist.tmp + fsync + rename. Returns the new state.
 */
export async function rewriteUidlist(
  dir: string,
  fsx: FsContext,
  header: UidlistHeader,
  nextUid: number,
  records: { uid: number; base: string; ext?: string }[],
): Promise<UidlistState> {
  const sorted = [...records].sort((a, b) => a.uid - b.uid);
  const headerText = formatHeader({ ...header, version: 3 }, nextUid);
  let text = headerText;
  for (const r of sorted) text += formatRecord(r.uid, r.base, r.ext);
  const file = path.join(dir, UIDLIST);
  await fsx.writeAtomic(file, text, UIDLIST + '.tmp');
  const st = fsSync.statSync(file);
  const state: UidlistState = {
    header: { ...header, version: 3, nextUid },
    uids: new Map(),
    ext: new Map(),
    maxUid: 0,
    needsRewrite: false,
    ino: st.ino,
    size: st.size,
    mtimeMs: st.mtimeMs,
    parsedBytes: Buffer.byteLength(text),
    // Not a slice of `text`: that would keep the whole file's text (MBs) alive with the state.
    headerLine: headerText.slice(0, -1),
  };
  for (const r of sorted) {
    state.uids.set(r.base, r.uid);
    if (r.ext) state.ext.set(r.base, r.ext);
    state.maxUid = r.uid;
  }
  return state;
}
