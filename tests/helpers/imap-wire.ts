// A raw IMAP transcript client over a real socket, for protocol and differential tests.
//
// Everything is handled as latin1 "binary strings" (one char = one byte), like the server's
// response writer, so literals with 8-bit content survive byte-exactly. A "line" is one
// logical response line: when a line ends in a literal announcement `{n}` (or `~{n}`), the
// next n bytes and the rest of the line up to the next CRLF belong to the same line.
//
// Every wait has a timeout; a timeout fails with the transcript so far, so a hanging server
// shows what it was last asked and what it last said.
import net from 'node:net';

export interface ImapResponse {
  /** The command as sent (first line only, latin1). */
  command: string;
  tag: string;
  /** Every line received for this command, untagged and continuation lines included, tagged line last. */
  lines: string[];
  /** Lines starting with `* `. */
  untagged: string[];
  /** The tagged completion line. */
  tagged: string;
  status: 'OK' | 'NO' | 'BAD';
  /** Response code of the tagged line without brackets, e.g. `READ-WRITE` or `APPENDUID 1 5`. */
  code?: string;
}

export interface WireOptions {
  /** Default timeout (ms) for each wait. */
  timeoutMs?: number;
  /** Print the transcript live to stderr (also enabled by IMAP_WIRE_DEBUG=1). */
  debug?: boolean;
}

const LITERAL_AT_END = /~?\{(\d+)\+?\}$/;

/** Client command names (RFC 3501 and common extensions), to tell `SELECT x` from `a1 SELECT x`. */
const COMMAND_NAMES = new Set([
  'CAPABILITY', 'NOOP', 'LOGOUT', 'STARTTLS', 'AUTHENTICATE', 'LOGIN', 'SELECT', 'EXAMINE', 'CREATE', 'DELETE',
  'RENAME', 'SUBSCRIBE', 'UNSUBSCRIBE', 'LIST', 'LSUB', 'STATUS', 'APPEND', 'CHECK', 'CLOSE', 'EXPUNGE', 'SEARCH',
  'FETCH', 'STORE', 'COPY', 'UID', 'MOVE', 'IDLE', 'ENABLE', 'ID', 'NAMESPACE', 'UNSELECT', 'SORT', 'THREAD',
  'GETQUOTA', 'GETQUOTAROOT', 'SETQUOTA', 'COMPRESS', 'NOTIFY', 'GETMETADATA', 'SETMETADATA', 'XLIST',
]);

export class ImapWire {
  readonly transcript: string[] = [];
  greeting = '';
  private buf: Buffer = Buffer.alloc(0);
  private lines: string[] = [];
  private waiters: Array<() => void> = [];
  private closed = false;
  private closeError: Error | undefined;
  private tagCounter = 0;
  private queue: Promise<void> = Promise.resolve();
  private readonly timeoutMs: number;
  private readonly debug: boolean;
  /** Bytes still owed to a literal in the line being assembled. */
  private partial = '';
  private literalRemaining = 0;

  private constructor(private readonly socket: net.Socket, opts: WireOptions) {
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.debug = opts.debug ?? process.env.IMAP_WIRE_DEBUG === '1';
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('close', () => {
      this.closed = true;
      this.record('--', 'connection closed');
      this.wake();
    });
    socket.on('error', (e) => {
      this.closeError = e;
      this.record('--', `socket error: ${e.message}`);
    });
  }

