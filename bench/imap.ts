// A small raw-socket IMAP client for timing: pipelining, LITERAL+, byte counts, and no
// parsing beyond splitting responses (lines + literals). Untagged responses are attributed
// to the oldest command in flight, which is exact when commands are not pipelined and good
// enough for counting when they are (servers answer in order).

import net from 'node:net';

export interface Untagged {
  /** The response text (latin1), literal contents replaced by nothing: '{n}\r\n' markers stay. */
  text: string;
  /** Literal contents, in order (only for commands that asked for them). */
  literals: Buffer[];
}

export interface CommandResult {
  tag: string;
  status: 'OK' | 'NO' | 'BAD';
  /** The tagged response line without the tag and status. */
  text: string;
  /** Untagged responses received while this was the oldest command in flight. */
  untagged: number;
  /** Response bytes attributed to this command. */
  bytes: number;
  /** Milliseconds from write to tagged response. */
  ms: number;
}

export interface CommandOptions {
  /** Called for each untagged response; literal contents are kept only when this is set. */
  onUntagged?: (u: Untagged) => void;
  timeoutMs?: number;
}

interface Pending {
  tag: string;
  start: number;
  untagged: number;
  bytes: number;
  onUntagged?: (u: Untagged) => void;
  onContinue?: () => void;
  resolve: (r: CommandResult) => void;
  reject: (e: Error) => void;
  timer?: NodeJS.Timeout;
}

export class ImapError extends Error {}

const DEFAULT_TIMEOUT = 5 * 60_000;

export class ImapClient {
  bytesIn = 0;
  bytesOut = 0;
  greeting = '';
  capabilities = new Set<string>();
  private tagSeq = 0;
  private pending: Pending[] = [];
  private rest: Buffer | null = null;
  private parts: string[] = [];
  private literals: Buffer[] = [];
  private litRemaining = 0;
  private litChunks: Buffer[] = [];
  private respBytes = 0;
  private closed = false;
  private closeError: Error | null = null;
  private greetingWaiter: ((line: string) => void) | null = null;
  private continueWaiters: Array<() => void> = [];

