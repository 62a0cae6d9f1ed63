// UIDVALIDITY for new mailboxes, shared with Dovecot through two files in the root maildir:
//
//   dovecot-uidvalidity             8 lowercase hex digits: the last value handed out
//   dovecot-uidvalidity.<8 hex>     empty, mode 0444; its name is the last value handed out
//
// The next value is claimed by renaming dovecot-uidvalidity.<x> to dovecot-uidvalidity.<x+1>
// (rename is atomic, so two processes never get the same value); then the main file is
// updated. Without any marker file the value is the current time in seconds, as Dovecot
// does for a new mailbox tree. (Behaviour observed on Dovecot 2.3.19: INBOX got the current
// time, the next folders created in the same tree got +1, +2, ... even minutes later.)

import fs from 'node:fs/promises';
import { constants as FS } from 'node:fs';
import path from 'node:path';
import { FsContext, errCode, isNotFound } from './fsutil.js';

const FILE = 'dovecot-uidvalidity';
const RETRIES = 10;

function hex8(n: number): string {
  return (n >>> 0).toString(16).padStart(8, '0');
}

let lastFallback = 0;
function fallback(): number {
  const now = Math.floor(Date.now() / 1000);
  lastFallback = lastFallback < now ? now : lastFallback + 1;
  return lastFallback;
}

async function writeMain(fsx: FsContext, file: string, value: number): Promise<void> {
  let handle: fs.FileHandle | undefined;
  try {
    let created = false;
    try {
      handle = await fs.open(file, FS.O_RDWR);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      handle = await fs.open(file, FS.O_RDWR | FS.O_CREAT, 0o600);
      created = true;
    }
    if (created) await fsx.fchownNew(handle, path.dirname(file));
    await handle.write(hex8(value), 0, 'latin1');
  } catch (err) {
    fsx.log('warn', `Cannot update ${file}: ${String(err)}`);
  } finally {
    await handle?.close().catch(() => {});
  }
}

async function claimFrom(root: string, current: number): Promise<number | undefined> {
  let value = current;
  for (let i = 0; i < RETRIES; i++) {
    const src = path.join(root, `${FILE}.${hex8(value)}`);
    const dst = path.join(root, `${FILE}.${hex8(value + 1)}`);
    value++;
    try {
      await fs.rename(src, dst);
      return value;
    } catch (err) {
      if (errCode(err) !== 'ENOENT') return undefined;
    }
  }
  return undefined;
}

async function rescan(fsx: FsContext, root: string): Promise<number> {
  let names: string[];
  try {
    names = await fs.readdir(root);
  } catch {
    return fallback();
  }
  let min = Infinity;
  let max = 0;
  for (const name of names) {
    if (!name.startsWith(FILE + '.')) continue;
    const suffix = name.slice(FILE.length + 1);
    if (!/^[0-9a-f]{1,8}$/i.test(suffix)) continue;
    const v = parseInt(suffix, 16);
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  if (max === 0) {
    for (let i = 0; i < RETRIES; i++) {
      const value = fallback();
      const marker = path.join(root, `${FILE}.${hex8(value)}`);
      try {
        const handle = await fs.open(marker, FS.O_CREAT | FS.O_EXCL | FS.O_RDWR, 0o444);
        await fsx.fchownNew(handle, root).catch(() => {});
        await handle.close();
        await writeMain(fsx, path.join(root, FILE), value);
        return value;
      } catch (err) {
        if (errCode(err) !== 'EEXIST') return value;
      }
    }
    return fallback();
  }
  if (min !== max) await fs.unlink(path.join(root, `${FILE}.${hex8(min)}`)).catch(() => {});
  const claimed = await claimFrom(root, max);
  if (claimed === undefined) return fallback();
  await writeMain(fsx, path.join(root, FILE), claimed);
  return claimed;
}

/** Next UIDVALIDITY for a new mailbox under the root maildir `root`. */
export async function nextUidValidity(fsx: FsContext, root: string): Promise<number> {
  const file = path.join(root, FILE);
  let text: string;
  try {
    text = await fs.readFile(file, 'latin1');
  } catch {
    return rescan(fsx, root);
  }
  const current = /^[0-9a-f]{1,8}/i.exec(text.trim());
  if (!current) return rescan(fsx, root);
  const claimed = await claimFrom(root, parseInt(current[0], 16));
  if (claimed === undefined) return rescan(fsx, root);
  await writeMain(fsx, file, claimed);
  return claimed;
}
