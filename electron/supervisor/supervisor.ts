// The supervisor: owns the mail server worker thread. Starts, stops and restarts it, relays its events,
// and keeps the rest of the process (Electron main, or the headless CLI) alive when the worker crashes.
//
// States:
//   stopped  -> start() -> starting -> running
//   running  -> stop()  -> stopping -> stopped      (sessions get `* BYE`, then the worker exits)
//   running  -> worker dies unasked -> crashed -> (backoff) -> starting -> running
//   crashed  -> too many crashes within a minute -> failed   (no more restarts until start() is called)
// Operations are serialized: a stop() issued during a start() runs after it.
//
// Everything the supervisor has to say goes out as ServerEvents too ('error', and 'log' records from the
// 'master' service, in Dovecot's style), so consumers handle one stream.
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { Worker } from 'node:worker_threads';
import type { LogLevel, ServerEvent } from '../shared/events.js';
import type { ServerSettings } from '../shared/settings-types.js';
import type { ViewerOp, ViewerRequest, ViewerRequestOf, ViewerResultOf } from '../shared/viewer-types.js';
import {
  isWorkerToSupervisor, type WorkerOp, type WorkerOps, type WorkerRequest, type WorkerStatus,
} from '../shared/worker-messages.js';

/**
 * V8 heap limits of the server worker, for memory: the default young generation (up to
 * 3 x 16 MB) is replaced by 8 MB, which saves ~25 MB of RSS and measured no slower (the
 * server's objects are either short-lived or kept for good). The old generation's cap only
 * matters for how far V8 lets garbage grow between full collections: with a cap of 2 GB or
 * more it lets the heap grow 4-fold, under 2 GB about 2-fold (measured: ~25 MB less RSS with a
 * 10,000-message mailbox). It never raises the default (which depends on the machine's memory).
 */
function workerHeapLimits(): { maxYoungGenerationSizeMb: number; maxOldGenerationSizeMb?: number } {
  const defaultMb = Math.floor(getHeapStatistics().heap_size_limit / (1024 * 1024));
  return { maxYoungGenerationSizeMb: 8, ...(defaultMb > WORKER_OLD_GENERATION_MB ? { maxOldGenerationSizeMb: WORKER_OLD_GENERATION_MB } : {}) };
}
const WORKER_OLD_GENERATION_MB = 2000;

/**
 * V8 compiles a function to optimized code once it has run a budget of bytecode (132 KB by
 * default; feedback for that is only collected from a function's ninth call on). A mail server
 * runs the same short command paths again and again, each pass small, so the default leaves
 * them slow for thousands of commands: 200 FETCH BODY.PEEK[] one at a time took a fresh
 * worker 25-35 ms of CPU per 200 for the first ~2,000 fetches and 6-12 ms once warm. With an
 * 8 KB budget and feedback from the first call, the benchmark's body rows, which come after a
 * few thousand other commands, ran at warm speed (at 10,000 messages: one at a time ~45 ->
 * 26-44 ms, pipelined ~9-11 -> 6 ms). Cost: about 2-4 MB more RSS (more optimized code and
 * feedback). The flags are process-wide and must be set before the worker's isolate exists;
 * they override the same flags given to node. ROOST_V8_DEFAULTS=1 leaves V8's defaults.
 */
let jitTuned = false;
function tuneJit(): void {
  if (jitTuned || process.env.ROOST_V8_DEFAULTS === '1') return;
  jitTuned = true;
  try {
    setFlagsFromString('--interrupt-budget=8000');
    setFlagsFromString('--no-lazy-feedback-allocation');
  } catch {
    // a runtime without these flags: V8's defaults
  }
}

export type SupervisorState = 'stopped' | 'starting' | 'running' | 'stopping' | 'crashed' | 'failed';

