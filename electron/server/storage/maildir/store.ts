// MailStore for one user's maildir tree (Dovecot's maildir:~/Maildir with the default
// Maildir++ layout): folders, subscriptions, STATUS, APPEND, and opening views.
//
// Behaviour mirrored from Dovecot 2.3.19 (observed, see tests/unit/maildir-dovecot-interop):
// - ensure(): Debian's 15-mailboxes.conf only gives Drafts/Junk/Trash/Sent their special-use
//   (no `auto`); Roost's reference Dovecot adds `auto = create`, which creates them when the
//   user first looks and does not subscribe them. Roost creates them at login (a folder the
//   user deleted comes back, as with auto = create). With the autoSubscribe option it also
//   subscribes them when it creates them, which is what `auto = subscribe` does on disk
//   (Dovecot writes them into `subscriptions` as it creates them; INBOX is not subscribed).
// - CREATE "a.b.c" creates only .a.b.c; DELETE of a folder removes its directory only (its
//   children stay, the name becomes \Noselect); DELETE of a \Noselect name is NONEXISTENT;
//   DELETE INBOX is refused (NOPERM).
// - RENAME moves the children too; RENAME of a \Noselect name renames its children; renaming
//   a mailbox under itself is refused (CANNOT); subscriptions are not touched.
// - RENAME INBOX: Dovecot refuses it for maildir; Roost does what RFC 3501 6.3.5 asks (and the
//   storage contract says): a new folder receives INBOX's messages, INBOX stays, empty.
// - APPEND stores LF line endings (mail_save_crlf=no) in cur/ as <base>,S=<size>,W=<vsize>:2,<flags>,
//   with the file's mtime as INTERNALDATE.

import fs from 'node:fs/promises';
import fsSync from 'node:fs';
import path from 'node:path';
import type { AppendInput, MailboxListEntry, MailboxStatus, MailboxView, MailStore } from '../types.js';
import { StorageError } from '../types.js';
import { MailboxCache, cachePaths } from './cache.js';
import { buildFilename, generateBase, withSizes } from './filename.js';
import { parseFlagArgs } from './flags.js';
import {
  AUTO_FOLDERS,
  TRASH_PREFIX,
  buildList,
  ensureMaildirDirs,
  folderNames,
  mailboxDir,
  mailboxExists,
  validateName,
} from './folders.js';
import { FsContext, LogFn, Owner, fsyncDir, isNotFound, toStorageError, uniqueSuffix } from './fsutil.js';
import { Incoming, Mailbox, StoreContext, acquireMailbox, releaseMailbox, runPair } from './mailbox.js';
import { toStoredForm, virtualSize } from './messagefile.js';
import { readSubscriptions, updateSubscriptions } from './subscriptions.js';
import { UIDLIST } from './uidlist.js';
import { MaildirView } from './view.js';

export interface MailStoreOptions {
  user: string;
  root: string;
  owner?: Owner;
  cacheDir?: string;
  log?: LogFn;
  /** How long to wait for a Dovecot lock before INUSE (default 30 s). */
  lockTimeoutMs?: number;
  /**
   * Subscribe the auto folders when ensure() creates them (Dovecot's `auto = subscribe`).
   * Default false: `auto = create`, like the reference Dovecot configuration.
   */
  autoSubscribe?: boolean;
}

async function guard<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toStorageError(err, what);
  }
}

export class MaildirStore implements MailStore {
  readonly user: string;
  readonly root: string;
  private readonly ctx: StoreContext;
  private readonly autoSubscribe: boolean;

  constructor(opts: MailStoreOptions) {
    this.user = opts.user;
    this.autoSubscribe = opts.autoSubscribe ?? false;
    this.root = path.resolve(opts.root);
    const log: LogFn = opts.log ?? (() => {});
    this.ctx = {
      root: this.root,
      fsx: new FsContext(opts.owner, log, opts.lockTimeoutMs ?? 30_000),
      cacheDir: opts.cacheDir,
    };
  }

  private get fsx(): FsContext {
    return this.ctx.fsx;
  }