  /** Connect and read the greeting (`* OK`, `* PREAUTH` or `* BYE`). */
  static async connect(host: string, port: number, opts: WireOptions = {}): Promise<ImapWire> {
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect({ host, port });
      s.once('connect', () => resolve(s));
      s.once('error', reject);
    });
    socket.setNoDelay(true);
    const wire = new ImapWire(socket, opts);
    wire.greeting = await wire.readLine();
    return wire;
  }

  private record(dir: 'C:' | 'S:' | '--', text: string): void {
    const shown = text.length > 2000 ? `${text.slice(0, 2000)}... (${text.length} bytes)` : text;
    this.transcript.push(`${dir} ${shown}`);
    if (this.debug) process.stderr.write(`${dir} ${shown}\n`);
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    for (;;) {
      if (this.literalRemaining > 0) {
        if (this.buf.length < this.literalRemaining) break;
        this.partial += this.buf.subarray(0, this.literalRemaining).toString('latin1');
        this.buf = this.buf.subarray(this.literalRemaining);
        this.literalRemaining = 0;
        continue;
      }
      const nl = this.buf.indexOf('\r\n');
      if (nl < 0) break;
      const chunk = this.buf.subarray(0, nl).toString('latin1');
      this.buf = this.buf.subarray(nl + 2);
      const m = LITERAL_AT_END.exec(chunk);
      if (m) {
        this.partial += chunk + '\r\n';
        this.literalRemaining = Number(m[1]);
        if (this.literalRemaining === 0) continue;
        continue;
      }
      const line = this.partial + chunk;
      this.partial = '';
      this.lines.push(line);
      this.record('S:', line);
    }
    this.wake();
  }

  private transcriptTail(n = 60): string {
    const t = this.transcript.slice(-n);
    return (this.transcript.length > n ? '  ...\n' : '') + t.map((l) => `  ${l}`).join('\n');
  }

  /** Error carrying the transcript so far. */
  fail(message: string): Error {
    return new Error(`${message}\n--- transcript ---\n${this.transcriptTail()}`);
  }

  /** Wait until a line is available, the connection closed, or the deadline passed. */
  private async waitLine(deadline: number): Promise<'line' | 'closed' | 'timeout'> {
    while (this.lines.length === 0) {
      if (this.closed) return 'closed';
      const left = deadline - Date.now();
      if (left <= 0) return 'timeout';
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return 'line';
  }

  /** Next complete response line (literal-aware). Rejects on timeout or when the connection closed with nothing left. */
  async readLine(timeoutMs = this.timeoutMs): Promise<string> {
    return (await this.readUntil(() => true, timeoutMs, 'a line'))[0]!;
  }

  /** Lines already received and not yet consumed (does not wait). */
  drain(): string[] {
    const l = this.lines;
    this.lines = [];
    return l;
  }

  /** Read lines until one matches; returns all lines read including the match. */
  async readUntil(pred: (line: string) => boolean, timeoutMs = this.timeoutMs, what = 'a matching line'): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    const got: string[] = [];
    for (;;) {
      const state = await this.waitLine(deadline);
      if (state === 'timeout') throw this.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
      if (state === 'closed') {
        throw this.fail(`connection closed while waiting for ${what}${this.closeError ? ` (${this.closeError.message})` : ''}`);
      }
      const line = this.lines.shift();
      if (line === undefined) continue;
      got.push(line);
      if (pred(line)) return got;
    }
  }

  /** Wait for a `+` continuation request; returns it. Untagged lines read meanwhile are returned in `before`. */
  async waitContinuation(timeoutMs = this.timeoutMs): Promise<{ line: string; before: string[] }> {
    const got = await this.readUntil((l) => l.startsWith('+'), timeoutMs, 'a "+" continuation request');
    const line = got.pop()!;
    if (!line.startsWith('+')) throw this.fail('expected continuation');
    return { line, before: got };
  }

  /** Send raw bytes. A string is sent as latin1; no CRLF is added. */
  send(data: string | Buffer): void {
    const b = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
    this.record('C:', b.toString('latin1').replace(/\r\n$/, ''));
    this.socket.write(b);
  }

  /** Send one line (CRLF appended). */
  sendLine(line: string): void {
    this.send(line + '\r\n');
  }

  /** A fresh tag: t1, t2, ... */
  nextTag(): string {
    return `t${++this.tagCounter}`;
  }

  /**
   * Send a complete command whose first token is its tag, e.g. `a1 LOGIN bob pw`, and read up to
   * its tagged response. The command may embed literals: `a2 APPEND INBOX {5}\r\nhello`. For a
   * synchronizing literal `{n}` the client waits for `+` before sending the n bytes (lines
   * received before the `+` are kept in the response); `{n+}` (LITERAL+) is sent at once.
   * A string is latin1; pass a Buffer or use utf8() for UTF-8 content.
   */
  async command(cmd: string | Buffer, timeoutMs = this.timeoutMs): Promise<ImapResponse> {
    // One command at a time per connection: concurrent calls (e.g. Promise.all on one wire)
    // would otherwise steal each other's lines. They run in call order; for real pipelining
    // use send() and readUntil().
    const run = this.queue.then(() => this.commandNow(cmd, timeoutMs));
    this.queue = run.then(() => undefined, () => undefined);
    return run;
  }

  private async commandNow(cmd: string | Buffer, timeoutMs: number): Promise<ImapResponse> {
    const text = typeof cmd === 'string' ? cmd : cmd.toString('latin1');
    const tag = text.split(' ', 1)[0]!;
    const collected: string[] = [];
    // Split at literal announcements: each piece ends in `{n}\r\n` except the last.
    const re = /~?\{(\d+)(\+?)\}\r\n/g;
    let pos = 0;
    let m: RegExpExecArray | null;
    while ((m = re.exec(text))) {
      const end = m.index + m[0].length;
      this.send(text.slice(pos, end));
      const n = Number(m[1]);
      if (m[2] !== '+') {
        const got = await this.readUntil(
          (l) => l.startsWith('+') || l.startsWith(`${tag} `),
          timeoutMs,
          `the "+" continuation for a ${n}-byte literal`,
        );
        collected.push(...got);
        const last = got[got.length - 1]!;
        if (!last.startsWith('+')) return this.finish(text, tag, collected);
      }
      this.send(text.slice(end, end + n));
      pos = end + n;
      re.lastIndex = pos;
    }
    const rest = text.slice(pos);
    this.send(rest.endsWith('\r\n') ? rest : rest + '\r\n');
    const got = await this.readUntil((l) => l.startsWith(`${tag} `), timeoutMs, `the tagged response to ${tag}`);
    collected.push(...got);
    return this.finish(text, tag, collected);
  }

  /**
   * Like command(), tagging automatically when needed: `run('SELECT INBOX')` sends
   * `t1 SELECT INBOX`. When the text does not start with an IMAP command name it is taken to
   * carry its own tag and sent as is: `run('a FROBNICATE')`, `run('x1 LOGIN bob pw')`.
   */
  async run(cmd: string | Buffer, timeoutMs = this.timeoutMs): Promise<ImapResponse> {
    const text = typeof cmd === 'string' ? cmd : cmd.toString('latin1');
    const first = /^[^ \r\n]*/.exec(text)![0].toUpperCase();
    if (!COMMAND_NAMES.has(first)) return this.command(cmd, timeoutMs);
    const tag = this.nextTag();
    const c = typeof cmd === 'string' ? `${tag} ${cmd}` : Buffer.concat([Buffer.from(`${tag} `), cmd]);
    return this.command(c, timeoutMs);
  }

  /** run() and throw (with transcript) unless the status is OK. */
  async ok(cmd: string | Buffer, timeoutMs = this.timeoutMs): Promise<ImapResponse> {
    const r = await this.run(cmd, timeoutMs);
    if (r.status !== 'OK') throw this.fail(`expected OK for ${r.command.split('\r\n')[0]}, got: ${r.tagged}`);
    return r;
  }

  private finish(text: string, tag: string, lines: string[]): ImapResponse {
    const tagged = lines[lines.length - 1]!;
    const m = /^\S+ (OK|NO|BAD)(?: \[([^\]]*)\])?/i.exec(tagged);
    if (!m) throw this.fail(`malformed tagged response: ${tagged}`);
    return {
      command: text.split('\r\n')[0]!,
      tag,
      lines,
      untagged: lines.filter((l) => l.startsWith('* ')),
      tagged,
      status: m[1]!.toUpperCase() as ImapResponse['status'],
      code: m[2],
    };
  }

  /**
   * Read lines until the tagged response for `tag` and assert each expected entry appears in
   * order (a string must equal a line, a RegExp must match one). Returns all lines read.
   */
  async expectLines(tag: string, expected: Array<string | RegExp>, timeoutMs = this.timeoutMs): Promise<string[]> {
    const got = await this.readUntil((l) => l.startsWith(`${tag} `), timeoutMs, `the tagged response to ${tag}`);
    let i = 0;
    for (const line of got) {
      const e = expected[i];
      if (e === undefined) break;
      if (typeof e === 'string' ? line === e : e.test(line)) i++;
    }
    if (i < expected.length) throw this.fail(`expected line not found (in order): ${String(expected[i])}`);
    return got;
  }

  /** True once the server closed the connection. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Wait for the server to close the connection. */
  async waitClosed(timeoutMs = this.timeoutMs): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      const left = deadline - Date.now();
      if (left <= 0) throw this.fail('timed out waiting for the server to close the connection');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** LOGOUT politely (ignoring errors) and close the socket. */
  async close(): Promise<void> {
    if (!this.closed) {
      try {
        await this.run('LOGOUT', 3000);
      } catch {
        /* already gone or broken: closing anyway */
      }
    }
    this.socket.destroy();
  }

  /** Close the socket without LOGOUT. */
  destroy(): void {
    this.socket.destroy();
  }
}