export interface SupervisorStatus {
  state: SupervisorState;
  /** Where the server listens, while running. */
  host?: string;
  port?: number;
  /** Open client connections (as last reported). */
  connections: number;
  /** Crash restarts within the last minute. */
  restarts: number;
  /** What went wrong last (crash, failed start), for display. */
  lastError?: string;
  lastErrorCode?: string;
  /** When the state last changed (ms since epoch). */
  since: number;
}

export interface RestartPolicy {
  /** Crashes tolerated within 60 seconds; one more and the supervisor gives up (state 'failed'). */
  maxRestartsPerMinute: number;
  /** Delay before the first restart; doubles with each further crash in the window. */
  initialDelayMs: number;
  maxDelayMs: number;
}

export interface SupervisorOptions {
  settings: ServerSettings;
  /** The worker script. Default: worker.js next to this module (out/worker.js in the bundle). */
  workerScript?: URL | string;
  restart?: Partial<RestartPolicy>;
  /** How long a graceful stop may take before the worker is terminated. */
  stopTimeoutMs?: number;
  /** How long the worker may take to start listening. */
  startTimeoutMs?: number;
  /** Timeout for other requests (status). */
  requestTimeoutMs?: number;
}

export type SupervisorErrorCode =
  /** The server could not start; `cause` holds the worker's code (EADDRINUSE, EACCES, ...). */
  | 'START_FAILED'
  /** The worker exited while a request was pending. */
  | 'WORKER_EXITED'
  /** The worker did not answer in time. */
  | 'TIMEOUT'
  /** A request needs a running worker. */
  | 'NOT_RUNNING'
  /** The worker answered a request with an error. */
  | 'REQUEST_FAILED';

export class SupervisorError extends Error {
  readonly code: SupervisorErrorCode;
  /** Errno-style code from the worker (EADDRINUSE, EACCES, ...), when there is one. */
  readonly causeCode?: string;
  constructor(code: SupervisorErrorCode, message: string, causeCode?: string) {
    super(message);
    this.name = 'SupervisorError';
    this.code = code;
    this.causeCode = causeCode;
  }
}

const DEFAULT_POLICY: RestartPolicy = { maxRestartsPerMinute: 5, initialDelayMs: 500, maxDelayMs: 30_000 };

interface Pending {
  resolve: (value: WorkerOps[WorkerOp]['result']) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

interface WorkerHandle {
  worker: Worker;
  /** Set when we asked it to go: its exit is not a crash. */
  exitExpected: boolean;
  exited: Promise<number>;
  lastError?: Error;
}

type Listener<T> = (value: T) => void;

export class Supervisor {
  private settings: ServerSettings;
  private readonly script: URL | string;
  private readonly policy: RestartPolicy;
  private readonly stopTimeoutMs: number;
  private readonly startTimeoutMs: number;
  private readonly requestTimeoutMs: number;

  private current: WorkerHandle | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private queue: Promise<unknown> = Promise.resolve();
  private restartTimer: NodeJS.Timeout | null = null;
  private crashTimes: number[] = [];
  private status: SupervisorStatus = { state: 'stopped', connections: 0, restarts: 0, since: Date.now() };
  private readonly openSessions = new Set<string>();
  private readonly eventListeners = new Set<Listener<ServerEvent>>();
  private readonly statusListeners = new Set<Listener<SupervisorStatus>>();

  constructor(options: SupervisorOptions) {
    this.settings = options.settings;
    this.script = options.workerScript ?? new URL('./worker.js', import.meta.url);
    this.policy = { ...DEFAULT_POLICY, ...options.restart };
    this.stopTimeoutMs = options.stopTimeoutMs ?? 10_000;
    this.startTimeoutMs = options.startTimeoutMs ?? 30_000;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
  }

  /** Subscribe to the worker's events (and the supervisor's own 'error'/'log' events). Returns an unsubscribe function. */
  onEvent(listener: Listener<ServerEvent>): () => void {
    this.eventListeners.add(listener);
    return () => this.eventListeners.delete(listener);
  }

  /** Subscribe to status changes. Returns an unsubscribe function. */
  onStatus(listener: Listener<SupervisorStatus>): () => void {
    this.statusListeners.add(listener);
    return () => this.statusListeners.delete(listener);
  }