  private dirOf(name: string): string {
    return mailboxDir(this.root, name);
  }

  private acquire(name: string): Mailbox {
    return acquireMailbox(this.ctx, this.dirOf(name), name !== 'INBOX');
  }

  private async ensureRoot(): Promise<void> {
    await this.fsx.mkdirp(this.root);
    await ensureMaildirDirs(this.fsx, this.root, false);
  }

  ensure(): Promise<void> {
    return guard('ensure', async () => {
      await this.ensureRoot();
      const inbox = this.acquire('INBOX');
      try {
        await inbox.initUidlist();
      } finally {
        await releaseMailbox(inbox);
      }
      const created: string[] = [];
      for (const name of AUTO_FOLDERS) {
        if (await mailboxExists(this.root, name)) continue;
        try {
          await this.createFolder(name);
          created.push(name);
        } catch (err) {
          if (!(err instanceof StorageError && err.code === 'ALREADYEXISTS')) throw err;
        }
      }
      if (created.length > 0 && this.autoSubscribe) {
        await updateSubscriptions(this.root, this.fsx, (current) => {
          const missing = created.filter((n) => !current.includes(n));
          return missing.length > 0 ? [...current, ...missing] : undefined;
        });
      }
      await this.removeLeftovers();
    });
  }

  /** Folders whose deletion was interrupted (renamed to ..roost-deleting.*). */
  private async removeLeftovers(): Promise<void> {
    let names: string[];
    try {
      names = fsSync.readdirSync(this.root);
    } catch {
      return;
    }
    for (const name of names) {
      if (!name.startsWith(TRASH_PREFIX)) continue;
      this.fsx.log('info', `Removing the rest of a deleted folder: ${name}`);
      await fs.rm(path.join(this.root, name), { recursive: true, force: true }).catch(() => {});
    }
  }

  list(): Promise<MailboxListEntry[]> {
    return guard('list', async () => buildList(await folderNames(this.root, (m) => this.fsx.log('debug', m))));
  }

  private async createFolder(name: string): Promise<void> {
    const dir = this.dirOf(name);
    let created: boolean;
    try {
      created = await this.fsx.mkdir(dir);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await this.ensureRoot();
      created = await this.fsx.mkdir(dir);
    }
    if (!created) throw new StorageError('ALREADYEXISTS', 'Mailbox already exists');
    await ensureMaildirDirs(this.fsx, dir, true);
    const mb = acquireMailbox(this.ctx, dir, true);
    try {
      await mb.initUidlist();
    } finally {
      await releaseMailbox(mb);
    }
    await fsyncDir(this.root);
  }

  create(name: string): Promise<void> {
    return guard('create', async () => {
      const n = validateName(name);
      if (n === 'INBOX') throw new StorageError('ALREADYEXISTS', 'Mailbox already exists');
      await this.createFolder(n);
    });
  }

  delete(name: string): Promise<void> {
    return guard('delete', async () => {
      const n = validateName(name);
      if (n === 'INBOX') throw new StorageError('NOPERM', "INBOX can't be deleted");
      const dir = this.dirOf(n);
      if (!(await mailboxExists(this.root, n))) throw new StorageError('NONEXISTENT', `Mailbox doesn't exist: ${n}`);
      const mb = this.acquire(n);
      const trash = path.join(this.root, TRASH_PREFIX + uniqueSuffix());
      try {
        await mb.run(async () => {
          const lock = await mb.lockForChange();
          try {
            await fs.rename(dir, trash);
            lock.movedTo(path.join(trash, UIDLIST + '.lock'));
          } catch (err) {
            if (isNotFound(err)) throw new StorageError('NONEXISTENT', `Mailbox doesn't exist: ${n}`);
            throw err;
          } finally {
            await lock.release();
          }
          mb.markGone('was deleted');
        });
      } finally {
        await releaseMailbox(mb);
      }
      await fsyncDir(this.root);
      await fs.rm(trash, { recursive: true, force: true });
      if (this.ctx.cacheDir) await MailboxCache.remove(cachePaths(dir, this.ctx.cacheDir));
    });
  }

