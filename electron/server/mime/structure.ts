// Streaming MIME structure parser (RFC 2045, RFC 2046, RFC 5322) producing the MimePart tree.
//
// The file is consumed line by line in chunks of any size; only the current line (capped)
// and the Content-* / envelope fields of the part being parsed are kept, so a 50 MB message
// costs a few kilobytes. Each line's physical offset, virtual (CRLF) offset and LF count are
// tracked, and part sizes are differences of those, so they match Dovecot's numbers:
//  - a boundary line is "--" + boundary, matched by prefix (RFC 2046 5.1.1 allows trailing
//    junk); among the boundaries of all open multiparts the longest match wins;
//  - the line break before a boundary line belongs to the boundary (RFC 2046 5.1.1), even
//    when it ends a part's header: a part may thus end inside its own header;
//  - "--boundary--" ends the multipart's children; the epilogue stays in its body;
//  - a multipart with a missing final boundary ends at its parent's boundary or at EOF;
//  - body lines count LF characters, as Dovecot does (an unterminated last line adds none).
// Hostile nesting is bounded: a part at depth maxDepth, or the maxParts-th part, cannot be a
// container (it becomes an opaque leaf and, for the part limit, takes the rest of the file).

import { BOUNDARY_MAX, applyContentHeaders } from './content.js';
import { ENVELOPE_FIELDS, envelope } from './envelope.js';
import type { MimePart } from './types.js';

export interface StructureOptions {
  /** Deepest nesting level (root = 1) that may still be a multipart or message. Default 100, as Dovecot. */
  maxDepth?: number;
  /** Most parts in a message. Default 10000, as Dovecot. */
  maxParts?: number;
  /** Parse message/global (RFC 6532) bodies like message/rfc822. Default false: Dovecot 2.3 treats them as leaves. */
  messageGlobal?: boolean;
}

/** Bytes of a header line kept for parsing; the rest of a longer line is ignored. */
const HEADER_LINE_CAP = 64 * 1024;
/** Bytes of Content-* and envelope fields kept per part header. */
const HEADER_KEEP_CAP = 256 * 1024;
/** Bytes of a body line needed to recognize "--" boundary "--". */
const BODY_HEAD_CAP = BOUNDARY_MAX + 8;
/** Distance between crlfMap checkpoints. */
const CHECKPOINT_EVERY = 256 * 1024;

const LF_BUF = Buffer.from('\n');
const CRLF_BUF = Buffer.from('\r\n');

/** A position in the file: physical offset, virtual (CRLF) offset, LFs before it. */
interface Pos {
  p: number;
  v: number;
  l: number;
}

interface Frame {
  part: MimePart;
  start: Pos;
  /** Body start, once the header is complete. */
  body: Pos | null;
  depth: number;
  parentMultipart: boolean;
  parentDigest: boolean;
  digest: boolean;
  /** The maxParts-th part: may not be a container. */
  last: boolean;
  /** For an encapsulated message: the message/rfc822 part that gets its envelope. */
  owner: MimePart | null;
  keep: Buffer[];
  keepLen: number;
  /** The header field being read is kept. */
  keeping: boolean;
  /** A header field was seen (so a line starting with a blank continues it). */
  inField: boolean;
  /** Every kept header line was kept whole (so an ENVELOPE rendered from them is exact). */
  exact: boolean;
}

interface Boundary {
  b: Buffer;
  frame: Frame;
}

function newPart(start: number): MimePart {
  return {
    headerStart: start,
    bodyStart: start,
    bodyEnd: start,
    headerSize: 0,
    bodySize: 0,
    bodyLines: 0,
    type: 'text',
    subtype: 'plain',
    params: [],
    encoding: '7bit',
  };
}

export class StructureParser {
  private readonly maxDepth: number;
  private readonly maxParts: number;
  private readonly messageGlobal: boolean;
  private readonly root: MimePart;
  private readonly stack: Frame[] = [];
  private readonly boundaries: Boundary[] = [];
  private partCount = 1;
  // position of the next line
  private p = 0;
  private v = 0;
  private l = 0;
  /** Terminator length of the previous line (0 at the start). */
  private prevTerm = 0;
  /** The previous line was a boundary line. */
  private prevBoundary = false;
  private readonly map: number[] = [];
  private lastCheckpoint = 0;
  // the current line, when it spans chunks
  private pend = Buffer.allocUnsafe(256);
  private pendStored = 0;
  private pendTotal = 0;
  private pendLast = -1;
  private pendCap = 0;
  private ended = false;

