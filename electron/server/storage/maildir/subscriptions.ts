// The `subscriptions` file in the root maildir, in the format Dovecot 2.3 writes:
//
//   V\t2\n
//   \n
//   <name>\n           one per line, in subscription order
//
// Each name is the mailbox name in modified UTF-7 with '\t' (not '.') between hierarchy levels,
// e.g. "a\tb\tc" for a.b.c and "K&AOQ-se" for Käse (observed on Dovecot 2.3.19). A file
// without the "V\t2" header is the older format: one name per line with '.' as separator.
// Dovecot replaces it through `subscriptions.lock` (content written into the lock, then
// renamed over the file); Roost does the same, with fsync.
// Dovecot refuses SUBSCRIBE for a mailbox that does not exist, accepts UNSUBSCRIBE of a name
// that is not subscribed, and leaves subscriptions alone on RENAME and DELETE.

import fs from 'node:fs/promises';
import path from 'node:path';
import { decodeMutf7, encodeMutf7 } from '../mutf7.js';
import { takeDotlock } from './dotlock.js';
import { FsContext, isNotFound } from './fsutil.js';
import { normalizeName } from './folders.js';

export const SUBSCRIPTIONS = 'subscriptions';

export function parseSubscriptions(text: string, log?: (message: string) => void): string[] {
  const lines = text.split('\n');
  let sep = '.';
  let start = 0;
  if (lines[0] === 'V\t2') {
    sep = '\t';
    start = 1;
    while (start < lines.length && lines[start] !== '') start++;
    start++;
  }
  const names: string[] = [];
  const seen = new Set<string>();
  for (let i = start; i < lines.length; i++) {
    const line = lines[i].replace(/\r$/, '');
    if (line === '') continue;
    let name: string;
    try {
      name = normalizeName(line.split(sep).map(decodeMutf7).join('.'));
    } catch {
      log?.(`Ignoring undecodable subscription: ${JSON.stringify(line)}`);
      continue;
    }
    if (!seen.has(name)) {
      seen.add(name);
      names.push(name);
    }
  }
  return names;
}

export function formatSubscriptions(names: readonly string[]): string {
  let out = 'V\t2\n\n';
  for (const name of names) out += name.split('.').map(encodeMutf7).join('\t') + '\n';
  return out;
}

export async function readSubscriptions(root: string, log?: (message: string) => void): Promise<string[]> {
  try {
    return parseSubscriptions(await fs.readFile(path.join(root, SUBSCRIPTIONS), 'utf8'), log);
  } catch (err) {
    if (isNotFound(err)) return [];
    throw err;
  }
}

/** Read-modify-write under subscriptions.lock. `change` returns the new list or undefined for "no change". */
export async function updateSubscriptions(
  root: string,
  fsx: FsContext,
  change: (current: string[]) => string[] | undefined,
): Promise<void> {
  const file = path.join(root, SUBSCRIPTIONS);
  const lock = await takeDotlock(file, fsx, { forReplace: true });
  try {
    const current = await readSubscriptions(root, (m) => fsx.log('debug', m));
    const next = change(current);
    if (!next) {
      await lock.release();
      return;
    }
    await lock.replace(file, formatSubscriptions(next));
  } catch (err) {
    await lock.release();
    throw err;
  }
}
