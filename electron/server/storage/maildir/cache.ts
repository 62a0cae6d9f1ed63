// Roost's disposable per-mailbox cache. Deleting it loses no mail: it is rebuilt from the
// message files (only the \Recent state, in .recent, starts over). Three files in the mailbox
// directory (or, with a cacheDir, as <cacheDir>/<sha256 of the mailbox path, 32 hex>.cache*),
// the first two append-only:
//
// roost.cache        small, read when the mailbox is loaded; one record per line, TAB-separated:
//   H  roost-cache  1  <uidvalidity>  <generation>  <mailbox dir>     first line
//   M  <uid>  <mtime ms>  <vsize>  <base>  INTERNALDATE and RFC822.SIZE of a message file
//   P  <uid>  <offset>  <length>  <base>   where the parsed info of a message is in .data
// roost.cache.data   parsed messages, read by offset only when info() needs them:
//   H  roost-cache-data  1  <uidvalidity>  <generation>                first line
//   <uid>  <base>  <physical size>  <header bytes, base64>  <MimePart JSON>     one per message
// roost.cache.recent `<uidvalidity> <first recent uid>\n`: UIDs >= this were never given \Recent
//                    by a Roost read-write view (written with temporary name + fsync + rename;
//                    read by STATUS without loading the mailbox). A uidlist Roost creates starts
//                    it at 1; for a mailbox found on disk it starts at the uidlist's next uid
//                    (like Dovecot building a new index: numbered messages are old, the rest
//                    and files in new/ are recent).
//
// <base> is the maildir base name with '%', TAB, CR and LF percent-encoded. Later records win.
// Every record is checked against the message's current uid and base name before it is used;
// a header with another uidvalidity or a data file of another generation invalidates the cache.
// Corrupt lines are skipped (logged at debug). Both files are rewritten (temporary name,
// fsync, rename) when they hold much more than the live messages.

import fs from 'node:fs/promises';
import { constants as FS } from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import type { MessageInfo } from '../types.js';
import type { MimePart } from '../../mime/types.js';
import { FsContext, isNotFound, uniqueSuffix } from './fsutil.js';

export const CACHE_FILE = 'roost.cache';
const VERSION = '1';
const INFO_LRU = 256;
const FLUSH_BYTES = 64 * 1024;

function escapeBase(base: string): string {
  return /[%\t\r\n]/.test(base) ? base.replace(/[%\t\r\n]/g, (c) => '%' + c.charCodeAt(0).toString(16).padStart(2, '0')) : base;
}
function unescapeBase(text: string): string {
  return text.includes('%') ? text.replace(/%([0-9a-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))) : text;
}

export interface MetaEntry {
  uid: number;
  mtime: number;
  vsize: number;
}

export interface CacheFiles {
  meta: string;
  data: string;
}

interface Location {
  offset: number;
  length: number;
}

export function cachePaths(mailboxDir: string, cacheDir?: string): { meta: string; data: string } {
  if (!cacheDir) return { meta: path.join(mailboxDir, CACHE_FILE), data: path.join(mailboxDir, CACHE_FILE + '.data') };
  const hash = crypto.createHash('sha256').update(path.resolve(mailboxDir)).digest('hex').slice(0, 32);
  return { meta: path.join(cacheDir, `${hash}.cache`), data: path.join(cacheDir, `${hash}.cache.data`) };
}

export class MailboxCache {
  private generation = '';
  private uidValidity = 0;
  /** base -> meta, only while the mailbox index is being built (see releaseMeta). */
  private meta = new Map<string, MetaEntry>();
  private locations = new Map<number, Location & { base: string }>();
  private firstRecent: number | undefined;
  private pendingMeta: string[] = [];
  private flushing: Promise<void> = Promise.resolve();
  private dataChain: Promise<void> = Promise.resolve();
  private pendingBytes = 0;
  private metaLines = 0;
  private dataSize = 0;
  private dataLiveBytes = 0;
  private disabled = false;
  private loaded = false;
  private readonly lru = new Map<number, { base: string; info: MessageInfo }>();

  constructor(
    private readonly mailboxDir: string,
    private readonly files: { meta: string; data: string },
    private readonly fsx: FsContext,
  ) {}

  private debug(message: string): void {
    this.fsx.log('debug', `cache ${this.files.meta}: ${message}`);
  }

