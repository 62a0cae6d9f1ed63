// Splits the client's byte stream into complete IMAP commands (RFC 3501 section 2.2,
// RFC 7888 LITERAL+). A command is one or more lines joined by literals: a line ending in
// `{n}` (synchronizing: the server answers `+ OK` first) or `{n+}` is followed by exactly n
// bytes, then the command line continues. The framer is pull-based: it parses at most one
// frame per next() call, so the session can switch to raw line mode (AUTHENTICATE, IDLE)
// before bytes the client pipelined after that command are interpreted.
//
// Input may arrive in any chunking, down to one byte at a time. Literal bytes are collected
// as a list of chunks and joined once, so a 50 MB APPEND costs one copy, not hundreds.

import type { ImapLimits } from './limits.js';
import { TAG_RE } from './grammar.js';

export type Frame =
  /** A complete command, literals inline, ending with its final CRLF. */
  | { type: 'command'; data: Buffer }
  /** A raw line (line mode), without its line ending. */
  | { type: 'line'; data: Buffer }
  /** The client waits for `+` before sending a synchronizing literal of this size. */
  | { type: 'continue'; size: number }
  /** The command could not be framed; answer `<tag> BAD message` (or `* BYE` when fatal, then close). */
  | { type: 'error'; tag: string | null; message: string; code?: string; fatal: boolean };

const LF = 0x0a;

type State =
  | { kind: 'line' }
  | { kind: 'skip-line'; tag: string | null; message: string; code?: string }
  | { kind: 'literal'; need: number; parts: Buffer[] }
  | { kind: 'discard-literal'; need: number; tag: string | null; message: string; code?: string };

export class CommandFramer {
  private input: Buffer = Buffer.alloc(0);
  private scanFrom = 0;
  private state: State = { kind: 'line' };
  /** Parts of the command being assembled (lines and literals). */
  private parts: Buffer[] = [];
  private commandSize = 0;

  constructor(private readonly limits: ImapLimits) {}

  /** Bytes received but not yet framed (the connection pauses the socket when this grows). */
  get buffered(): number {
    return this.input.length;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    const st = this.state;
    if (st.kind === 'literal' && this.input.length === 0) {
      // Fast path: literal bytes go straight to the literal, remainder to the line buffer.
      const take = Math.min(st.need, chunk.length);
      st.parts.push(chunk.subarray(0, take));
      st.need -= take;
      if (take < chunk.length) this.input = Buffer.from(chunk.subarray(take));
      return;
    }
    if (st.kind === 'discard-literal' && this.input.length === 0) {
      const take = Math.min(st.need, chunk.length);
      st.need -= take;
      if (take < chunk.length) this.input = Buffer.from(chunk.subarray(take));
      return;
    }
    this.input = this.input.length === 0 ? chunk : Buffer.concat([this.input, chunk]);
  }