  /** The last known status, without asking the worker. */
  snapshot(): SupervisorStatus {
    return { ...this.status, restarts: this.recentCrashes() };
  }

  /** Current status; while running, asks the worker for its live connection count. */
  async getStatus(): Promise<SupervisorStatus> {
    if (this.status.state === 'running' && this.current) {
      try {
        const s = await this.request('status', {});
        this.status = { ...this.status, connections: s.connections };
      } catch {
        // The worker is going away; the snapshot is the best answer.
      }
    }
    return this.snapshot();
  }

  /** Settings the next (re)start uses. Does not restart a running server: call restart() for that. */
  setSettings(settings: ServerSettings): void {
    this.settings = settings;
  }

  /**
   * Starts the server (no-op when running). Resolves once it listens; rejects with SupervisorError
   * ('START_FAILED', causeCode e.g. 'EADDRINUSE') when it cannot, leaving the state 'stopped'.
   */
  start(settings?: ServerSettings): Promise<SupervisorStatus> {
    if (settings) this.settings = settings;
    return this.serialize(async () => {
      this.cancelRestart();
      if (this.status.state === 'running' && this.current) return this.snapshot();
      this.crashTimes = [];
      await this.launch(false);
      return this.snapshot();
    });
  }

  /** Stops the server gracefully (sessions get `* BYE <reason>`), terminating the worker after stopTimeoutMs. */
  stop(reason?: string): Promise<SupervisorStatus> {
    return this.serialize(async () => {
      this.cancelRestart();
      await this.shutdown(reason);
      this.crashTimes = [];
      this.setState('stopped', { host: undefined, port: undefined });
      return this.snapshot();
    });
  }

  /** Stops (if running) and starts again, e.g. with new settings. */
  restart(settings?: ServerSettings): Promise<SupervisorStatus> {
    if (settings) this.settings = settings;
    return this.serialize(async () => {
      this.cancelRestart();
      await this.shutdown('Server restarting.');
      this.crashTimes = [];
      await this.launch(false);
      return this.snapshot();
    });
  }

