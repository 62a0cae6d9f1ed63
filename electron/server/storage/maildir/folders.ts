// Maildir++ folder layout (Dovecot's default for maildir):
//
//   <root>/                 INBOX: cur/ new/ tmp/, dovecot-uidlist, dovecot-keywords, ...
//   <root>/.<name>/         one folder; <name> is the IMAP name in modified UTF-7 with '.' as
//                           hierarchy separator ("a.b" is <root>/.a.b, "Käse" is <root>/.K&AOQ-se)
//   <root>/.<name>/maildirfolder   empty marker file (Maildir++)
//
// Folders are flat: ".a.b" can exist without ".a"; LIST then shows "a" as \Noselect
// \HasChildren, and DELETE "a" answers NONEXISTENT. Observed on Dovecot 2.3.19 and mirrored:
// - invalid names: containing '/', starting with '~', starting with '.', or with ".." are
//   refused (CANNOT); a trailing '.' is dropped; '*', '%', '"', '&' and spaces are allowed;
// - a leading "inbox." in any case means "INBOX." (a child of INBOX, directory ".INBOX.x");
// - CREATE writes cur/ new/ tmp/, maildirfolder and a dovecot-uidlist with a new UIDVALIDITY.
// Names Roost cannot decode (invalid modified UTF-7) are not listed.

import fs from 'node:fs/promises';
import fsSync from 'node:fs';
import path from 'node:path';
import type { MailboxListEntry } from '../types.js';
import { StorageError } from '../types.js';
import { decodeMutf7, encodeMutf7 } from '../mutf7.js';
import { FsContext, isNotFound } from './fsutil.js';

export const SEPARATOR = '.';

/** RFC 6154 attributes of the well-known names (Dovecot's 15-mailboxes.conf plus Archive). */
export const SPECIAL_USE: Readonly<Record<string, string>> = {
  Sent: '\\Sent',
  Drafts: '\\Drafts',
  Trash: '\\Trash',
  Junk: '\\Junk',
  Archive: '\\Archive',
};

/** Folders ensure() creates and subscribes (Dovecot `auto = subscribe`). */
export const AUTO_FOLDERS = ['Drafts', 'Junk', 'Trash', 'Sent'] as const;

/** Directory-name prefix of folders being deleted (starts with "..", which no folder can). */
export const TRASH_PREFIX = '..roost-deleting.';

export function isInbox(name: string): boolean {
  return name.toUpperCase() === 'INBOX';
}

/** 'inbox' -> 'INBOX', 'Inbox.x' -> 'INBOX.x'; everything else unchanged. */
export function normalizeName(name: string): string {
  if (isInbox(name)) return 'INBOX';
  if (name.length > 6 && name.slice(0, 6).toUpperCase() === 'INBOX.') return 'INBOX.' + name.slice(6);
  return name;
}

/**
 * Check a UTF-8 IMAP name and return it normalized; throws CANNOT with Dovecot's reasons.
 * A trailing separator is dropped ("x." is "x"), as Dovecot does.
 */
export function validateName(name: string): string {
  let n = name;
  while (n.length > 1 && n.endsWith(SEPARATOR)) n = n.slice(0, -1);
  if (n === '' || n === SEPARATOR) throw new StorageError('CANNOT', 'Invalid mailbox name: Empty name');
  if (n.includes('/')) throw new StorageError('CANNOT', "Invalid mailbox name: Name must not have '/' characters");
  if (n.startsWith('~')) throw new StorageError('CANNOT', "Invalid mailbox name: Begins with '~'");
  if (n.startsWith(SEPARATOR)) throw new StorageError('CANNOT', 'Invalid mailbox name: Begins with hierarchy separator');
  if (n.includes(SEPARATOR + SEPARATOR)) throw new StorageError('CANNOT', 'Invalid mailbox name: Has adjacent hierarchy separators');
  if (/[\x00-\x1f\x7f]/.test(n)) throw new StorageError('CANNOT', 'Invalid mailbox name: Contains control characters');
  n = normalizeName(n);
  if (n !== 'INBOX' && Buffer.byteLength(encodeMutf7(n)) + 1 > 255) {
    throw new StorageError('CANNOT', 'Invalid mailbox name: Name is too long');
  }
  return n;
}

