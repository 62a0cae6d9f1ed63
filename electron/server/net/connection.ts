// Socket <-> session: frames the byte stream (framer.ts), runs one command at a time in
// order (pipelined commands wait their turn), answers synchronizing literals with `+ OK`,
// hands raw lines to AUTHENTICATE and IDLE, applies back-pressure in both directions and
// closes idle connections.
//
// Output is copied into one output buffer (OutputBuffer, below) and written when a command is
// done, else once per event-loop turn, or as soon as the buffer is full: a command's untagged
// lines, literals and tagged status leave in one write instead of one system call (and one TCP
// segment) each, pipelined commands answered in the same turn share one, and response text
// never piles up as JavaScript strings for the garbage collector.

import type { Socket } from 'node:net';
import { CommandFramer } from '../imap/framer.js';
import { formatIp } from '../log.js';
import { Session, type ServerContext, type SessionIO } from '../imap/session.js';

/** Output buffered beyond this makes drain() wait (bytes). */
const WRITE_HIGH_WATER = 1024 * 1024;
/** Unframed input beyond this pauses reading until the session catches up (bytes). */
const READ_HIGH_WATER = 1024 * 1024;
/** Size of the output buffer: queued output is handed to the socket when it is full (bytes). */
const OUT_CHUNK = 64 * 1024;
/** Buffers at least this big that their owner will not change are written as they are, not copied. */
const DIRECT_MIN = 16 * 1024;

/**
 * The worker's output buffer, shared by all connections and used by one at a time: the
 * connection whose bytes are in it. Another connection's write first sends those bytes (which
 * only makes them leave a little earlier). After a write the socket took whole, the buffer is
 * reused at once; when the socket keeps part of it (a client reading slowly), the socket keeps
 * that buffer and a new one is made; a socket already holding unsent data gets a copy.
 */
class OutputBuffer {
  buf = Buffer.allocUnsafeSlow(OUT_CHUNK);
  used = 0;
  owner: Connection | null = null;

  /** Sends the owner's bytes and makes `conn` the owner. */
  claim(conn: Connection): void {
    if (this.owner === conn) return;
    this.owner?.flush();
    this.owner = conn;
  }

  /** Hands the bytes in the buffer to `socket`. */
  send(socket: Socket): void {
    const n = this.used;
    this.used = 0;
    this.owner = null;
    if (n === 0) return;
    const chunk = this.buf.subarray(0, n);
    if (socket.writableLength > 0) {
      socket.write(Buffer.from(chunk));
      return;
    }
    socket.write(chunk);
    // Whatever the socket did not write at once, it writes later from this very memory.
    if (socket.writableLength > 0) this.buf = Buffer.allocUnsafeSlow(OUT_CHUNK);
  }
}

const output = new OutputBuffer();

export class Connection implements SessionIO {
  readonly session: Session;
  private readonly framer: CommandFramer;
  private busy = false;
  private pumping = false;
  private closed = false;
  private lineWaiter: ((line: Buffer | null) => void) | null = null;
  private timer: NodeJS.Timeout | null = null;
  private timerMs = 0;
  private closeReason = 'Connection closed';
  private flushScheduled = false;
  private readonly flushLater = (): void => {
    this.flushScheduled = false;
    this.flush();
  };

  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;

  constructor(
    private readonly socket: Socket,
    private readonly server: ServerContext,
    private readonly onClosed: (conn: Connection) => void,
  ) {
    this.remoteAddress = formatIp(socket.remoteAddress ?? '');
    this.remotePort = socket.remotePort ?? 0;
    this.localAddress = formatIp(socket.localAddress ?? '');
    this.localPort = socket.localPort ?? 0;
    this.framer = new CommandFramer(server.limits);
    this.session = new Session(this, server);
  }

  start(): void {
    const s = this.socket;
    s.setNoDelay(true);
    s.on('data', (chunk: Buffer) => this.onData(chunk));
    s.on('error', (err) => {
      this.closeReason = `Connection reset: ${err.message}`;
    });
    s.on('close', () => this.finish());
    s.on('end', () => {
      if (this.closeReason === 'Connection closed') this.closeReason = 'Connection closed';
      this.flush();
      s.end();
    });
    this.write(this.session.greeting());
    this.resetTimer();
  }