  rename(from: string, to: string): Promise<void> {
    return guard('rename', async () => {
      const f = validateName(from);
      const t = validateName(to);
      if (t === 'INBOX') throw new StorageError('ALREADYEXISTS', 'Target mailbox already exists');
      if (f === 'INBOX') return this.renameInbox(t);
      if (t === f || t.startsWith(f + '.')) throw new StorageError('CANNOT', "Can't rename mailbox under its own child");
      const folders = await folderNames(this.root);
      const existing = new Set(folders);
      const moving = folders.filter((n) => n === f || n.startsWith(f + '.')).sort();
      if (moving.length === 0) throw new StorageError('NONEXISTENT', `Mailbox doesn't exist: ${f}`);
      const pairs = moving.map((n) => ({ from: n, to: validateName(t + n.slice(f.length)) }));
      for (const p of pairs) {
        if (existing.has(p.to) || p.to === 'INBOX') throw new StorageError('ALREADYEXISTS', 'Target mailbox already exists');
      }
      for (const p of pairs) {
        const src = this.dirOf(p.from);
        const dst = this.dirOf(p.to);
        const mb = this.acquire(p.from);
        try {
          await mb.run(async () => {
            if (await mailboxExists(this.root, p.to)) throw new StorageError('ALREADYEXISTS', 'Target mailbox already exists');
            const lock = await mb.lockForChange();
            try {
              await fs.rename(src, dst);
              lock.movedTo(path.join(dst, UIDLIST + '.lock'));
            } finally {
              await lock.release();
            }
            mb.markGone('was renamed');
          });
        } finally {
          await releaseMailbox(mb);
        }
        if (this.ctx.cacheDir) await MailboxCache.remove(cachePaths(src, this.ctx.cacheDir));
      }
      await fsyncDir(this.root);
    });
  }

  private async renameInbox(t: string): Promise<void> {
    if (await mailboxExists(this.root, t)) throw new StorageError('ALREADYEXISTS', 'Target mailbox already exists');
    await this.createFolder(t);
    const inbox = this.acquire('INBOX');
    const dest = this.acquire(t);
    try {
      await runPair(inbox, dest, () => inbox.moveAllToLocked(dest));
    } finally {
      await releaseMailbox(dest);
      await releaseMailbox(inbox);
    }
  }

  subscriptions(): Promise<string[]> {
    return guard('subscriptions', () => readSubscriptions(this.root, (m) => this.fsx.log('debug', m)));
  }

  subscribe(name: string): Promise<void> {
    return guard('subscribe', async () => {
      const n = validateName(name);
      if (!(await mailboxExists(this.root, n))) throw new StorageError('NONEXISTENT', `Mailbox doesn't exist: ${n}`);
      await updateSubscriptions(this.root, this.fsx, (current) => (current.includes(n) ? undefined : [...current, n]));
    });
  }

  unsubscribe(name: string): Promise<void> {
    return guard('unsubscribe', async () => {
      let n: string;
      try {
        n = validateName(name);
      } catch {
        n = name;
      }
      await updateSubscriptions(this.root, this.fsx, (current) => (current.includes(n) ? current.filter((x) => x !== n) : undefined));
    });
  }

  status(name: string): Promise<MailboxStatus> {
    return guard('status', async () => {
      const n = validateName(name);
      if (!(await mailboxExists(this.root, n))) throw new StorageError('NONEXISTENT', `Mailbox doesn't exist: ${n}`);
      const mb = this.acquire(n);
      try {
        return await mb.run(() => mb.statusLocked());
      } finally {
        await releaseMailbox(mb);
      }
    });
  }