/** UTF-8 text as a latin1 binary string (for embedding in command strings). */
export function utf8(s: string): string {
  return Buffer.from(s, 'utf8').toString('latin1');
}

/** A synchronizing literal for a string or buffer: `{n}\r\n<bytes>`. */
export function literal(data: string | Buffer, plus = false): string {
  const b = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  return `{${b.length}${plus ? '+' : ''}}\r\n${b.toString('latin1')}`;
}

/** IMAP quoted string for ASCII text. */
export function quoted(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

// ---------------------------------------------------------------------------------------------
// Parsing of response lines into values, for semantic comparison.

/** An IMAP value: atom/number/string (all strings), NIL (null), or a parenthesized list. */
export type ImapValue = string | null | ImapValue[];

/** Tokenize the data part of a response line (after `* ` or `* n FETCH `) into values. */
export function parseValues(text: string): ImapValue[] {
  let i = 0;
  const parseList = (closer: string | null): ImapValue[] => {
    const out: ImapValue[] = [];
    while (i < text.length) {
      const c = text[i]!;
      if (c === ' ') {
        i++;
        continue;
      }
      if (closer && c === closer) {
        i++;
        return out;
      }
      if (c === '(') {
        i++;
        out.push(parseList(')'));
        continue;
      }
      if (c === '"') {
        i++;
        let s = '';
        while (i < text.length && text[i] !== '"') {
          if (text[i] === '\\') i++;
          s += text[i++];
        }
        i++;
        out.push(s);
        continue;
      }
      const lit = /^~?\{(\d+)\+?\}\r\n/.exec(text.slice(i, i + 30));
      if (lit) {
        i += lit[0].length;
        const n = Number(lit[1]);
        out.push(text.slice(i, i + n));
        i += n;
        continue;
      }
      // Atom, possibly with a bracketed section (BODY[HEADER.FIELDS (A B)]<0>) that may contain spaces.
      let s = '';
      let depth = 0;
      while (i < text.length) {
        const ch = text[i]!;
        if (ch === '[') depth++;
        if (ch === ']') depth--;
        if (depth === 0 && (ch === ' ' || ch === ')' || ch === '(')) break;
        s += ch;
        i++;
      }
      out.push(s.toUpperCase() === 'NIL' ? null : s);
    }
    return out;
  };
  return parseList(null);
}

export interface FetchResponse {
  seq: number;
  /** Item name (upper-cased, e.g. `UID`, `BODY[HEADER.FIELDS (FROM)]`) -> value. */
  items: Record<string, ImapValue>;
}

/** Parse `* n FETCH (...)`; undefined for other lines. */
export function parseFetch(line: string): FetchResponse | undefined {
  const m = /^\* (\d+) FETCH /i.exec(line);
  if (!m) return undefined;
  const v = parseValues(line.slice(m[0].length));
  const list = v[0];
  if (!Array.isArray(list)) return undefined;
  const items: Record<string, ImapValue> = {};
  for (let k = 0; k + 1 < list.length; k += 2) {
    items[String(list[k]).toUpperCase()] = list[k + 1]!;
  }
  return { seq: Number(m[1]), items };
}

// ---------------------------------------------------------------------------------------------
// Normalization for differential comparison. The same script runs against Dovecot and Roost;
// only what RFC 3501 leaves to the implementation is normalized away:
//  - human-readable text after OK/NO/BAD (and their timings, "(0.001 + 0.000 secs)"),
//  - the server name/greeting text and CAPABILITY lists (Roost deliberately advertises
//    fewer extensions than Dovecot; capabilities are asserted separately),
//  - UIDVALIDITY values (chosen at mailbox creation time, differ between two fresh copies),
//  - HIGHESTMODSEQ/MODSEQ values (Roost may not implement CONDSTORE),
//  - order of untagged responses where RFC 3501 sets none (LIST results, SELECT data),
//  - INTERNALDATE is converted to the UTC instant (the zone is the server's choice),
//  - order of items inside a FETCH response and of flags inside a flag list,
//  - the \Marked/\Unmarked LIST hints and the optional charset list of [BADCHARSET].

export interface NormalizeOptions {
  /** Sort untagged lines (use for LIST/LSUB/SELECT where order is unspecified). */
  sortUntagged?: boolean;
  /** Keep UIDVALIDITY values (for on-disk compatibility checks on the *same* tree). */
  keepUidValidity?: boolean;
  /** Drop `\Recent` from flag lists (session-dependent). */
  dropRecent?: boolean;
  /** Drop untagged lines matching these (e.g. an untagged CAPABILITY). */
  dropUntagged?: RegExp[];
}

export interface NormalizedResponse {
  command: string;
  status: string;
  /** Tagged response code with its values normalized, or null. */
  code: string | null;
  untagged: string[];
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `"17-Jul-1996 02:44:25 -0700"` -> `1996-07-17T09:44:25Z`; unchanged if it does not parse. */
export function internalDateToUtc(s: string): string {
  const m = /^\s?(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)$/.exec(s);
  if (!m) return s;
  const mon = MONTHS.findIndex((x) => x.toLowerCase() === m[2]!.toLowerCase());
  const local = Date.UTC(Number(m[3]), mon, Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6]));
  const off = (Number(m[8]) * 60 + Number(m[9])) * (m[7] === '-' ? -1 : 1);
  return new Date(local - off * 60_000).toISOString().replace('.000Z', 'Z');
}