  /** Read roost.cache for a mailbox with this UIDVALIDITY (anything else starts a new cache). */
  async load(uidValidity: number): Promise<void> {
    this.uidValidity = uidValidity;
    this.loaded = true;
    let text: string;
    try {
      text = await fs.readFile(this.files.meta, 'utf8');
    } catch (err) {
      if (!isNotFound(err)) this.debug(`unreadable, rebuilding: ${String(err)}`);
      await this.reset();
      return;
    }
    const lines = text.split('\n');
    const head = lines[0].split('\t');
    if (head[0] !== 'H' || head[1] !== 'roost-cache' || head[2] !== VERSION || Number(head[3]) !== uidValidity || !head[4]) {
      this.debug('stale or foreign header, rebuilding');
      await this.reset();
      return;
    }
    this.generation = head[4];
    const dataOk = await this.checkData();
    if (!dataOk) await this.newDataFile();
    let bad = 0;
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i];
      if (line === '') continue;
      const f = line.split('\t');
      this.metaLines++;
      if (f[0] === 'M' && f.length === 5) {
        const uid = Number(f[1]);
        const mtime = Number(f[2]);
        const vsize = Number(f[3]);
        if (uid > 0 && Number.isFinite(mtime) && vsize >= 0) {
          this.meta.set(unescapeBase(f[4]), { uid, mtime, vsize });
          continue;
        }
      } else if (f[0] === 'P' && f.length === 5) {
        const uid = Number(f[1]);
        const offset = Number(f[2]);
        const length = Number(f[3]);
        if (uid > 0 && offset > 0 && length > 0) {
          if (dataOk && offset + length <= this.dataSize) {
            const old = this.locations.get(uid);
            if (old) this.dataLiveBytes -= old.length;
            this.locations.set(uid, { offset, length, base: unescapeBase(f[4]) });
            this.dataLiveBytes += length;
          }
          continue;
        }
      }
      bad++;
    }
    if (bad > 0) this.debug(`${bad} corrupt line(s) skipped`);
  }

  private async checkData(): Promise<boolean> {
    try {
      const handle = await fs.open(this.files.data, FS.O_RDONLY);
      try {
        const buf = Buffer.alloc(200);
        const { bytesRead } = await handle.read(buf, 0, 200, 0);
        const first = buf.subarray(0, bytesRead).toString('utf8').split('\n')[0].split('\t');
        this.dataSize = (await handle.stat()).size;
        return first[0] === 'H' && first[1] === 'roost-cache-data' && first[3] === String(this.uidValidity) && first[4] === this.generation;
      } finally {
        await handle.close();
      }
    } catch {
      this.dataSize = 0;
      return false;
    }
  }

  private async newDataFile(): Promise<void> {
    const dataHead = `H\troost-cache-data\t${VERSION}\t${this.uidValidity}\t${this.generation}\n`;
    try {
      await this.fsx.writeAtomic(this.files.data, dataHead);
      this.dataSize = Buffer.byteLength(dataHead);
    } catch (err) {
      this.disable(err);
    }
  }

  /** Start new, empty cache files. */
  private async reset(): Promise<void> {
    this.generation = crypto.randomBytes(8).toString('hex');
    this.meta.clear();
    this.locations.clear();
    this.lru.clear();
    this.firstRecent = undefined;
    this.pendingMeta = [];
    this.pendingBytes = 0;
    this.metaLines = 0;
    this.dataLiveBytes = 0;
    try {
      if (path.dirname(this.files.meta) !== this.mailboxDir) await this.fsx.mkdirp(path.dirname(this.files.meta));
      await this.newDataFile();
      await this.fsx.writeAtomic(this.files.meta, this.metaHeader());
    } catch (err) {
      this.disable(err);
    }
  }

  private metaHeader(): string {
    return `H\troost-cache\t${VERSION}\t${this.uidValidity}\t${this.generation}\t${escapeBase(this.mailboxDir)}\n`;
  }

  private disable(err: unknown): void {
    if (!this.disabled) this.fsx.log('warn', `Roost cache ${this.files.meta} disabled: ${String(err)}`);
    this.disabled = true;
  }

  /** Cached mtime/vsize of a base name while the index is being built. */
  lookupMeta(base: string, uid: number): MetaEntry | undefined {
    const m = this.meta.get(base);
    return m && m.uid === uid ? m : undefined;
  }

  /** The meta map is only needed to build the index; the index then holds the values. */
  releaseMeta(): void {
    this.meta = new Map();
  }

  get firstRecentUid(): number | undefined {
    return this.firstRecent;
  }

  async loadFirstRecentUid(): Promise<number | undefined> {
    this.firstRecent = await readFirstRecentUid(this.files, this.uidValidity);
    return this.firstRecent;
  }

  async setFirstRecentUid(uid: number): Promise<void> {
    if (this.firstRecent === uid || this.disabled) return;
    this.firstRecent = uid;
    try {
      await writeFirstRecentUid(this.files, this.uidValidity, uid, this.fsx);
    } catch (err) {
      this.disable(err);
    }
  }

  recordMeta(uid: number, base: string, mtime: number, vsize: number): void {
    this.queue(`M\t${uid}\t${mtime}\t${vsize}\t${escapeBase(base)}\n`);
  }

  private queue(line: string): void {
    if (this.disabled || !this.loaded) return;
    this.pendingMeta.push(line);
    this.pendingBytes += line.length;
    this.metaLines++;
    if (this.pendingBytes >= FLUSH_BYTES) void this.flush();
  }

  /** Write queued records (called at the end of each mailbox operation). */
  flush(): Promise<void> {
    if (this.disabled || this.pendingMeta.length === 0) return this.flushing;
    const text = this.pendingMeta.join('');
    this.pendingMeta = [];
    this.pendingBytes = 0;
    // Appends are chained so records keep their order.
    this.flushing = this.flushing.then(async () => {
      if (this.disabled) return;
      try {
        await fs.appendFile(this.files.meta, text);
      } catch (err) {
        this.disable(err);
      }
    });
    return this.flushing;
  }

  /** Parsed info of uid/base, from the LRU or the data file. */
  async getInfo(uid: number, base: string): Promise<MessageInfo | undefined> {
    const hit = this.lru.get(uid);
    if (hit && hit.base === base) {
      this.lru.delete(uid);
      this.lru.set(uid, hit);
      return hit.info;
    }
    const loc = this.locations.get(uid);
    if (!loc || loc.base !== base || this.disabled) return undefined;
    try {
      const handle = await fs.open(this.files.data, FS.O_RDONLY);
      let buf: Buffer;
      try {
        buf = Buffer.alloc(loc.length);
        const { bytesRead } = await handle.read(buf, 0, loc.length, loc.offset);
        if (bytesRead !== loc.length) throw new Error('short read');
      } finally {
        await handle.close();
      }
      const f = buf.toString('utf8').replace(/\n$/, '').split('\t');
      if (f.length !== 5 || Number(f[0]) !== uid || unescapeBase(f[1]) !== base) throw new Error('record does not match');
      const info: MessageInfo = {
        physicalSize: Number(f[2]),
        header: Buffer.from(f[3], 'base64'),
        structure: JSON.parse(f[4]) as MimePart,
      };
      this.remember(uid, base, info);
      return info;
    } catch (err) {
      this.debug(`info of uid ${uid} unusable (${String(err)}), parsing again`);
      this.locations.delete(uid);
      return undefined;
    }
  }

  private remember(uid: number, base: string, info: MessageInfo): void {
    this.lru.set(uid, { base, info });
    if (this.lru.size > INFO_LRU) this.lru.delete(this.lru.keys().next().value as number);
  }

  async putInfo(uid: number, base: string, info: MessageInfo): Promise<void> {
    this.remember(uid, base, info);
    if (this.disabled || !this.loaded) return;
    const record = `${uid}\t${escapeBase(base)}\t${info.physicalSize}\t${info.header.toString('base64')}\t${JSON.stringify(info.structure)}\n`;
    const bytes = Buffer.from(record, 'utf8');
    // Appends are serialized: the offset of each record is the file size before it.
    const write = this.dataChain.then(async () => {
      if (this.disabled) return;
      try {
        const handle = await fs.open(this.files.data, FS.O_WRONLY | FS.O_APPEND);
        let offset: number;
        try {
          offset = (await handle.stat()).size;
          await handle.write(bytes);
        } finally {
          await handle.close();
        }
        this.dataSize = offset + bytes.length;
        const old = this.locations.get(uid);
        if (old) this.dataLiveBytes -= old.length;
        this.locations.set(uid, { offset, length: bytes.length, base });
        this.dataLiveBytes += bytes.length;
        this.queue(`P\t${uid}\t${offset}\t${bytes.length}\t${escapeBase(base)}\n`);
      } catch (err) {
        this.disable(err);
      }
    });
    this.dataChain = write;
    await write;
  }

  forget(uids: Iterable<number>): void {
    for (const uid of uids) {
      const loc = this.locations.get(uid);
      if (loc) {
        this.dataLiveBytes -= loc.length;
        this.locations.delete(uid);
      }
      this.lru.delete(uid);
    }
  }

  /**
   * Rewrite both files when they are mostly garbage. `live` lists the messages of the index
   * (uid, base, mtime, vsize).
   */
  async compactIfNeeded(live: readonly { uid: number; base: string; mtime: number; vsize: number }[]): Promise<void> {
    if (this.disabled || !this.loaded) return;
    const metaBloated = this.metaLines > 2 * (live.length + this.locations.size) + 1000;
    const dataBloated = this.dataSize > 2 * this.dataLiveBytes + 1024 * 1024;
    if (!metaBloated && !dataBloated) return;
    await this.dataChain;
    await this.flush();
    const generation = crypto.randomBytes(8).toString('hex');
    try {
      const liveUids = new Set(live.map((m) => m.uid));
      const newLocations = new Map<number, Location & { base: string }>();
      let dataSize = 0;
      let metaText = '';
      const tmpData = `${this.files.data}.${uniqueSuffix()}.tmp`;
      const src = await fs.open(this.files.data, FS.O_RDONLY).catch(() => undefined);
      const out = await fs.open(tmpData, FS.O_CREAT | FS.O_EXCL | FS.O_WRONLY, 0o600);
      try {
        await this.fsx.fchownNew(out, path.dirname(tmpData));
        const head = Buffer.from(`H\troost-cache-data\t${VERSION}\t${this.uidValidity}\t${generation}\n`);
        await out.write(head);
        dataSize = head.length;
        if (src) {
          for (const [uid, loc] of this.locations) {
            if (!liveUids.has(uid)) continue;
            const buf = Buffer.alloc(loc.length);
            const { bytesRead } = await src.read(buf, 0, loc.length, loc.offset);
            if (bytesRead !== loc.length) continue;
            await out.write(buf);
            newLocations.set(uid, { offset: dataSize, length: loc.length, base: loc.base });
            metaText += `P\t${uid}\t${dataSize}\t${loc.length}\t${escapeBase(loc.base)}\n`;
            dataSize += loc.length;
          }
        }
        await out.sync();
      } finally {
        await out.close();
        await src?.close();
      }
      this.generation = generation;
      let meta = this.metaHeader();
      for (const m of live) meta += `M\t${m.uid}\t${m.mtime}\t${m.vsize}\t${escapeBase(m.base)}\n`;
      meta += metaText;
      // Data first: a crash in between leaves a meta file of the old generation, which then
      // simply ignores the new data file.
      await fs.rename(tmpData, this.files.data);
      await this.fsx.writeAtomic(this.files.meta, meta);
      this.locations = newLocations;
      this.dataSize = dataSize;
      this.dataLiveBytes = dataSize;
      this.metaLines = live.length + newLocations.size + 1;
      this.debug(`compacted (${live.length} messages)`);
    } catch (err) {
      this.disable(err);
    }
  }

  /** Remove the cache files (mailbox deleted). */
  static async remove(files: { meta: string; data: string }): Promise<void> {
    await fs.unlink(files.meta).catch(() => {});
    await fs.unlink(files.data).catch(() => {});
    await fs.unlink(recentPath(files)).catch(() => {});
  }
}

function recentPath(files: { meta: string }): string {
  return files.meta + '.recent';
}

export async function writeFirstRecentUid(files: { meta: string }, uidValidity: number, uid: number, fsx: FsContext): Promise<void> {
  await fsx.mkdirp(path.dirname(files.meta));
  await fsx.writeAtomic(recentPath(files), `${uidValidity} ${uid}\n`);
}

/** The persisted first recent uid for a mailbox with this UIDVALIDITY, if any. */
export async function readFirstRecentUid(files: { meta: string }, uidValidity: number): Promise<number | undefined> {
  try {
    const [uv, uid] = (await fs.readFile(recentPath(files), 'latin1')).trim().split(' ').map(Number);
    return uv === uidValidity && Number.isInteger(uid) && uid > 0 ? uid : undefined;
  } catch {
    return undefined;
  }
}