  /** Sends a request to the running worker and waits for its reply. */
  request<K extends WorkerOp>(op: K, params: WorkerOps[K]['params'], timeoutMs = this.requestTimeoutMs): Promise<WorkerOps[K]['result']> {
    const handle = this.current;
    if (!handle) return Promise.reject(new SupervisorError('NOT_RUNNING', 'the server is not running'));
    const id = this.nextId++;
    return new Promise<WorkerOps[K]['result']>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new SupervisorError('TIMEOUT', `the server did not answer '${op}' within ${timeoutMs} ms`));
      }, timeoutMs);
      // The worker answers request id with op's result type (see worker-messages.ts).
      this.pending.set(id, { resolve: resolve as (value: WorkerOps[WorkerOp]['result']) => void, reject, timer });
      const message = { kind: 'request', id, op, params } as WorkerRequest;
      handle.worker.postMessage(message);
    });
  }

  /**
   * A mailbox viewer request (shared/viewer-types.ts), answered by the worker through the server's
   * own storage. Rejects with SupervisorError: NOT_RUNNING when stopped, REQUEST_FAILED with the
   * viewer's or storage's code in causeCode (VIEWER_NO_MESSAGE, NONEXISTENT, ...).
   * The first page of a big mailbox may need a few seconds (dates found out once), hence the timeout.
   */
  viewer<K extends ViewerOp>(request: ViewerRequestOf<K>, timeoutMs = Math.max(this.requestTimeoutMs, 120_000)): Promise<ViewerResultOf<K>> {
    // ViewerRequestOf<K> is one member of the ViewerRequest union; TypeScript cannot see that for a generic K.
    return this.request('viewer', request as unknown as ViewerRequest, timeoutMs) as Promise<ViewerResultOf<K>>;
  }

  // ------------------------------------------------------------------------------------------

  private serialize<T>(op: () => Promise<T>): Promise<T> {
    const run = this.queue.then(op, op);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private recentCrashes(now = Date.now()): number {
    this.crashTimes = this.crashTimes.filter((t) => now - t < 60_000);
    return this.crashTimes.length;
  }

  private setState(state: SupervisorState, extra: Partial<SupervisorStatus> = {}): void {
    this.status = { ...this.status, ...extra, state, since: Date.now() };
    if (state !== 'running') {
      this.status.connections = 0;
      this.openSessions.clear();
    }
    const snap = this.snapshot();
    for (const l of this.statusListeners) this.safeCall(l, snap);
  }

  private emit(event: ServerEvent): void {
    for (const l of this.eventListeners) this.safeCall(l, event);
  }

  private safeCall<T>(listener: Listener<T>, value: T): void {
    try {
      listener(value);
    } catch {
      // A faulty listener must not take the supervisor down.
    }
  }

  private log(level: LogLevel, message: string): void {
    this.emit({ type: 'log', record: { level, service: 'master', message, time: Date.now() } });
  }

  /** Spawns a worker and asks it to start. `automatic` = a restart after a crash. */
  private async launch(automatic: boolean): Promise<void> {
    this.setState('starting');
    const handle = this.spawn();
    let result: WorkerStatus;
    try {
      result = await this.request('start', { settings: this.settings }, this.startTimeoutMs);
    } catch (e) {
      const cause = e instanceof SupervisorError ? e : new SupervisorError('REQUEST_FAILED', String(e));
      // A worker whose start failed is of no further use.
      await this.dispose(handle, 0);
      const code = cause.causeCode ?? (cause.code === 'REQUEST_FAILED' ? undefined : cause.code);
      const err = new SupervisorError('START_FAILED', cause.message, code);
      if (!automatic) this.setState('stopped', { lastError: err.message, lastErrorCode: code, host: undefined, port: undefined });
      throw err;
    }
    this.setState('running', { host: result.host, port: result.port, connections: result.connections, lastError: this.status.lastError });
  }

  private spawn(): WorkerHandle {
    tuneJit();
    const worker = new Worker(this.script, { resourceLimits: workerHeapLimits() });
    let resolveExit!: (code: number) => void;
    const handle: WorkerHandle = { worker, exitExpected: false, exited: new Promise<number>((r) => { resolveExit = r; }) };
    this.current = handle;
    worker.on('message', (message: unknown) => {
      if (this.current === handle) this.onWorkerMessage(message);
    });
    worker.on('error', (error: Error) => {
      // An uncaught exception in the worker; 'exit' follows.
      handle.lastError = error;
    });
    worker.on('exit', (code: number) => {
      resolveExit(code);
      if (this.current !== handle) return;
      this.current = null;
      this.failPending(new SupervisorError('WORKER_EXITED', handle.lastError ? `the server crashed: ${handle.lastError.message}` : `the server exited with code ${code}`, 'WORKER_EXITED'));
      if (!handle.exitExpected) this.onCrash(handle, code);
    });
    return handle;
  }

  private onWorkerMessage(message: unknown): void {
    if (!isWorkerToSupervisor(message)) return;
    if (message.kind === 'reply') {
      const p = this.pending.get(message.id);
      if (!p) return;
      this.pending.delete(message.id);
      clearTimeout(p.timer);
      if (message.ok) p.resolve(message.result);
      else p.reject(new SupervisorError('REQUEST_FAILED', message.error.message, message.error.code));
      return;
    }
    const event = message.event;
    switch (event.type) {
      case 'listening':
        this.status = { ...this.status, host: event.host, port: event.port };
        break;
      case 'connection-opened':
        this.openSessions.add(event.session);
        this.status.connections = this.openSessions.size;
        break;
      case 'connection-closed':
        this.openSessions.delete(event.session);
        this.status.connections = this.openSessions.size;
        break;
      default:
        break;
    }
    this.emit(event);
  }

  private failPending(error: Error): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(error);
      this.pending.delete(id);
    }
  }

  private onCrash(handle: WorkerHandle, code: number): void {
    const why = handle.lastError ? `${handle.lastError.name}: ${handle.lastError.message}` : `exit code ${code}`;
    const message = `The mail server crashed (${why})`;
    this.status = { ...this.status, lastError: message, lastErrorCode: 'WORKER_CRASHED' };
    // Dovecot's master says e.g. "service(imap): child 1234 returned error 89"; same spirit here.
    this.log('error', `service(imap): worker ${handle.worker.threadId} ${handle.lastError ? `died: ${why}` : `returned error ${code}`}`);
    this.emit({ type: 'error', message, code: 'WORKER_CRASHED', time: Date.now() });
    // A crash while starting is handled by launch()'s caller (the failed start request).
    if (this.status.state === 'running') this.scheduleRestart();
  }

  private scheduleRestart(): void {
    const now = Date.now();
    this.crashTimes.push(now);
    const n = this.recentCrashes(now);
    if (n > this.policy.maxRestartsPerMinute) {
      const message = `The mail server crashed ${n} times within a minute; not restarting it. Fix the cause (see the log), then start it again.`;
      this.log('error', `service(imap): ${n} crashes in 60 secs, giving up (${this.status.lastError ?? 'unknown error'})`);
      this.setState('failed', { host: undefined, port: undefined });
      this.emit({ type: 'error', message, code: 'WORKER_GAVE_UP', time: Date.now() });
      return;
    }
    const delay = Math.min(this.policy.initialDelayMs * 2 ** (n - 1), this.policy.maxDelayMs);
    this.setState('crashed', { host: undefined, port: undefined });
    this.log('warn', `service(imap): restarting in ${(delay / 1000).toFixed(1)} secs (crash ${n} of at most ${this.policy.maxRestartsPerMinute} per minute)`);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      this.serialize(async () => {
        if (this.status.state !== 'crashed') return; // stop() or start() happened meanwhile
        try {
          await this.launch(true);
          this.log('info', `service(imap): restarted, listening on ${this.status.host}:${this.status.port}`);
        } catch (e) {
          const message = `The mail server could not be restarted: ${(e as Error).message}`;
          this.status = { ...this.status, lastError: message, lastErrorCode: (e as SupervisorError).causeCode };
          this.emit({ type: 'error', message, code: (e as SupervisorError).causeCode ?? 'RESTART_FAILED', time: Date.now() });
          this.scheduleRestart();
        }
      }).catch(() => undefined);
    }, delay);
  }

  private cancelRestart(): void {
    if (this.restartTimer) {
      clearTimeout(this.restartTimer);
      this.restartTimer = null;
    }
  }

  /** Graceful stop of the current worker, if any: ask, wait, then terminate. */
  private async shutdown(reason: string | undefined): Promise<void> {
    const handle = this.current;
    if (!handle) return;
    this.setState('stopping');
    handle.exitExpected = true;
    const deadline = Date.now() + this.stopTimeoutMs;
    try {
      await this.request('stop', reason === undefined ? {} : { reason }, this.stopTimeoutMs);
    } catch (e) {
      if (!(e instanceof SupervisorError && e.code === 'WORKER_EXITED')) {
        this.log('warn', `service(imap): graceful stop failed (${(e as Error).message}); terminating the worker`);
      }
    }
    await this.dispose(handle, Math.max(500, deadline - Date.now()));
  }

  /** Waits up to `graceMs` for the worker to exit on its own, then terminates it. */
  private async dispose(handle: WorkerHandle, graceMs = 1000): Promise<void> {
    handle.exitExpected = true;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((r) => { timer = setTimeout(() => r('timeout'), graceMs); });
    const first = graceMs > 0 ? await Promise.race([handle.exited, timeout]) : 'timeout';
    clearTimeout(timer);
    if (first === 'timeout') await handle.worker.terminate();
    await handle.exited;
    if (this.current === handle) this.current = null;
  }
}
