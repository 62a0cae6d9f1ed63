// Watching single directories for the maildir watcher: one inotify watch per directory through
// node:fs.watch, or, where that is unavailable, polling the directory's mtime.
//
// Why node:fs.watch and not a file-watching library: a notification is only a hint here. Every
// hint makes the watcher rescan the mailbox (storage's sync compares the directories with its
// index and finds out exactly what changed), so the per-file bookkeeping, stat caches and event
// normalization a library keeps would duplicate that work (and, for a 50,000-file cur/, cost
// memory). What we need from the kernel is "something in this directory changed, probably this
// name", which is exactly what inotify gives.
//
// Fallback: when inotify cannot be used (ENOSPC: fs.inotify.max_user_watches reached; EMFILE/
// ENFILE: fs.inotify.max_user_instances or descriptors; ENOSYS/EPERM/EINVAL: no inotify on this
// file system or platform), the directory is polled: its mtime is compared every `pollMs`. The
// first fallback is logged once with the reason and the interval.

import fs from 'node:fs';

/** Called with the name inside the directory that changed, or null when unknown (polling, overflow). */
export type HintFn = (name: string | null) => void;

export interface DirWatch {
  readonly dir: string;
  /** True when this directory is polled instead of watched. */
  readonly polling: boolean;
  close(): void;
}

export interface DirWatchersOptions {
  /** 'auto': inotify, polling where it fails; 'poll': poll everything (tests, network file systems). */
  mode: 'auto' | 'poll';
  /** Polling interval (ms). */
  pollMs: number;
  log: (level: 'debug' | 'info' | 'warn' | 'error', message: string) => void;
}

/** A directory whose mtime is younger than this may still change within the same clock tick: poll it again. */
const UNSETTLED_MS = 1000;

/** Errors from fs.watch that mean "inotify is not available here": fall back to polling. */
const FALLBACK_CODES = new Set(['ENOSPC', 'EMFILE', 'ENFILE', 'ENOSYS', 'EPERM', 'EINVAL', 'ENOTSUP', 'EOPNOTSUPP', 'ERR_FEATURE_UNAVAILABLE_ON_PLATFORM']);

interface Polled {
  dir: string;
  hint: HintFn;
  mtimeNs: bigint | null;
  closed: boolean;
}

function mtimeOf(dir: string): bigint | null {
  try {
    const st = fs.statSync(dir, { bigint: true, throwIfNoEntry: false });
    return st ? st.mtimeNs : null;
  } catch {
    return null;
  }
}

function reasonOf(code: string): string {
  switch (code) {
    case 'ENOSPC':
      return 'the inotify watch limit is reached (raise fs.inotify.max_user_watches)';
    case 'EMFILE':
    case 'ENFILE':
      return 'the inotify instance or file descriptor limit is reached (raise fs.inotify.max_user_instances or ulimit -n)';
    default:
      return `inotify is unavailable (${code})`;
  }
}

export class DirWatchers {
  private readonly polled = new Set<Polled>();
  private pollTimer: NodeJS.Timeout | null = null;
  private announcedFallback = false;
  private closed = false;
  /** Directories watched with inotify / polled, for the log and tests. */
  watching = 0;

  constructor(private readonly opts: DirWatchersOptions) {}

  get pollingCount(): number {
    return this.polled.size;
  }

  /**
   * Watch `dir`; `hint` is called for each change inside it (and with the directory's own name
   * when it is removed or renamed away). Returns undefined when the directory does not exist.
   */
  watch(dir: string, hint: HintFn): DirWatch | undefined {
    if (this.closed) return undefined;
    if (this.opts.mode === 'poll') return this.poll(dir, hint, null);
    let watcher: fs.FSWatcher;
    try {
      // persistent: false: watching never keeps the worker thread alive on its own.
      watcher = fs.watch(dir, { persistent: false, encoding: 'utf8' }, (_event, name) => hint(typeof name === 'string' ? name : null));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? '';
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      if (FALLBACK_CODES.has(code)) return this.poll(dir, hint, code);
      this.opts.log('warn', `cannot watch ${dir} (${String(err)}); polling it every ${this.opts.pollMs} ms`);
      return this.poll(dir, hint, null);
    }
    this.watching++;
    let closed = false;
    let fallback: DirWatch | undefined;
    const handle: DirWatch = {
      dir,
      get polling() {
        return fallback !== undefined;
      },
      close: () => {
        if (closed) return;
        closed = true;
        this.watching--;
        watcher.close();
        fallback?.close();
      },
    };
    watcher.on('error', (err: NodeJS.ErrnoException) => {
      // The directory went away, or inotify gave up on it: poll it from now on (the owner finds
      // out from the hint whether it still exists and closes us if not).
      if (closed) return;
      watcher.close();
      fallback = this.poll(dir, hint, err.code && FALLBACK_CODES.has(err.code) ? err.code : null);
      hint(null);
    });
    return handle;
  }

  private poll(dir: string, hint: HintFn, code: string | null): DirWatch | undefined {
    const mtimeNs = mtimeOf(dir);
    if (mtimeNs === null) return undefined;
    if (code && !this.announcedFallback) {
      this.announcedFallback = true;
      this.opts.log('warn', `maildir watcher: ${reasonOf(code)}; polling directories every ${this.opts.pollMs} ms instead (first: ${dir})`);
    }
    const p: Polled = { dir, hint, mtimeNs, closed: false };
    this.polled.add(p);
    this.watching++;
    if (!this.pollTimer) {
      this.pollTimer = setInterval(() => this.pollAll(), this.opts.pollMs);
      this.pollTimer.unref();
    }
    return {
      dir,
      polling: true,
      close: () => {
        if (p.closed) return;
        p.closed = true;
        this.watching--;
        this.polled.delete(p);
        if (this.polled.size === 0 && this.pollTimer) {
          clearInterval(this.pollTimer);
          this.pollTimer = null;
        }
      },
    };
  }

  private pollAll(): void {
    const now = BigInt(Date.now()) * 1_000_000n;
    for (const p of [...this.polled]) {
      if (p.closed) continue;
      const m = mtimeOf(p.dir);
      // A change within the same clock tick as the last one leaves the mtime unchanged: while
      // the mtime is recent, hint again (the rescan is cheap when nothing changed).
      const unsettled = m !== null && now - m < BigInt(UNSETTLED_MS) * 1_000_000n;
      if (m !== p.mtimeNs || unsettled) {
        p.mtimeNs = m;
        try {
          p.hint(null);
        } catch (err) {
          this.opts.log('error', `maildir watcher: hint for ${p.dir} failed: ${String(err)}`);
        }
      }
    }
  }

  close(): void {
    this.closed = true;
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.pollTimer = null;
    this.polled.clear();
  }
}