/** Normalize a response code text (`UIDVALIDITY 123`, `COPYUID 123 1:2 5:6`, `CAPABILITY ...`). */
export function normalizeCode(code: string | undefined, opts: NormalizeOptions = {}): string | null {
  if (code === undefined) return null;
  let c = code.trim();
  const name = c.split(' ', 1)[0]!.toUpperCase();
  if (name === 'CAPABILITY') return 'CAPABILITY <list>';
  if (!opts.keepUidValidity) {
    if (name === 'UIDVALIDITY') return 'UIDVALIDITY <uidvalidity>';
    if (name === 'COPYUID' || name === 'APPENDUID') c = c.replace(/^(\S+) \d+/, '$1 <uidvalidity>');
  }
  if (name === 'HIGHESTMODSEQ') return 'HIGHESTMODSEQ <modseq>';
  // The list of supported charsets after BADCHARSET is optional (RFC 3501 7.1).
  if (name === 'BADCHARSET') return 'BADCHARSET';
  if (name === 'PERMANENTFLAGS') {
    const inner = /\((.*)\)/.exec(c)?.[1] ?? '';
    return `PERMANENTFLAGS (${sortFlags(inner, opts)})`;
  }
  return c;
}

/** Case-insensitive code-point order (locale-independent, unlike localeCompare). */
function caseless(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  return x < y ? -1 : x > y ? 1 : 0;
}