  private constructor(private readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail(new ImapError('connection closed by server')));
  }

  /** Connects and waits for the greeting. */
  static connect(host: string, port: number, timeoutMs = 30_000): Promise<ImapClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host, port });
      const client = new ImapClient(socket);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new ImapError(`no greeting from ${host}:${port} within ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      client.greetingWaiter = (line) => {
        clearTimeout(timer);
        client.greeting = line.trimEnd();
        client.parseCapabilities(line);
        if (!line.startsWith('* OK')) reject(new ImapError(`bad greeting: ${client.greeting}`));
        else resolve(client);
      };
    });
  }

  get open(): boolean {
    return !this.closed;
  }

  private fail(err: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.closeError = err;
    for (const p of this.pending) {
      if (p.timer) clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending = [];
  }

  private parseCapabilities(line: string): void {
    const m = /\[CAPABILITY ([^\]]*)\]/i.exec(line) ?? /^\* CAPABILITY (.*)$/i.exec(line.trimEnd());
    if (m) this.capabilities = new Set(m[1].toUpperCase().split(' '));
  }

  private onData(chunk: Buffer): void {
    this.bytesIn += chunk.length;
    let data = this.rest ? Buffer.concat([this.rest, chunk]) : chunk;
    this.rest = null;
    let pos = 0;
    const capture = (): boolean => this.pending.length > 0 && this.pending[0].onUntagged !== undefined;
    while (pos < data.length) {
      if (this.litRemaining > 0) {
        const take = Math.min(this.litRemaining, data.length - pos);
        if (capture()) this.litChunks.push(data.subarray(pos, pos + take));
        this.litRemaining -= take;
        this.respBytes += take;
        pos += take;
        if (this.litRemaining === 0 && capture()) {
          this.literals.push(this.litChunks.length === 1 ? this.litChunks[0] : Buffer.concat(this.litChunks));
          this.litChunks = [];
        }
        continue;
      }
      const nl = data.indexOf(10, pos);
      if (nl < 0) break;
      const line = data.toString('latin1', pos, nl + 1);
      this.respBytes += nl + 1 - pos;
      pos = nl + 1;
      this.parts.push(line);
      if (line.endsWith('}\r\n')) {
        const open = line.lastIndexOf('{');
        const n = open >= 0 ? Number(line.slice(open + 1, line.length - 3).replace('+', '')) : NaN;
        if (Number.isInteger(n) && n >= 0) {
          this.litRemaining = n;
          if (n === 0 && capture()) this.literals.push(Buffer.alloc(0));
          continue;
        }
      }
      const text = this.parts.length === 1 ? this.parts[0] : this.parts.join('');
      const literals = this.literals;
      const bytes = this.respBytes;
      this.parts = [];
      this.literals = [];
      this.respBytes = 0;
      this.dispatch(text, literals, bytes);
    }
    if (pos < data.length) this.rest = data.subarray(pos);
  }

  private dispatch(text: string, literals: Buffer[], bytes: number): void {
    if (this.greetingWaiter) {
      const w = this.greetingWaiter;
      this.greetingWaiter = null;
      w(text);
      return;
    }
    if (text.startsWith('+')) {
      const w = this.continueWaiters.shift();
      if (w) w();
      return;
    }
    if (text.startsWith('* ')) {
      if (/^\* CAPABILITY /i.test(text)) this.parseCapabilities(text);
      const p = this.pending[0];
      if (p) {
        p.untagged++;
        p.bytes += bytes;
        p.onUntagged?.({ text, literals });
      }
      return;
    }
    const sp = text.indexOf(' ');
    const tag = text.slice(0, sp);
    const idx = this.pending.findIndex((p) => p.tag === tag);
    if (idx < 0) return; // not ours (should not happen)
    const p = this.pending[idx];
    this.pending.splice(idx, 1);
    if (p.timer) clearTimeout(p.timer);
    const rest = text.slice(sp + 1).trimEnd();
    const sp2 = rest.indexOf(' ');
    const status = (sp2 < 0 ? rest : rest.slice(0, sp2)).toUpperCase();
    this.parseCapabilities(rest);
    p.bytes += bytes;
    p.resolve({
      tag,
      status: status === 'OK' || status === 'NO' ? status : 'BAD',
      text: sp2 < 0 ? '' : rest.slice(sp2 + 1),
      untagged: p.untagged,
      bytes: p.bytes,
      ms: performance.now() - p.start,
    });
  }

  private nextTag(): string {
    return 'B' + (++this.tagSeq).toString(36);
  }

  private register(tag: string, opts: CommandOptions | undefined): Promise<CommandResult> {
    if (this.closed) return Promise.reject(this.closeError ?? new ImapError('connection closed'));
    return new Promise((resolve, reject) => {
      const p: Pending = { tag, start: performance.now(), untagged: 0, bytes: 0, onUntagged: opts?.onUntagged, resolve, reject };
      const timeout = opts?.timeoutMs ?? DEFAULT_TIMEOUT;
      p.timer = setTimeout(() => {
        this.pending = this.pending.filter((x) => x !== p);
        reject(new ImapError(`timeout after ${Math.round(timeout / 1000)} s waiting for ${tag}`));
      }, timeout);
      this.pending.push(p);
    });
  }

  private write(data: string | Buffer): void {
    const buf = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
    this.bytesOut += buf.length;
    this.socket.write(buf);
  }

  /** Sends one command (without tag and CRLF) and resolves with its tagged response. */
  command(cmd: string, opts?: CommandOptions): Promise<CommandResult> {
    const tag = this.nextTag();
    const pr = this.register(tag, opts);
    this.write(`${tag} ${cmd}\r\n`);
    return pr;
  }

  /** Like command(), but throws unless the answer is OK. */
  async ok(cmd: string, opts?: CommandOptions): Promise<CommandResult> {
    const r = await this.command(cmd, opts);
    if (r.status !== 'OK') throw new ImapError(`${cmd.split(' ').slice(0, 2).join(' ')}: ${r.status} ${r.text}`);
    return r;
  }

  /** Sends all commands in one write and resolves when every one has been answered. */
  pipeline(cmds: string[], opts?: CommandOptions): Promise<CommandResult[]> {
    const lines: string[] = [];
    const promises: Promise<CommandResult>[] = [];
    for (const cmd of cmds) {
      const tag = this.nextTag();
      promises.push(this.register(tag, opts));
      lines.push(`${tag} ${cmd}\r\n`);
    }
    this.write(lines.join(''));
    return Promise.all(promises);
  }

  /** APPEND with a non-synchronizing literal (RFC 7888) when the server offers LITERAL+, else a synchronizing one. */
  append(mailbox: string, message: Buffer, flags = '', opts?: CommandOptions): Promise<CommandResult> {
    const tag = this.nextTag();
    const pr = this.register(tag, opts);
    const plus = this.capabilities.has('LITERAL+');
    const head = `${tag} APPEND ${quote(mailbox)}${flags ? ' (' + flags + ')' : ''} {${message.length}${plus ? '+' : ''}}\r\n`;
    if (plus) {
      this.write(Buffer.concat([Buffer.from(head, 'latin1'), message, Buffer.from('\r\n')]));
    } else {
      this.continueWaiters.push(() => this.write(Buffer.concat([message, Buffer.from('\r\n')])));
      this.write(head);
    }
    return pr;
  }

  async login(user: string, password: string): Promise<CommandResult> {
    return this.ok(`LOGIN ${quote(user)} ${quote(password)}`);
  }

  /** Starts IDLE and resolves once the server's continuation arrives; call done() to end it. */
  idle(timeoutMs = 60_000): { started: Promise<void>; done: () => Promise<CommandResult> } {
    const tag = this.nextTag();
    const finished = this.register(tag, { timeoutMs: DEFAULT_TIMEOUT });
    finished.catch(() => {}); // observed through done()
    const started = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new ImapError('no IDLE continuation')), timeoutMs);
      this.continueWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
      finished.then(
        (r) => reject(new ImapError(`IDLE refused: ${r.status} ${r.text}`)),
        (e: Error) => reject(e),
      );
    });
    this.write(`${tag} IDLE\r\n`);
    return {
      started,
      done: () => {
        this.write('DONE\r\n');
        return finished;
      },
    };
  }

  /** LOGOUT (best effort) and close the socket. */
  async logout(): Promise<void> {
    if (!this.closed) {
      try {
        await this.command('LOGOUT', { timeoutMs: 10_000 });
      } catch {
        // the server may close first
      }
    }
    this.destroy();
  }

  destroy(): void {
    this.closed = true;
    this.socket.destroy();
  }
}

export function quote(s: string): string {
  return '"' + s.replace(/[\\"]/g, (c) => '\\' + c) + '"';
}