  /** The next frame, or null when more input is needed. mode 'line' returns raw lines. */
  next(mode: 'command' | 'line' = 'command'): Frame | null {
    for (;;) {
      const st = this.state;
      if (st.kind === 'literal') {
        if (st.need > 0) {
          const take = Math.min(st.need, this.input.length);
          if (take > 0) {
            st.parts.push(Buffer.from(this.input.subarray(0, take)));
            this.input = this.input.subarray(take);
            st.need -= take;
          }
          if (st.need > 0) return null;
        }
        const literal = st.parts.length === 1 ? st.parts[0] : Buffer.concat(st.parts);
        this.parts.push(literal);
        this.state = { kind: 'line' };
        this.scanFrom = 0;
        continue;
      }
      if (st.kind === 'discard-literal') {
        const take = Math.min(st.need, this.input.length);
        this.input = this.input.subarray(take);
        st.need -= take;
        if (st.need > 0) return null;
        // The rest of the command line follows; skip it and then report.
        this.state = { kind: 'skip-line', tag: st.tag, message: st.message, code: st.code };
        this.scanFrom = 0;
        continue;
      }

      const lf = this.input.indexOf(LF, this.scanFrom);
      if (lf < 0) {
        this.scanFrom = this.input.length;
        if (st.kind === 'skip-line') {
          this.input = Buffer.alloc(0);
          this.scanFrom = 0;
        } else if (this.input.length > this.limits.maxLineLength) {
          const tag = this.parts.length > 0 ? tagOf(this.parts[0]) : tagOf(this.input);
          this.resetCommand();
          this.state = { kind: 'skip-line', tag, message: 'Command line too long', code: 'TOOBIG' };
          this.input = Buffer.alloc(0);
          this.scanFrom = 0;
        }
        return null;
      }

      const line = this.input.subarray(0, lf + 1);
      this.input = this.input.subarray(lf + 1);
      this.scanFrom = 0;

      if (st.kind === 'skip-line') {
        // A skipped line may itself announce a literal (the rest of a refused command).
        const lit = literalSuffix(line);
        if (lit && lit.nonSync && lit.size <= this.limits.maxDiscardLiteral) {
          this.state = { kind: 'discard-literal', need: lit.size, tag: st.tag, message: st.message, code: st.code };
          continue;
        }
        this.state = { kind: 'line' };
        return { type: 'error', tag: st.tag, message: st.message, code: st.code, fatal: !!(lit && lit.nonSync) };
      }

      if (mode === 'line' && this.parts.length === 0) {
        return { type: 'line', data: Buffer.from(stripEol(line)) };
      }

      if (line.length > this.limits.maxLineLength + 2) {
        const tag = tagOf(this.parts.length > 0 ? this.parts[0] : line);
        this.resetCommand();
        return this.refuseRest(line, tag, 'Command line too long', 'TOOBIG');
      }

      this.parts.push(Buffer.from(line));
      this.commandSize += line.length;
      const lit = literalSuffix(line);
      if (!lit) {
        const data = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts);
        this.resetCommand();
        return { type: 'command', data };
      }
      if (lit.size < 0 || lit.size > this.limits.maxLiteralSize || this.commandSize + lit.size > this.limits.maxCommandSize) {
        const tag = tagOf(this.parts[0]);
        this.resetCommand();
        const message = lit.size < 0 ? 'Invalid literal size' : 'Literal too large';
        if (!lit.nonSync) {
          // The client waits for '+', which it never gets: the command simply ends here.
          return { type: 'error', tag, message, code: 'TOOBIG', fatal: false };
        }
        if (lit.size >= 0 && lit.size <= this.limits.maxDiscardLiteral) {
          this.state = { kind: 'discard-literal', need: lit.size, tag, message, code: 'TOOBIG' };
          continue;
        }
        // RFC 7888 section 4: a server refusing a huge non-synchronizing literal must close.
        return { type: 'error', tag, message, code: 'TOOBIG', fatal: true };
      }
      this.commandSize += lit.size;
      this.state = { kind: 'literal', need: lit.size, parts: [] };
      if (!lit.nonSync) return { type: 'continue', size: lit.size };
    }
  }

  /**
   * Up to `max` complete command lines already received after the current frame, without
   * consuming anything (for read-ahead of pipelined commands). Stops at a line announcing a
   * literal, since what follows it is not a command line; empty while a command is half read.
   */
  peekCommandLines(max: number): Buffer[] {
    const out: Buffer[] = [];
    if (this.state.kind !== 'line' || this.parts.length > 0) return out;
    const input = this.input;
    let pos = 0;
    while (out.length < max && pos < input.length) {
      const lf = input.indexOf(LF, pos);
      if (lf < 0 || lf + 1 - pos > this.limits.maxLineLength) break;
      const line = input.subarray(pos, lf + 1);
      if (literalSuffix(line)) break;
      out.push(line);
      pos = lf + 1;
    }
    return out;
  }

  private refuseRest(line: Buffer, tag: string | null, message: string, code: string): Frame | null {
    const lit = literalSuffix(line);
    if (lit && lit.nonSync) {
      if (lit.size <= this.limits.maxDiscardLiteral) {
        this.state = { kind: 'discard-literal', need: lit.size, tag, message, code };
        return this.next();
      }
      return { type: 'error', tag, message, code, fatal: true };
    }
    return { type: 'error', tag, message, code, fatal: false };
  }

  private resetCommand(): void {
    this.parts = [];
    this.commandSize = 0;
  }
}

function stripEol(line: Buffer): Buffer {
  let end = line.length;
  if (end > 0 && line[end - 1] === LF) end--;
  if (end > 0 && line[end - 1] === 0x0d) end--;
  return line.subarray(0, end);
}

/** `{123}` or `{123+}` at the end of a line, before its line ending. size -1 = unparseable. */
function literalSuffix(line: Buffer): { size: number; nonSync: boolean } | null {
  let end = line.length;
  if (end > 0 && line[end - 1] === LF) end--;
  if (end > 0 && line[end - 1] === 0x0d) end--;
  if (end < 3 || line[end - 1] !== 0x7d /* } */) return null;
  let i = end - 2;
  let nonSync = false;
  if (line[i] === 0x2b /* + */) {
    nonSync = true;
    i--;
  }
  const digitsEnd = i + 1;
  while (i >= 0 && line[i] >= 0x30 && line[i] <= 0x39) i--;
  if (i < 0 || line[i] !== 0x7b /* { */ || i + 1 === digitsEnd) return null;
  const digits = line.toString('latin1', i + 1, digitsEnd);
  // Anything longer than 10 digits cannot be a valid number32.
  const size = digits.length > 10 ? -1 : Number(digits);
  return { size: size > 0xffffffff ? -1 : size, nonSync };
}

/** The tag of a (possibly partial) command line, if it looks like one. */
export function tagOf(line: Buffer): string | null {
  const sp = line.indexOf(0x20);
  const end = sp < 0 ? Math.min(line.length, 64) : Math.min(sp, 64);
  const tag = stripEol(line.subarray(0, end)).toString('latin1');
  return TAG_RE.test(tag) ? tag : null;
}