function sortFlags(inner: string, opts: NormalizeOptions): string {
  return inner
    .split(/\s+/)
    .filter((f) => f && !(opts.dropRecent && f.toLowerCase() === '\\recent'))
    .sort(caseless)
    .join(' ');
}

function serializeValue(v: ImapValue): string {
  if (v === null) return 'NIL';
  if (Array.isArray(v)) return `(${v.map(serializeValue).join(' ')})`;
  return JSON.stringify(v);
}

/** Normalize one untagged line (see the list above). */
export function normalizeUntagged(line: string, opts: NormalizeOptions = {}): string {
  let m: RegExpExecArray | null;
  // `* OK [CODE ...] text` / `* NO ...` / `* BAD ...` / `* BYE ...`: keep the code, drop the text.
  if ((m = /^\* (OK|NO|BAD|BYE|PREAUTH)(?: \[([^\]]*)\])?/i.exec(line))) {
    const code = normalizeCode(m[2], opts);
    return `* ${m[1]!.toUpperCase()}${code ? ` [${code}]` : ''}`;
  }
  if (/^\* CAPABILITY /i.test(line)) return '* CAPABILITY <list>';
  if ((m = /^\* FLAGS \((.*)\)$/i.exec(line))) return `* FLAGS (${sortFlags(m[1]!, opts)})`;
  if ((m = /^\* (LIST|LSUB) \(([^)]*)\) (.*)$/i.exec(line))) {
    // \Marked/\Unmarked are hints (RFC 3501 7.2.2) from a server-specific heuristic
    // (Dovecot: mtimes of new/ vs cur/), so they are not compared.
    const attrs = m[2]!.split(/\s+/).filter((a) => a && !/^\\(un)?marked$/i.test(a)).sort(caseless);
    // Mailbox name: quoted or atom are equivalent.
    const rest = parseValues(m[3]!);
    return `* ${m[1]!.toUpperCase()} (${attrs.join(' ')}) ${rest.map(serializeValue).join(' ')}`;
  }
  if ((m = /^\* STATUS (.*)$/i.exec(line))) {
    const v = parseValues(m[1]!);
    const name = v[0] as string;
    const list = (v[1] as ImapValue[]) ?? [];
    const pairs: string[] = [];
    for (let k = 0; k + 1 < list.length; k += 2) {
      const key = String(list[k]).toUpperCase();
      let val = String(list[k + 1]);
      if (key === 'UIDVALIDITY' && !opts.keepUidValidity) val = '<uidvalidity>';
      if (key === 'HIGHESTMODSEQ') val = '<modseq>';
      pairs.push(`${key} ${val}`);
    }
    pairs.sort();
    return `* STATUS ${JSON.stringify(name)} (${pairs.join(' ')})`;
  }
  const f = parseFetch(line);
  if (f) return normalizeFetch(f, opts);
  if ((m = /^\* (SEARCH|SORT)\b(.*)$/i.exec(line))) {
    const nums = m[2]!.trim().split(/\s+/).filter(Boolean).map(Number).sort((a, b) => a - b);
    return `* ${m[1]!.toUpperCase()}${nums.length ? ' ' + nums.join(' ') : ''}`;
  }
  if ((m = /^\* (\d+) (EXISTS|RECENT|EXPUNGE)$/i.exec(line))) return `* ${m[1]} ${m[2]!.toUpperCase()}`;
  return line;
}