  append(name: string, messages: readonly AppendInput[]): Promise<{ uidValidity: number; uids: number[] }> {
    return guard('append', async () => {
      const n = validateName(name);
      if (!(await mailboxExists(this.root, n))) throw new StorageError('TRYCREATE', `Mailbox doesn't exist: ${n}`);
      const flagLists = messages.map((m) => parseFlagArgs(m.flags ?? []).flags);
      const dir = this.dirOf(n);
      await ensureMaildirDirs(this.fsx, dir, n !== 'INBOX');
      const tmpFiles: string[] = [];
      const prepared: (Incoming & { tmp: string })[] = [];
      try {
        // Write and fsync every message in tmp/ first (outside the mailbox queue), its mtime
        // set before the fsync.
        for (const input of messages) {
          const stored = toStoredForm(input.data);
          const tmpBase = generateBase();
          const tmp = path.join(dir, 'tmp', tmpBase);
          tmpFiles.push(tmp);
          const internalDate = Math.round(input.internalDate ?? Date.now());
          await this.fsx.writeNewFile(tmp, stored, undefined, internalDate);
          const vsize = virtualSize(stored);
          prepared.push({ tmp, base: withSizes(tmpBase, stored.length, vsize), filename: '', size: vsize, internalDate });
        }
        const mb = acquireMailbox(this.ctx, dir, n !== 'INBOX');
        try {
          return await mb.run(async () => {
            if (mb.gone) throw new StorageError('TRYCREATE', `Mailbox doesn't exist: ${n}`);
            const letters = await mb.lettersForIncoming(flagLists);
            const lock = await mb.lockForChange();
            const placed: string[] = [];
            let result: { uidValidity: number; uids: number[]; lingerUntil: number } | undefined;
            try {
              const ctx = mb.beginIncoming();
              prepared.forEach((p, i) => (p.filename = buildFilename(p.base, letters[i])));
              for (const p of prepared) {
                const target = path.join(dir, 'cur', p.filename);
                fsSync.renameSync(p.tmp, target);
                placed.push(target);
              }
              await fsyncDir(path.join(dir, 'cur'));
              result = await mb.assignUidsLocked(prepared, ctx);
            } catch (err) {
              for (const file of placed) await fs.unlink(file).catch(() => {});
              throw err;
            } finally {
              await lock.release({ lingerUntil: result?.lingerUntil });
            }
            // Committed: a failure to update the in-memory index now is caught up by the next sync.
            await mb.noteIncoming(prepared, result.uids).catch((err: unknown) => {
              mb.forgetStamps();
              this.fsx.log('warn', `${dir}: ${String(err)}`);
            });
            return { uidValidity: result.uidValidity, uids: result.uids };
          });
        } finally {
          await releaseMailbox(mb);
        }
      } catch (err) {
        for (const tmp of tmpFiles) await fs.unlink(tmp).catch(() => {});
        throw err;
      }
    });
  }

  open(name: string, options: { readOnly: boolean }): Promise<MailboxView> {
    return guard('open', async () => {
      const n = validateName(name);
      if (!(await mailboxExists(this.root, n))) throw new StorageError('NONEXISTENT', `Mailbox doesn't exist: ${n}`);
      const mb = this.acquire(n);
      const view = new MaildirView(mb, n, options.readOnly, this);
      try {
        await mb.run(async () => {
          mb.attach(view);
          try {
            await mb.syncLocked(view);
          } catch (err) {
            mb.detach(view);
            throw err;
          }
        });
      } catch (err) {
        await releaseMailbox(mb);
        throw err;
      }
      return view;
    });
  }

  /** COPY/MOVE from a view into another mailbox of this store. */
  async transfer(view: MaildirView, uids: readonly number[], target: string, move: boolean): Promise<{ uidValidity: number; pairs: [number, number][] }> {
    const n = validateName(target);
    if (!(await mailboxExists(this.root, n))) throw new StorageError('TRYCREATE', `Mailbox doesn't exist: ${n}`);
    await ensureMaildirDirs(this.fsx, this.dirOf(n), n !== 'INBOX');
    const dest = this.acquire(n);
    try {
      return await runPair(view.mailbox, dest, () => view.mailbox.transferLocked(uids, dest, move));
    } finally {
      await releaseMailbox(dest);
    }
  }
}

export function openMailStore(opts: MailStoreOptions): MailStore {
  return new MaildirStore(opts);
}

