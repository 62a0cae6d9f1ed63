// dovecot-keywords: the keyword names behind the letters a-z in maildir file names.
//
//   <index> <name>\n        e.g. "0 $Forwarded", "1 Junk"
//
// Index 0 is letter 'a' ... 25 is 'z', so a mailbox holds at most 26 keywords in file names
// (Dovecot keeps more in its index only; Roost refuses them with StorageError('LIMIT')).
// Readers need no lock. Writers take `dovecot-keywords.lock`, write the new content into
// the lock file and rename it over dovecot-keywords (what Dovecot 2.3 does). Existing indexes
// are never renumbered. Names are matched case-insensitively, like Dovecot does
// ("STORE +FLAGS (newkw)" sets an existing "NewKw").

import fsSync from 'node:fs';
import path from 'node:path';
import { StorageError } from '../types.js';
import { takeDotlock } from './dotlock.js';
import { FsContext, isNotFound } from './fsutil.js';

export const KEYWORDS = 'dovecot-keywords';
export const MAX_KEYWORDS = 26;

export interface KeywordsState {
  /** names[index]; holes are undefined. */
  names: (string | undefined)[];
  mtimeMs: number;
  ino: number;
  size: number;
}

export function emptyKeywords(): KeywordsState {
  return { names: [], mtimeMs: 0, ino: 0, size: 0 };
}

export function parseKeywords(text: string): (string | undefined)[] {
  const names: (string | undefined)[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\d+) (.+)$/.exec(line.replace(/\r$/, ''));
    if (!m) continue;
    const index = Number(m[1]);
    if (index >= MAX_KEYWORDS || names[index] !== undefined) continue;
    names[index] = m[2];
  }
  return names;
}

export function formatKeywords(names: readonly (string | undefined)[]): string {
  let out = '';
  names.forEach((name, index) => {
    if (name !== undefined) out += `${index} ${name}\n`;
  });
  return out;
}

/** Re-read dovecot-keywords if it changed since `prev` (synchronous I/O: a stat, rarely a small read). */
export async function readKeywords(dir: string, prev?: KeywordsState): Promise<KeywordsState> {
  const file = path.join(dir, KEYWORDS);
  try {
    const st = fsSync.statSync(file);
    if (prev && prev.ino === st.ino && prev.mtimeMs === st.mtimeMs && prev.size === st.size) return prev;
    const text = fsSync.readFileSync(file, 'utf8');
    return { names: parseKeywords(text), mtimeMs: st.mtimeMs, ino: st.ino, size: st.size };
  } catch (err) {
    if (isNotFound(err)) return emptyKeywords();
    throw err;
  }
}

export function keywordIndex(names: readonly (string | undefined)[], name: string): number {
  const lower = name.toLowerCase();
  for (let i = 0; i < names.length; i++) if (names[i]?.toLowerCase() === lower) return i;
  return -1;
}

/** Keyword atoms that cannot go into the file (space, control characters, IMAP specials). */
export function validKeyword(name: string): boolean {
  return name.length > 0 && name.length <= 255 && !/[\x00-\x20\x7f(){%*"\\\]]/.test(name);
}

/**
 * Make sure every keyword in `wanted` has an index, adding the missing ones under
 * dovecot-keywords.lock. Throws LIMIT when the 26 letters are used up.
 */
export async function ensureKeywords(dir: string, fsx: FsContext, wanted: readonly string[], current: KeywordsState): Promise<KeywordsState> {
  for (const name of wanted) {
    if (!validKeyword(name)) throw new StorageError('CANNOT', `Invalid keyword: ${JSON.stringify(name)}`);
  }
  if (wanted.every((k) => keywordIndex(current.names, k) >= 0)) return current;
  const file = path.join(dir, KEYWORDS);
  const lock = await takeDotlock(file, fsx, { forReplace: true });
  try {
    const fresh = await readKeywords(dir);
    const names = [...fresh.names];
    let added = false;
    for (const name of wanted) {
      if (keywordIndex(names, name) >= 0) continue;
      // Never fill a hole: files may still carry that letter, and would suddenly show the new name.
      const slot = names.length;
      if (slot >= MAX_KEYWORDS) {
        throw new StorageError('LIMIT', `Too many keywords in this mailbox (the maximum is ${MAX_KEYWORDS}): cannot add ${name}`);
      }
      names[slot] = name;
      added = true;
    }
    if (!added) {
      await lock.release();
      return fresh;
    }
    // Dovecot notices a new dovecot-keywords by its mtime in whole seconds, and makes its own
    // writes' mtime grow every time: do the same, or a keyword added in the second of
    // Dovecot's last look stays "unknown-N" there.
    const oldSecs = fresh.ino === 0 ? 0 : Math.floor(fresh.mtimeMs / 1000);
    const mtimeMs = Math.floor(Date.now() / 1000) <= oldSecs ? (oldSecs + 1) * 1000 : undefined;
    await lock.replace(file, formatKeywords(names), { mtimeMs });
    return await readKeywords(dir);
  } catch (err) {
    await lock.release();
    throw err;
  }
}