function normalizeFetch(f: FetchResponse, opts: NormalizeOptions): string {
  const keys = Object.keys(f.items).filter((k) => k !== 'MODSEQ').sort();
  const parts = keys.map((k) => {
    let v = f.items[k]!;
    if (k === 'FLAGS' && Array.isArray(v)) return `FLAGS (${sortFlags(v.join(' '), opts)})`;
    if (k === 'INTERNALDATE' && typeof v === 'string') v = internalDateToUtc(v);
    return `${k} ${serializeValue(v)}`;
  });
  return `* ${f.seq} FETCH (${parts.join(' ')})`;
}

/**
 * Normalize a whole command response (tagged status + code, untagged lines). FETCH responses
 * for the same message within one command are merged (at the first one's position): a server
 * may report the data items of one message in one or several FETCH responses (RFC 3501 7.4.2),
 * e.g. the implicit \Seen of a BODY[] fetch together with the body or separately.
 */
export function normalize(resp: ImapResponse, opts: NormalizeOptions = {}): NormalizedResponse {
  const kept = resp.untagged.filter((l) => !(opts.dropUntagged ?? []).some((re) => re.test(l)));
  const merged: Array<string | FetchResponse> = [];
  const bySeq = new Map<number, FetchResponse>();
  for (const l of kept) {
    const f = parseFetch(l);
    if (!f) {
      merged.push(l);
      continue;
    }
    const prev = bySeq.get(f.seq);
    if (prev) Object.assign(prev.items, f.items);
    else {
      const copy = { seq: f.seq, items: { ...f.items } };
      bySeq.set(f.seq, copy);
      merged.push(copy);
    }
  }
  let untagged = merged.map((x) => (typeof x === 'string' ? normalizeUntagged(x, opts) : normalizeFetch(x, opts)));
  if (opts.sortUntagged) untagged = [...untagged].sort();
  return { command: resp.command, status: resp.status, code: normalizeCode(resp.code, opts), untagged };
}