  constructor(options: StructureOptions = {}) {
    this.maxDepth = options.maxDepth ?? 100;
    this.maxParts = options.maxParts ?? 10000;
    this.messageGlobal = options.messageGlobal ?? false;
    this.root = newPart(0);
    this.stack.push(this.frame(this.root, { p: 0, v: 0, l: 0 }, 1, false, false, null));
  }

  private frame(part: MimePart, start: Pos, depth: number, parentMultipart: boolean, parentDigest: boolean, owner: MimePart | null): Frame {
    return {
      part,
      start,
      body: null,
      depth,
      parentMultipart,
      parentDigest,
      digest: false,
      last: this.partCount >= this.maxParts,
      owner,
      keep: [],
      keepLen: 0,
      keeping: false,
      inField: false,
      exact: true,
    };
  }

  private get top(): Frame {
    return this.stack[this.stack.length - 1];
  }

  /** Bytes of the next line worth keeping. */
  private cap(): number {
    if (this.top.body === null) return HEADER_LINE_CAP;
    return this.boundaries.length > 0 ? BODY_HEAD_CAP : 0;
  }

  write(chunk: Buffer): void {
    if (this.ended) throw new Error('StructureParser: write after end');
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      const lf = chunk.indexOf(0x0a, i);
      if (lf < 0) {
        this.stash(chunk, i, n);
        return;
      }
      if (this.pendTotal === 0) {
        const cr = lf > i && chunk[lf - 1] === 0x0d;
        const contentLen = lf - i - (cr ? 1 : 0);
        this.line(chunk.subarray(i, i + Math.min(contentLen, this.cap())), contentLen, lf + 1 - i, cr ? 2 : 1);
      } else {
        this.stash(chunk, i, lf);
        const cr = this.pendLast === 0x0d;
        const contentLen = this.pendTotal - (cr ? 1 : 0);
        const total = this.pendTotal + 1;
        this.pendTotal = 0;
        this.line(this.pend.subarray(0, Math.min(contentLen, this.pendStored)), contentLen, total, cr ? 2 : 1);
        this.pendStored = 0;
        this.pendLast = -1;
      }
      i = lf + 1;
    }
  }

  /** Keeps the start of a line that continues in the next chunk. */
  private stash(chunk: Buffer, from: number, to: number): void {
    if (to <= from) return;
    if (this.pendTotal === 0) this.pendCap = this.cap();
    const take = Math.min(to - from, this.pendCap - this.pendStored);
    if (take > 0) {
      if (this.pendStored + take > this.pend.length) {
        const bigger = Buffer.allocUnsafe(Math.min(this.pendCap, Math.max(this.pend.length * 2, this.pendStored + take)));
        this.pend.copy(bigger, 0, 0, this.pendStored);
        this.pend = bigger;
      }
      chunk.copy(this.pend, this.pendStored, from, from + take);
      this.pendStored += take;
    }
    this.pendTotal += to - from;
    this.pendLast = chunk[to - 1];
  }

  /** Finishes parsing and returns the root part. */
  end(): MimePart {
    if (this.ended) return this.root;
    if (this.pendTotal > 0) {
      const total = this.pendTotal;
      this.pendTotal = 0;
      this.line(this.pend.subarray(0, Math.min(total, this.pendStored)), total, total, 0);
    }
    this.ended = true;
    this.closeAll({ p: this.p, v: this.v, l: this.l });
    if (this.v !== this.p && this.map.length > 0) this.root.crlfMap = this.map;
    this.pend = Buffer.alloc(0);
    return this.root;
  }

  /**
   * One line: `content` is its start (up to the cap) without terminator, `contentLen` the
   * full content length, `len` the physical length, `term` 0 (EOF), 1 (LF) or 2 (CRLF).
   */
  private line(content: Buffer, contentLen: number, len: number, term: number): void {
    if (this.p - this.lastCheckpoint >= CHECKPOINT_EVERY) {
      this.map.push(this.p, this.v);
      this.lastCheckpoint = this.p;
    }
    const start: Pos = { p: this.p, v: this.v, l: this.l };
    const lf = term === 0 ? 0 : 1;
    this.p += len;
    this.v += len + (term === 1 ? 1 : 0);
    this.l += lf;
    const prevTerm = this.prevTerm;
    const prevBoundary = this.prevBoundary;
    this.prevTerm = term;
    this.prevBoundary = false;

    if (this.boundaries.length > 0 && contentLen >= 2 && content[0] === 0x2d && content[1] === 0x2d) {
      const hit = this.findBoundary(content, contentLen, term);
      if (hit !== null) {
        this.prevBoundary = true;
        this.onBoundary(hit.boundary, hit.closing, start, prevBoundary ? 0 : prevTerm, term !== 0);
        return;
      }
    }
    const f = this.top;
    if (f.body !== null) return;
    if (contentLen === 0 && term !== 0) {
      this.endHeader(f, { p: this.p, v: this.v, l: this.l }, true);
    } else {
      this.headerLine(f, content, contentLen, term);
    }
  }

  /** The longest active boundary this "--" line starts with (innermost first on ties). */
  private findBoundary(content: Buffer, contentLen: number, term: number): { boundary: Boundary; closing: boolean } | null {
    let room = content.length - 2;
    if (contentLen === content.length && term !== 0) {
      // a complete line: a trailing "--" is not part of the boundary
      if (room > 2 && content[contentLen - 1] === 0x2d && content[contentLen - 2] === 0x2d) room -= 2;
    }
    let best: Boundary | null = null;
    for (let i = this.boundaries.length - 1; i >= 0; i--) {
      const b = this.boundaries[i];
      const n = b.b.length;
      if (n > room || (best !== null && n <= best.b.length)) continue;
      if (content.compare(b.b, 0, n, 2, 2 + n) === 0) best = b;
    }
    if (best === null) return null;
    const n = best.b.length;
    const closing = contentLen - 2 >= n + 2 && content[2 + n] === 0x2d && content[3 + n] === 0x2d;
    return { boundary: best, closing };
  }

  /** A boundary line of `hit`; a part follows it only if the line ends (Dovecot needs the LF). */
  private onBoundary(hit: Boundary, closing: boolean, start: Pos, prevTerm: number, terminated: boolean): void {
    const owner = hit.frame;
    if (this.top !== owner) this.closeForBoundary(owner, start, prevTerm);
    const idx = this.boundaries.indexOf(hit);
    this.boundaries.length = closing ? idx : idx + 1;
    if (!closing && terminated) this.openChild(owner);
  }

  /**
   * Closes the parts inside `owner` at a boundary line starting at `line`. The line break
   * before it is the boundary's (RFC 2046 5.1.1), so the innermost part holding that break
   * ends before it. Where Dovecot puts the break decides the sizes: a break that ends body
   * text goes to the multipart, so every enclosed part ends before it; a break that ends a
   * header line (the part has no body yet) goes to the part's parent, which ends after it.
   * A break ending a boundary line stays with that line (prevTerm 0: nothing is cut).
   */
  private closeForBoundary(owner: Frame, line: Pos, prevTerm: number): void {
    const cut: Pos = prevTerm > 0 ? { p: line.p - prevTerm, v: line.v - 2, l: line.l - 1 } : line;
    if (prevTerm === 0) return this.closeAll(line, owner);
    let xi = this.stack.length - 1;
    while (this.stack[xi] !== owner && this.stack[xi].start.p >= line.p) xi--;
    const x = this.stack[xi];
    const headerBreak = x !== owner && (x.body === null || x.body.p === line.p);
    while (this.top !== owner) {
      const i = this.stack.length - 1;
      const f = this.stack[i];
      let at: Pos;
      if (x === owner) at = f.start; // only empty parts: nothing to cut
      else if (i >= xi) at = cut;
      else at = headerBreak ? line : cut;
      if (f.start.p > at.p) f.start = at; // an empty part after the cut
      if (f.body === null) {
        this.endHeader(f, at, false);
        if (this.top !== f) continue; // an encapsulated message was opened: close it first
      }
      if (f.body!.p > at.p) f.body = at;
      this.finish(f, at);
      this.stack.pop();
    }
  }

  /** Closes all open parts above `owner` (all parts when null) at `end`. */
  private closeAll(end: Pos, owner: Frame | null = null): void {
    while (this.stack.length > 0 && this.top !== owner) {
      const f = this.top;
      if (f.body === null) {
        this.endHeader(f, end, false);
        if (this.top !== f) continue;
      }
      this.finish(f, end);
      this.stack.pop();
    }
  }

  private finish(f: Frame, end: Pos): void {
    const part = f.part;
    const body = f.body!;
    part.headerStart = f.start.p;
    part.bodyStart = body.p;
    part.bodyEnd = end.p;
    part.headerSize = body.v - f.start.v;
    part.bodySize = end.v - body.v;
    part.bodyLines = end.l - body.l;
    if (f.start.v !== f.start.p) part.virtualStart = f.start.v;
  }

  private openChild(owner: Frame): void {
    if (this.partCount >= this.maxParts) return;
    this.partCount++;
    const start: Pos = { p: this.p, v: this.v, l: this.l };
    const part = newPart(start.p);
    owner.part.parts!.push(part);
    const f = this.frame(part, start, owner.depth + 1, true, owner.digest, null);
    if (f.last) this.boundaries.length = 0; // the last allowed part takes the rest of the file
    this.stack.push(f);
  }

  /** Header complete (at an empty line when `normal`, else cut short by a boundary or EOF). */
  private endHeader(f: Frame, at: Pos, normal: boolean): void {
    f.body = at;
    const header = f.keep.length === 1 ? f.keep[0] : Buffer.concat(f.keep, f.keepLen);
    f.keep = [];
    const part = f.part;
    const info = applyContentHeaders(part, header, f.parentMultipart, f.parentDigest, this.messageGlobal);
    if (f.owner !== null) f.owner.envelope = envelope(header);
    else if (part === this.root && f.exact) part.headerEnvelope = envelope(header);
    if (!info.multipart && !info.message) return;
    if (f.depth >= this.maxDepth || f.last) {
      part.overflow = true;
      return;
    }
    if (info.multipart) {
      part.parts = [];
      f.digest = info.digest;
      if (normal && info.boundary !== null) this.boundaries.push({ b: Buffer.from(info.boundary, 'latin1'), frame: f });
      return;
    }
    this.partCount++;
    const child = newPart(at.p);
    part.message = child;
    const cf = this.frame(child, at, f.depth + 1, false, false, part);
    if (cf.last) this.boundaries.length = 0;
    this.stack.push(cf);
  }

  /**
   * A header line: only Content-*, MIME-Version and (for the message itself and encapsulated
   * messages) envelope fields are kept.
   */
  private headerLine(f: Frame, content: Buffer, contentLen: number, term: number): void {
    const c = content[0];
    if (!(f.inField && (c === 0x20 || c === 0x09))) {
      f.inField = true;
      f.keeping = this.relevant(content, f.owner !== null || f.part === this.root);
    }
    if (!f.keeping) return;
    if (content.length < contentLen || f.keepLen + content.length + 2 > HEADER_KEEP_CAP) f.exact = false;
    if (f.keepLen + content.length + 2 > HEADER_KEEP_CAP) return;
    f.keep.push(Buffer.from(content));
    f.keepLen += content.length;
    if (term !== 0) {
      f.keep.push(term === 2 ? CRLF_BUF : LF_BUF);
      f.keepLen += term;
    }
  }

  private relevant(content: Buffer, inner: boolean): boolean {
    const colon = content.indexOf(0x3a);
    if (colon < 2 || colon > 64) return false;
    let e = colon;
    while (e > 0 && (content[e - 1] === 0x20 || content[e - 1] === 0x09)) e--;
    const name = content.toString('latin1', 0, e).toLowerCase();
    return name.startsWith('content-') || name === 'mime-version' || (inner && ENVELOPE_FIELDS.has(name));
  }
}

/** Parses a whole message held in memory. */
export function parseStructure(buf: Buffer, options?: StructureOptions): MimePart {
  const p = new StructureParser(options);
  p.write(buf);
  return p.end();
}