  write(data: string | Uint8Array, transient = false): void {
    const s = this.socket;
    if (this.closed || s.destroyed || data.length === 0) return;
    const out = output;
    out.claim(this);
    const n = data.length;
    if (n > out.buf.length - out.used) {
      this.flush();
      out.claim(this);
    }
    if (typeof data === 'string') {
      if (n > out.buf.length) s.write(data, 'latin1');
      else out.used += out.buf.write(data, out.used, 'latin1');
    } else if (n >= DIRECT_MIN && !transient) {
      this.flush();
      s.write(data);
    } else if (n > out.buf.length) {
      s.write(Buffer.from(data));
    } else {
      out.buf.set(data, out.used);
      out.used += n;
    }
    if (out.used === 0) return;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flushLater);
    }
  }

  /** Hands this connection's queued output to the socket. */
  flush(): void {
    if (output.owner !== this) return;
    if (this.closed || this.socket.destroyed) {
      output.used = 0;
      output.owner = null;
      return;
    }
    output.send(this.socket);
  }

  drain(): Promise<void> {
    this.flush();
    if (this.closed || this.socket.writableLength < WRITE_HIGH_WATER) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        resolve();
      };
      this.socket.on('drain', done);
      this.socket.on('close', done);
    });
  }

  readLine(): Promise<Buffer | null> {
    this.flush();
    if (this.closed) return Promise.resolve(null);
    return new Promise((resolve) => {
      this.lineWaiter = resolve;
      queueMicrotask(() => this.pump());
    });
  }

  close(reason?: string): void {
    if (reason) this.closeReason = reason;
    if (this.session.state === 'logout' && this.closeReason === 'Connection closed') this.closeReason = 'logout';
    if (this.socket.destroyed) return;
    this.flush();
    this.socket.end();
    // A client that never reads must not keep the socket open forever.
    setTimeout(() => this.socket.destroy(), 5000).unref();
  }

  /** Server shutdown: BYE, then close. */
  shutdown(message: string): void {
    this.write(`* BYE ${message}\r\n`);
    this.close('Server shutting down');
  }

  private onData(chunk: Buffer): void {
    this.resetTimer();
    this.framer.push(chunk);
    if (this.framer.buffered > READ_HIGH_WATER) this.socket.pause();
    this.pump();
  }

  private resetTimer(): void {
    const ms = this.session.state === 'notauth' ? this.server.limits.loginTimeoutMs : this.server.limits.idleTimeoutMs;
    if (this.timer && ms === this.timerMs) {
      this.timer.refresh(); // re-armed without a new timer object per command
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timerMs = ms;
    this.timer = setTimeout(() => this.onTimeout(), ms);
    this.timer.unref();
  }

  private onTimeout(): void {
    if (this.session.idleNotify) {
      // IDLE clients are expected to sit quietly; "* OK Still here" keeps them alive.
      this.resetTimer();
      return;
    }
    this.write('* BYE Disconnected for inactivity.\r\n');
    this.close('Inactivity');
  }

  private pump(): void {
    if (this.pumping || this.closed) return;
    this.pumping = true;
    try {
      while (!this.closed) {
        if (this.lineWaiter) {
          const f = this.framer.next('line');
          if (!f) break;
          const waiter = this.lineWaiter;
          this.lineWaiter = null;
          if (f.type === 'line') waiter(f.data);
          else if (f.type === 'error') {
            this.session.bad(f.tag ?? '*', f.message);
            waiter(Buffer.alloc(0));
          } else waiter(Buffer.alloc(0));
          continue;
        }
        if (this.busy) break;
        const f = this.framer.next('command');
        if (!f) break;
        if (f.type === 'continue') {
          this.write('+ OK\r\n');
          this.flush();
          continue;
        }
        if (f.type === 'error') {
          const code = f.code ? `[${f.code}] ` : '';
          if (f.fatal) {
            this.write(`* BYE ${code}${f.message}\r\n`);
            this.close(f.message);
            break;
          }
          this.session.bad(f.tag ?? '*', `${code}${f.message}`);
          continue;
        }
        if (f.type === 'line') continue;
        // No read-ahead of the pipelined commands behind this one: message files up to
        // 256 KB are read synchronously (Mailbox.read), so starting their reads early
        // overlapped nothing and only parsed every line twice (measured, 200 pipelined
        // BODY.PEEK[]: ~12.7-19 ms median with it, ~10.6-11 ms without).
        this.runCommand(f.data);
      }
    } finally {
      this.pumping = false;
      if (this.socket.isPaused() && this.framer.buffered <= READ_HIGH_WATER && !this.closed) this.socket.resume();
    }
  }

  private runCommand(data: Buffer): void {
    if (this.server.closing) {
      this.write('* BYE Server shutting down.\r\n');
      this.close('Server shutting down');
      return;
    }
    this.busy = true;
    this.session
      .handle(data)
      .catch((err) => this.session.logError('command', err))
      .finally(() => {
        this.busy = false;
        this.resetTimer();
        if (this.session.state === 'logout') {
          this.close('logout');
          return;
        }
        this.pump();
        // Nothing else to run now: answer at once rather than at the end of this event-loop
        // turn (pipelined commands keep batching their answers).
        if (!this.busy) this.flush();
      });
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.flush();
    if (this.timer) clearTimeout(this.timer);
    const waiter = this.lineWaiter;
    this.lineWaiter = null;
    waiter?.(null);
    const reason = this.session.state === 'logout' ? 'logout' : this.closeReason;
    void this.session.closed(reason).finally(() => this.onClosed(this));
  }
}