/** Greeting without the server's name: `* OK` (+ `[CAPABILITY <list>]` when it carries one). */
export function normalizeGreeting(greeting: string): string {
  return normalizeUntagged(greeting);
}

/** Capability atoms from a greeting, CAPABILITY response or tagged OK code. */
export function capabilities(text: string): string[] {
  const m = /CAPABILITY ([^\]\r\n]*)/i.exec(text);
  return m ? m[1]!.trim().split(/\s+/).map((c) => c.toUpperCase()) : [];
}

// ---------------------------------------------------------------------------------------------
// Modified UTF-7 (RFC 3501 section 5.1.3) for building folder names in commands and on disk.

export function encodeMailboxName(name: string): string {
  let out = '';
  let pending = '';
  const flush = () => {
    if (!pending) return;
    const buf = Buffer.alloc(pending.length * 2);
    for (let k = 0; k < pending.length; k++) buf.writeUInt16BE(pending.charCodeAt(k), k * 2);
    out += '&' + buf.toString('base64').replace(/=+$/, '').replace(/\//g, ',') + '-';
    pending = '';
  };
  for (const ch of name) {
    const code = ch.charCodeAt(0);
    if (ch.length === 1 && code >= 0x20 && code <= 0x7e) {
      flush();
      out += ch === '&' ? '&-' : ch;
    } else {
      pending += ch;
    }
  }
  flush();
  return out;
}

export function decodeMailboxName(name: string): string {
  return name.replace(/&([^-]*)-/g, (_, b64: string) => {
    if (b64 === '') return '&';
    const buf = Buffer.from(b64.replace(/,/g, '/'), 'base64');
    let s = '';
    for (let k = 0; k + 1 < buf.length; k += 2) s += String.fromCharCode(buf.readUInt16BE(k));
    return s;
  });
}
