// Turns a stream of hints ("this mailbox may have changed") into as few syncs as possible
// without delaying the first one:
// - a hint while nothing runs starts a sync at once (the first delivery after a quiet spell
//   reaches IDLE clients with no added delay);
// - hints while a sync runs are remembered, and one more sync follows when it ends (a change
//   made after the running sync read the directory is not lost);
// - syncs start at least `minGapMs` apart, so a burst (1,000 deliveries in a second) becomes a
//   few dozen syncs at most, each picking up everything that arrived meanwhile.
// A hint may carry a check ("is the index already right about this file?"): when every check
// says so, no sync is needed (e.g. the notifications for Roost's own renames). Checks of hints
// that arrive during a sync are evaluated after it, against the updated index.

/** Returns true when a sync is needed. */
export type HintCheck = () => boolean;

/** More deferred checks than this: sync without checking them. */
const MAX_DEFERRED = 256;

export class SyncGate {
  private running = false;
  /** A sync must follow the running one. */
  private again = false;
  /** Checks of hints that arrived while a sync ran. */
  private deferred: HintCheck[] = [];
  private timer: NodeJS.Timeout | null = null;
  private lastStart = -Infinity;
  private closed = false;
  private current: Promise<void> | null = null;
  /** Syncs started (for the log and tests). */
  syncs = 0;

  constructor(
    private readonly run: () => Promise<void>,
    private readonly minGapMs: number,
    private readonly onError: (err: unknown) => void,
  ) {}

  get busy(): boolean {
    return this.running || this.timer !== null;
  }

  /** Something may have changed; `check` (optional) says whether a sync is really needed. */
  hint(check?: HintCheck): void {
    if (this.closed) return;
    if (this.running) {
      if (this.again) return;
      if (!check || this.deferred.length >= MAX_DEFERRED) {
        this.again = true;
        this.deferred = [];
      } else {
        this.deferred.push(check);
      }
      return;
    }
    if (this.timer) return;
    if (check && !safeCheck(check)) return;
    this.schedule();
  }

  private schedule(): void {
    const wait = this.lastStart + this.minGapMs - performance.now();
    if (wait <= 0) {
      this.start();
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = null;
      if (!this.closed) this.start();
    }, wait);
  }

  private start(): void {
    this.running = true;
    this.again = false;
    this.deferred = [];
    this.lastStart = performance.now();
    this.syncs++;
    let p: Promise<void>;
    try {
      p = this.run();
    } catch (err) {
      p = Promise.reject(err);
    }
    this.current = p
      .catch((err: unknown) => this.onError(err))
      .finally(() => {
        this.running = false;
        this.current = null;
        if (this.closed) return;
        const deferred = this.deferred;
        this.deferred = [];
        if (this.again || deferred.some(safeCheck)) this.schedule();
      });
  }

  /** Resolves when no sync runs or waits (tests). */
  async settled(): Promise<void> {
    while (this.running || this.timer) {
      if (this.current) await this.current;
      else await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** No more syncs; waits for a running one. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.current) await this.current;
  }
}

function safeCheck(check: HintCheck): boolean {
  try {
    return check();
  } catch {
    return true;
  }
}