/** Directory of a (validated, normalized) mailbox name. */
export function mailboxDir(root: string, name: string): string {
  return name === 'INBOX' ? root : path.join(root, SEPARATOR + encodeMutf7(name));
}

/** IMAP name of a folder directory entry, or undefined if it is not a folder. */
export function folderNameOf(dirName: string): string | undefined {
  if (!dirName.startsWith(SEPARATOR) || dirName.startsWith(SEPARATOR + SEPARATOR) || dirName.length < 2) return undefined;
  let name: string;
  try {
    name = decodeMutf7(dirName.slice(1));
  } catch {
    return undefined;
  }
  if (name.endsWith(SEPARATOR) || name.includes(SEPARATOR + SEPARATOR) || name.includes('/')) return undefined;
  name = normalizeName(name);
  return name === 'INBOX' ? undefined : name;
}

/** Names of all folder directories under the root (without INBOX). */
export async function folderNames(root: string, log?: (message: string) => void): Promise<string[]> {
  let entries;
  try {
    entries = await fs.readdir(root, { withFileTypes: true });
  } catch (err) {
    if (isNotFound(err)) return [];
    throw err;
  }
  const names: string[] = [];
  for (const entry of entries) {
    if (!entry.name.startsWith(SEPARATOR)) continue;
    let isDir = entry.isDirectory();
    if (!isDir && (entry.isSymbolicLink() || entry.isFile() === false)) {
      isDir = await fs.stat(path.join(root, entry.name)).then((s) => s.isDirectory(), () => false);
    }
    if (!isDir) continue;
    const name = folderNameOf(entry.name);
    if (name === undefined) {
      if (!entry.name.startsWith(TRASH_PREFIX)) log?.(`Ignoring folder directory with an unusable name: ${entry.name}`);
      continue;
    }
    names.push(name);
  }
  return names;
}

function compareNames(a: string, b: string): number {
  if (a === b) return 0;
  if (a === 'INBOX') return -1;
  if (b === 'INBOX') return 1;
  return a < b ? -1 : 1;
}

/** LIST "" "*": INBOX, every folder, and \Noselect parents that exist only through children. */
export function buildList(folders: readonly string[]): MailboxListEntry[] {
  const selectable = new Set<string>(['INBOX', ...folders]);
  const all = new Set<string>(selectable);
  const withChildren = new Set<string>();
  for (const name of folders) {
    const parts = name.split(SEPARATOR);
    for (let i = 1; i < parts.length; i++) {
      const parent = normalizeName(parts.slice(0, i).join(SEPARATOR));
      all.add(parent);
      withChildren.add(parent);
    }
  }
  return [...all].sort(compareNames).map((name) => {
    const entry: MailboxListEntry = { name, hasChildren: withChildren.has(name) };
    const special = SPECIAL_USE[name];
    if (special) entry.specialUse = special;
    if (!selectable.has(name)) entry.noSelect = true;
    return entry;
  });
}

/** Does the mailbox have its own directory (INBOX: the root)? (A synchronous stat: microseconds.) */
export async function mailboxExists(root: string, name: string): Promise<boolean> {
  try {
    return fsSync.statSync(mailboxDir(root, name)).isDirectory();
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

/** cur/ new/ tmp/ (and maildirfolder for folders) inside an existing mailbox directory. */
export async function ensureMaildirDirs(fsx: FsContext, dir: string, isFolder: boolean): Promise<void> {
  for (const sub of ['cur', 'new', 'tmp']) fsx.mkdirSync(path.join(dir, sub));
  if (isFolder) {
    const marker = path.join(dir, 'maildirfolder');
    try {
      const fd = fsSync.openSync(marker, 'wx', 0o600);
      try {
        fsx.fchownNewSync(fd, dir);
      } finally {
        fsSync.closeSync(fd);
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}
