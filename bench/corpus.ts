// Deterministic benchmark corpus: realistic messages as Postfix's virtual(8) delivers them
// into a maildir, plus the ground truth the search workloads are checked against.
//
// Same seed and size => byte-identical files, names and mtimes on every run.
//
// Delivery, the Postfix way: each message is written into maildir/tmp/ and renamed into
// maildir/new/ under a Postfix-style name "<sec>.V<dev>I<inode>M<usec>.<host>" (no ,S=),
// with LF line endings, Return-Path/Delivered-To/Received headers on top, and the file's
// mtime set to the delivery time (that is what IMAP INTERNALDATE shows for maildir).
// Files are not fsynced: the cache is rebuilt if it was cut short (no '.complete' marker).
//
// Cache layout (<cacheRoot>/corpus-v<version>-<seed>-<size>/):
//   maildir/{cur,new,tmp}   the mailbox, copied per benchmark run
//   truth.json              CorpusTruth (below)
//   .complete               written last

import fs from 'node:fs';
import path from 'node:path';
import { Prng } from './prng.js';
import {
  ATTACHMENT_TYPES, COMMON_WORDS, FILE_STEMS, FIRST_NAMES, LAST_NAMES, LATIN1_WORDS, LISTS,
  NEWSLETTERS, NONASCII_SUBJECTS, PERSONAL_DOMAINS, SUBJECT_TEMPLATES, UTF8_WORDS, WORK_DOMAINS,
  WORK_WORDS,
} from './words.js';

/** Bump when the generator's output changes, so stale caches are not reused. */
export const CORPUS_VERSION = 1;
export const DEFAULT_SEED = 'roost-bench';
/** Appears (decoded) in the body text of about 0.4% of the messages, nowhere else. */
export const RARE_WORD = 'quetzalcoatlus';
/** Part of the From header (display name and address) of about 0.8% of the messages. */
export const FROM_TERM = 'Halvorsen';
export const OWNER = 'alex@home.example';
const OWNER_NAME = 'Alex Morgan';
const MX = 'mx.home.example';
/** Postfix's maildir file names end in the short host name. */
const MAILDIR_HOST = 'mx';

const RARE_RATE = 0.004;
const FROM_RATE = 0.008;
const START = Date.UTC(2021, 5, 1) / 1000;
const END = Date.UTC(2024, 5, 1) / 1000;
/** No delivery within this many seconds of the SINCE date's midnight (UTC), so the answer does not depend on the server's time zone. */
const SINCE_GAP = 30 * 3600;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

export type MessageKind = 'plain' | 'latin1' | 'alternative' | 'html' | 'mixed' | 'forward';

export interface CorpusMessageInfo {
  /** File name in maildir/new/. */
  file: string;
  messageId: string;
  /** Bytes on disk (LF line endings). */
  size: number;
  /** RFC822.SIZE: bytes with CRLF line endings (the file has no bare CR). */
  crlfSize: number;
  /** Delivery time = file mtime = INTERNALDATE, unix seconds. */
  mtime: number;
  kind: MessageKind;
}

export interface CorpusTruth {
  version: number;
  seed: string;
  size: number;
  rareWord: string;
  /** Message-IDs of the messages whose (decoded) text contains rareWord, case-insensitively. */
  rareIds: string[];
  fromTerm: string;
  /** Message-IDs of the messages whose decoded From header contains fromTerm. */
  fromIds: string[];
  /** SEARCH SINCE <imapDate> must return exactly the messages with mtime >= unixSeconds. */
  since: { imapDate: string; unixSeconds: number; count: number };
  messages: CorpusMessageInfo[];
}

export interface GeneratedMessage {
  raw: Buffer;
  info: CorpusMessageInfo;
  rare: boolean;
  fromMatch: boolean;
}

// ---------------------------------------------------------------------------------------------
// Encoders (RFC 2045 quoted-printable/base64, RFC 2047 encoded words, RFC 5322 dates)

function b64Lines(data: Buffer): string {
  const s = data.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < s.length; i += 76) lines.push(s.slice(i, i + 76));
  return lines.join('\n') + '\n';
}

function qpEncode(text: string, charset: 'utf-8' | 'iso-8859-1'): string {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const bytes = Buffer.from(line, charset === 'utf-8' ? 'utf8' : 'latin1');
    let cur = '';
    for (let i = 0; i < bytes.length; i++) {
      const c = bytes[i];
      const last = i === bytes.length - 1;
      let tok: string;
      if ((c >= 33 && c <= 126 && c !== 61) || ((c === 32 || c === 9) && !last)) tok = String.fromCharCode(c);
      else tok = '=' + c.toString(16).toUpperCase().padStart(2, '0');
      // RFC 2045 6.7 rule 5: encoded lines are at most 76 characters, including the soft break '='.
      if (cur.length + tok.length > 75) {
        out.push(cur + '=');
        cur = '';
      }
      cur += tok;
    }
    out.push(cur);
  }
  return out.join('\n');
}

function utf8Chunks(text: string, maxBytes: number): string[] {
  const chunks: string[] = [];
  let cur = '';
  let curBytes = 0;
  for (const ch of text) {
    const n = Buffer.byteLength(ch, 'utf8');
    if (curBytes + n > maxBytes && cur) {
      chunks.push(cur);
      cur = '';
      curBytes = 0;
    }
    cur += ch;
    curBytes += n;
  }
  if (cur) chunks.push(cur);
  return chunks;
}

/** RFC 2047 'B' encoded words, each at most 75 characters, folded onto continuation lines. */
function encodeB(text: string): string {
  return utf8Chunks(text, 45)
    .map((c) => `=?UTF-8?B?${Buffer.from(c, 'utf8').toString('base64')}?=`)
    .join('\n ');
}

/** RFC 2047 'Q' encoded words (UTF-8 or ISO-8859-1). */
function encodeQ(text: string, charset: 'UTF-8' | 'ISO-8859-1'): string {
  const prefix = `=?${charset}?Q?`;
  const words: string[] = [];
  let cur = '';
  for (const ch of text) {
    const bytes = Buffer.from(ch, charset === 'UTF-8' ? 'utf8' : 'latin1');
    let tok = '';
    for (const c of bytes) {
      if (c === 32) tok += '_';
      else if ((c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 33 || c === 42 || c === 43 || c === 45 || c === 47) tok += String.fromCharCode(c);
      else tok += '=' + c.toString(16).toUpperCase().padStart(2, '0');
    }
    if (prefix.length + cur.length + tok.length + 2 > 75 && cur) {
      words.push(prefix + cur + '?=');
      cur = '';
    }
    cur += tok;
  }
  if (cur) words.push(prefix + cur + '?=');
  return words.join('\n ');
}

const isAscii = (s: string): boolean => /^[\x00-\x7f]*$/.test(s);
const isLatin1 = (s: string): boolean => /^[\x00-\xff]*$/.test(s);

/** Folds an unstructured ASCII header value at spaces (RFC 5322 2.2.3). */
function foldAscii(name: string, value: string): string {
  const words = value.split(' ');
  let line = name + ':';
  const lines: string[] = [];
  for (const w of words) {
    if (line.length + 1 + w.length > 76 && line.length > name.length + 1) {
      lines.push(line);
      line = '';
    }
    line += ' ' + w;
  }
  lines.push(line);
  return lines.join('\n');
}

function rfc5322Date(unix: number, offsetMinutes: number): string {
  const d = new Date((unix + offsetMinutes * 60) * 1000);
  const sign = offsetMinutes < 0 ? '-' : '+';
  const abs = Math.abs(offsetMinutes);
  const tz = sign + String(Math.floor(abs / 60)).padStart(2, '0') + String(abs % 60).padStart(2, '0');
  const p2 = (n: number): string => String(n).padStart(2, '0');
  return `${WEEKDAYS[d.getUTCDay()]}, ${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ` +
    `${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())} ${tz}`;
}

export function imapDate(unix: number): string {
  const d = new Date(unix * 1000);
  return `${d.getUTCDate()}-${MONTHS[d.getUTCMonth()]}-${d.getUTCFullYear()}`;
}

function htmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function wrap(paragraph: string, width: number): string {
  const lines: string[] = [];
  let line = '';
  for (const w of paragraph.split(' ')) {
    if (line && line.length + 1 + w.length > width) {
      lines.push(line);
      line = w;
    } else line = line ? line + ' ' + w : w;
  }
  if (line) lines.push(line);
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Text

type Script = 'ascii' | 'latin1' | 'utf8';

interface Sender {
  name: string; // display name, '' for a bare address
  addr: string;
  fromMatch: boolean;
}

function capitalize(w: string): string {
  return w.charAt(0).toUpperCase() + w.slice(1);
}

class TextGen {
  constructor(private r: Prng) {}

  word(script: Script): string {
    const r = this.r;
    if (script !== 'ascii' && r.chance(0.03)) {
      return script === 'utf8' && r.chance(0.5) ? r.pick(UTF8_WORDS) : r.pick(LATIN1_WORDS);
    }
    return r.chance(0.8) ? COMMON_WORDS[r.skewed(COMMON_WORDS.length, 1.8)] : r.pick(WORK_WORDS);
  }

  sentence(script: Script): string[] {
    const r = this.r;
    const n = r.int(5, 18);
    const words: string[] = [];
    for (let i = 0; i < n; i++) words.push(this.word(script));
    words[0] = capitalize(words[0]);
    if (n > 8 && r.chance(0.4)) words[r.int(2, n - 3)] += ',';
    words[n - 1] += r.chance(0.85) ? '.' : r.chance(0.6) ? '?' : '!';
    return words;
  }

  /** Paragraphs (each a list of words) of about `words` words; the rare word goes into one sentence if asked. */
  paragraphs(words: number, script: Script, rare: boolean): string[][] {
    const r = this.r;
    const paras: string[][] = [];
    let count = 0;
    while (count < words || paras.length === 0) {
      const para: string[] = [];
      const sentences = r.int(2, 6);
      for (let s = 0; s < sentences; s++) para.push(...this.sentence(script));
      paras.push(para);
      count += para.length;
    }
    if (rare) {
      const p = paras[r.int(0, Math.min(paras.length, 3) - 1)];
      const at = r.int(0, p.length - 1);
      // Sometimes a sentence starts with it: the search must be case-insensitive.
      p[at] = at === 0 ? capitalize(RARE_WORD) : RARE_WORD + (p[at].match(/[.,?!]$/)?.[0] ?? '');
    }
    return paras;
  }

  phrase(min: number, max: number, script: Script = 'ascii'): string {
    const n = this.r.int(min, max);
    const w: string[] = [];
    for (let i = 0; i < n; i++) w.push(this.word(script).replace(/[.,?!]/g, ''));
    return w.join(' ');
  }
}

// ---------------------------------------------------------------------------------------------
// The generator

interface Thread {
  subject: string;
  ids: string[];
}

interface Part {
  headers: string[];
  body: string; // ends without a trailing newline requirement; assemble() adds separators
}

export class CorpusGenerator {
  private readonly r: Prng;
  private readonly text: TextGen;
  private readonly senders: Sender[];
  private readonly halvorsens: Sender[];
  private readonly threads: Thread[] = [];
  private inode: number;
  readonly sinceUnix: number;
  private readonly slot: number;

  constructor(
    readonly seed: string,
    readonly size: number,
  ) {
    this.r = new Prng(`corpus:${seed}`);
    const setup = this.r.fork('setup');
    this.text = new TextGen(this.r);
    this.senders = [];
    for (let i = 0; i < 600; i++) this.senders.push(this.makeSender(setup));
    this.halvorsens = [
      { name: 'Bjørn Halvorsen', addr: 'bjorn.halvorsen@fjordnett.example', fromMatch: true },
      { name: 'Ingrid Halvorsen', addr: 'ingrid@halvorsen.example', fromMatch: true },
      { name: 'Åse Halvorsen', addr: 'ase.halvorsen@posten.example', fromMatch: true },
      { name: 'Halvorsen, Per', addr: 'per.halvorsen@oslo-kommune.example', fromMatch: true },
    ];
    this.inode = 0x4a000 + setup.int(0, 0xfff);
    const day = 86400;
    this.sinceUnix = START + Math.floor((0.8 * (END - START)) / day) * day;
    this.slot = (END - START - 2 * SINCE_GAP) / size;
  }

  private makeSender(r: Prng): Sender {
    const [first, firstA] = r.pick(FIRST_NAMES);
    const [last, lastA] = r.pick(LAST_NAMES);
    const work = r.chance(0.5);
    const domain = work ? r.pick(WORK_DOMAINS) : r.pick(PERSONAL_DOMAINS);
    const local = r.chance(0.6) ? `${firstA}.${lastA}` : r.chance(0.5) ? `${firstA[0]}${lastA}` : `${firstA}${r.int(1, 99)}`;
    const name = r.chance(0.08) ? '' : r.chance(0.1) ? `${last}, ${first}` : `${first} ${last}`;
    return { name, addr: `${local}@${domain}`, fromMatch: false };
  }

  /** An address header value: display name encoded as mail clients do. */
  private address(s: Sender, latin1: boolean): string {
    const r = this.r;
    if (!s.name) return s.addr;
    if (isAscii(s.name)) {
      return /[,.'"]/.test(s.name) ? `"${s.name.replace(/"/g, '\\"')}" <${s.addr}>` : `${s.name} <${s.addr}>`;
    }
    if (latin1 && isLatin1(s.name)) return `${encodeQ(s.name, 'ISO-8859-1')} <${s.addr}>`;
    return `${r.chance(0.5) ? encodeB(s.name) : encodeQ(s.name, 'UTF-8')} <${s.addr}>`;
  }

  private subjectHeader(subject: string, latin1: boolean): string {
    if (isAscii(subject)) return foldAscii('Subject', subject);
    if (latin1 && isLatin1(subject)) return 'Subject: ' + encodeQ(subject, 'ISO-8859-1');
    return 'Subject: ' + (this.r.chance(0.6) ? encodeB(subject) : encodeQ(subject, 'UTF-8'));
  }

  private newSubject(): string {
    const r = this.r;
    if (r.chance(0.08)) {
      return r.pick(NONASCII_SUBJECTS).replace('{n}', String(r.int(1000, 99999))).replace('{y}', String(r.int(2021, 2024)));
    }
    return r.pick(SUBJECT_TEMPLATES).replace(/\{(w|W|n)\}/g, (_m, k: string) => {
      if (k === 'n') return String(r.int(1000, 999999));
      const w = this.text.word('ascii');
      return k === 'W' ? capitalize(w) : w;
    });
  }

  private boundary(): string {
    const r = this.r;
    const style = r.int(0, 2);
    if (style === 0) return '000000000000' + r.hex(16);
    if (style === 1) return `----=_Part_${r.int(1, 999999)}_${r.int(1, 99999999)}.${r.int(1e12, 1.8e12)}`;
    return '=_' + r.hex(24);
  }

  private textPart(paras: string[][], script: Script, forceQp = false): Part {
    const r = this.r;
    // Names in greetings, signatures and quote lines can be outside the message's script.
    const joined = paras.map((p) => p.join(' ')).join('\n');
    if ((script === 'ascii' && !isAscii(joined)) || (script === 'latin1' && !isLatin1(joined))) script = 'utf8';
    const charset = script === 'latin1' ? 'iso-8859-1' : script === 'utf8' ? 'utf-8' : r.chance(0.5) ? 'us-ascii' : 'utf-8';
    let cte: string;
    if (script === 'latin1' || forceQp) cte = 'quoted-printable';
    else if (r.chance(0.06)) cte = 'base64';
    else if (script === 'utf8') cte = r.chance(0.5) ? '8bit' : 'quoted-printable';
    else cte = r.chance(0.7) ? '7bit' : 'quoted-printable';
    // Quoted-printable producers often send a paragraph as one long line (soft breaks do the wrapping).
    const longLines = cte === 'quoted-printable' && r.chance(0.5);
    const text = paras.map((p) => (longLines ? p.join(' ') : wrap(p.join(' '), 72))).join('\n\n') + '\n';
    let body: string;
    if (cte === 'quoted-printable') body = qpEncode(text, charset === 'iso-8859-1' ? 'iso-8859-1' : 'utf-8');
    else if (cte === 'base64') body = b64Lines(Buffer.from(text, 'utf8'));
    else body = text;
    const flowed = (cte === '7bit' || cte === '8bit') && r.chance(0.3) ? '; format=flowed' : '';
    return {
      headers: [`Content-Type: text/plain; charset="${charset}"${flowed}`, `Content-Transfer-Encoding: ${cte}`],
      body,
    };
  }

  private htmlPart(paras: string[][], newsletter: boolean): Part {
    const r = this.r;
    const lines: string[] = ['<!DOCTYPE html>', '<html>', '<head>', '<meta http-equiv="Content-Type" content="text/html; charset=utf-8">'];
    if (newsletter) {
      lines.push('<style type="text/css">', 'body { margin: 0; padding: 0; font-family: Helvetica, Arial, sans-serif; }',
        'table.wrap { width: 100%; background-color: #f4f4f4; }', 'td.content { padding: 24px; color: #333333; font-size: 15px; line-height: 22px; }',
        'h2 { font-size: 20px; color: #1a1a1a; }', 'a.button { background: #0b57d0; color: #ffffff; padding: 10px 18px; text-decoration: none; }', '</style>');
    }
    lines.push('</head>', '<body>');
    if (newsletter) {
      lines.push('<table class="wrap" cellpadding="0" cellspacing="0" border="0"><tr><td align="center">',
        '<table width="600" cellpadding="0" cellspacing="0" border="0" style="background-color:#ffffff">');
      for (const p of paras) {
        lines.push('<tr><td class="content">', `<h2 style="margin:0 0 12px 0">${htmlEscape(this.text.phrase(3, 7))}</h2>`,
          `<img src="https://cdn.news.example/img/${r.hex(12)}.jpg" width="552" alt="" style="display:block;border:0">`,
          `<p style="margin:12px 0">${htmlEscape(p.join(' '))}</p>`,
          `<a class="button" href="https://click.news.example/ls/click?upn=${r.chars(ALNUM, 48)}">Read more</a>`, '</td></tr>');
      }
      lines.push('<tr><td class="content" style="font-size:12px;color:#888888">',
        `You are receiving this because you subscribed. <a href="https://news.example/unsubscribe/${r.hex(20)}">Unsubscribe</a>`,
        '</td></tr></table></td></tr></table>');
    } else {
      lines.push('<div dir="ltr">');
      for (const p of paras) {
        let html = htmlEscape(p.join(' '));
        if (r.chance(0.1)) html += ` <a href="https://www.${r.pick(WORK_DOMAINS)}/${r.hex(8)}">${htmlEscape(this.text.phrase(1, 3))}</a>`;
        lines.push(`<p>${html}</p>`);
      }
      lines.push('</div>');
    }
    lines.push('</body>', '</html>');
    const text = lines.join('\n') + '\n';
    const b64 = r.chance(0.1);
    return {
      headers: ['Content-Type: text/html; charset="utf-8"', `Content-Transfer-Encoding: ${b64 ? 'base64' : 'quoted-printable'}`],
      body: b64 ? b64Lines(Buffer.from(text, 'utf8')) : qpEncode(text, 'utf-8') + '\n',
    };
  }

  private attachment(): Part {
    const r = this.r;
    const [type, ext, isText] = r.pick(ATTACHMENT_TYPES);
    const stem = r.pick(FILE_STEMS);
    const name = `${stem}${r.chance(0.3) ? '-' + r.int(1, 40) : ''}.${ext}`;
    const size = Math.round(Math.min(1_500_000, Math.max(300, r.lognormal(isText ? 3000 : 22000, 1.0))));
    let data: Buffer;
    if (isText) {
      const rows: string[] = [];
      let len = 0;
      while (len < size) {
        const row = ext === 'csv' ? `${r.int(1, 99999)},${this.text.phrase(1, 3)},${r.int(0, 9999)}.${r.int(10, 99)}` : this.text.phrase(6, 14);
        rows.push(row);
        len += row.length + 1;
      }
      data = Buffer.from(rows.join('\n') + '\n', 'utf8');
    } else {
      const magic = ext === 'pdf' ? '%PDF-1.7\n' : ext === 'png' ? '\x89PNG\r\n\x1a\n' : ext === 'jpg' ? '\xff\xd8\xff\xe0' : 'PK\x03\x04';
      data = Buffer.concat([Buffer.from(magic, 'latin1'), r.bytes(size)]);
    }
    let nameParam: string;
    let disposition: string;
    if (isAscii(name)) {
      nameParam = `; name="${name}"`;
      disposition = `attachment; filename="${name}"`;
    } else {
      // What Thunderbird/Outlook send: RFC 2047 in name=, RFC 2231 in filename*=.
      nameParam = `; name="${encodeQ(name, 'UTF-8').replace(/\n /g, '')}"`;
      disposition = `attachment;\n filename*=UTF-8''${encodeURIComponent(name)}`;
    }
    return {
      headers: [`Content-Type: ${type}${nameParam}`, `Content-Disposition: ${disposition}`, 'Content-Transfer-Encoding: base64'],
      body: b64Lines(data),
    };
  }

  private inlineImage(): Part {
    const r = this.r;
    const cid = `${r.hex(10)}@news.example`;
    const data = Buffer.concat([Buffer.from('\x89PNG\r\n\x1a\n', 'latin1'), r.bytes(Math.round(r.lognormal(6000, 0.7)))]);
    return {
      headers: ['Content-Type: image/png', 'Content-Transfer-Encoding: base64', `Content-ID: <${cid}>`, 'Content-Disposition: inline; filename="logo.png"'],
      body: b64Lines(data),
    };
  }

  private multipart(subtype: string, parts: Part[], preamble: boolean): Part {
    const b = this.boundary();
    const chunks: string[] = [];
    if (preamble) chunks.push('This is a multi-part message in MIME format.\n');
    for (const p of parts) {
      chunks.push(`--${b}\n${p.headers.join('\n')}\n\n${p.body.endsWith('\n') ? p.body : p.body + '\n'}`);
    }
    chunks.push(`--${b}--\n`);
    return { headers: [`Content-Type: multipart/${subtype};\n boundary="${b}"`], body: chunks.join('\n') };
  }

  private quoted(script: Script, who: Sender, when: number): string[][] {
    // A reply quotes earlier text; it is freshly generated (never contains the rare word).
    const lines = this.text.paragraphs(this.r.int(20, 120), script, false);
    const intro = `On ${rfc5322Date(when, 0)}, ${who.name || who.addr} wrote:`.split(' ');
    return [intro, ...lines.map((p) => ['>', ...p])];
  }

  private traceHeaders(sender: Sender, unix: number, envelopeFrom: string): string[] {
    const r = this.r;
    const qid = r.chars('0123456789BCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz', 11);
    const domain = sender.addr.split('@')[1];
    const relay = `${r.pick(['mail', 'smtp', 'mx', 'out', 'mta'])}${r.int(1, 40)}.${domain}`;
    const ip = `${r.pick([198, 203, 192, 185, 209])}.${r.int(0, 255)}.${r.int(0, 255)}.${r.int(1, 254)}`;
    const h = [
      `Return-Path: <${envelopeFrom}>`,
      `Delivered-To: ${OWNER}`,
      `Received: from ${relay} (${relay} [${ip}])\n\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)\n\t key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256)\n\t(No client certificate requested)\n\tby ${MX} (Postfix) with ESMTPS id ${qid}\n\tfor <${OWNER}>; ${rfc5322Date(unix, 0)} (UTC)`,
    ];
    const hops = r.int(0, 2);
    let t = unix;
    for (let i = 0; i < hops; i++) {
      t -= r.int(1, 30); // older hops further down
      h.push(`Received: by ${r.pick(['mail', 'smtp', 'relay'])}-${r.hex(4)}.${domain} with SMTP id ${r.chars(ALNUM, 14)}\n        for <${OWNER}>; ${rfc5322Date(t, 0)}`);
    }
    if (r.chance(0.65)) {
      const sig = r.chars(B64, 342) + '==';
      const folded: string[] = [];
      for (let i = 0; i < sig.length; i += 70) folded.push(sig.slice(i, i + 70));
      h.push(`DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=${domain};\n\ts=${r.pick(['s1', 'google', 'selector1', 'mail', 'k1'])}; t=${unix - 5}; bh=${r.chars(B64, 43)}=;\n\th=From:To:Subject:Date:Message-ID:MIME-Version:Content-Type;\n\tb=${folded.join('\n\t ')}`);
      h.push(`Authentication-Results: ${MX};\n\tdkim=pass (2048-bit key; unprotected) header.d=${domain} header.i=@${domain};\n\tspf=pass smtp.mailfrom=${domain}`);
    }
    return h;
  }

  /** Generates message number i (0-based). Must be called with i = 0, 1, 2, ... in order. */
  next(i: number): GeneratedMessage {
    const r = this.r;
    // Delivery time: one slot per message, strictly increasing, with a gap around the SINCE date.
    let t = START + (i + r.float()) * this.slot;
    if (t >= this.sinceUnix - SINCE_GAP) t += 2 * SINCE_GAP;
    const sec = Math.floor(t);
    const usec = r.int(0, 999999);
    this.inode += r.int(1, 9);
    const file = `${sec}.V${'fd01'}I${this.inode.toString(16)}M${usec}.${MAILDIR_HOST}`;

    const u = r.float();
    const kind: MessageKind = u < 0.42 ? 'plain' : u < 0.47 ? 'latin1' : u < 0.74 ? 'alternative' : u < 0.86 ? 'html' : u < 0.97 ? 'mixed' : 'forward';
    const rare = r.chance(RARE_RATE);
    const newsletter = kind === 'html';
    const list = !newsletter && r.chance(0.15) ? r.pick(LISTS) : null;

    let sender: Sender;
    if (newsletter) {
      const [name, addr] = r.pick(NEWSLETTERS);
      sender = { name, addr, fromMatch: false };
    } else if (r.chance(FROM_RATE)) sender = r.pick(this.halvorsens);
    else sender = this.senders[r.skewed(this.senders.length, 2.2)];

    const tzs = [0, 60, 120, -240, -300, -420, 330, 540, 600, -180];
    const dateUnix = sec - r.int(2, 900);
    const domain = sender.addr.split('@')[1];
    const messageId = `<${dateUnix.toString(36)}.${i.toString(36)}${r.hex(10)}@${r.chance(0.3) ? 'mail.' : ''}${domain}>`;

    // Threads: some messages reply to a recent conversation.
    let subject: string;
    let inReplyTo: string | null = null;
    let references: string[] = [];
    let reply = false;
    if (!newsletter && this.threads.length > 0 && r.chance(0.3)) {
      const th = this.threads[this.threads.length - 1 - r.skewed(Math.min(this.threads.length, 300), 2)];
      subject = (r.chance(0.85) ? 'Re: ' : 'RE: ') + th.subject;
      inReplyTo = th.ids[th.ids.length - 1];
      references = th.ids.slice(-12);
      th.ids.push(messageId);
      reply = true;
    } else {
      subject = this.newSubject();
      if (list) subject = `${list[2]} ${subject}`;
      if (!newsletter && r.chance(0.5)) {
        this.threads.push({ subject, ids: [messageId] });
        if (this.threads.length > 1000) this.threads.splice(0, 500);
      }
    }
    if (kind === 'forward') subject = 'Fwd: ' + subject.replace(/^(Re|RE): /, '');

    const script: Script = kind === 'latin1' ? 'latin1' : r.chance(0.25) ? 'utf8' : 'ascii';
    const latin1 = kind === 'latin1';
    const words = Math.round(Math.min(6000, Math.max(15, r.lognormal(newsletter ? 100 : 300, 0.8))));
    const greeting = [r.pick(['Hi', 'Hello', 'Dear', 'Hey']), OWNER_NAME.split(' ')[0] + ','];
    const generated = this.text.paragraphs(words, script, rare);
    const paras = [greeting, ...generated];
    if (!newsletter && r.chance(0.5)) paras.push(['Best', 'regards,'], [sender.name || sender.addr]);
    if (reply && r.chance(0.7)) paras.push(...this.quoted(script, this.senders[r.skewed(this.senders.length)], dateUnix - r.int(600, 200000)));

    let top: Part;
    switch (kind) {
      case 'plain':
      case 'latin1':
        top = this.textPart(paras, script);
        break;
      case 'alternative':
        top = this.multipart('alternative', [this.textPart(paras, script, true), this.htmlPart(paras, false)], r.chance(0.3));
        break;
      case 'html': {
        const html = this.htmlPart(paras.slice(1), true);
        top = r.chance(0.3) ? this.multipart('related', [html, this.inlineImage()], false) : html;
        break;
      }
      case 'mixed': {
        const body = r.chance(0.5) ? this.textPart(paras, script) : this.multipart('alternative', [this.textPart(paras, script, true), this.htmlPart(paras, false)], false);
        const parts = [body, this.attachment()];
        if (r.chance(0.25)) parts.push(this.attachment());
        top = this.multipart('mixed', parts, r.chance(0.5));
        break;
      }
      case 'forward': {
        // The rare word is in one of the first three generated paragraphs; keep them all.
        const note = this.textPart([greeting, ...generated.slice(0, 3)], script);
        const inner = this.senders[r.skewed(this.senders.length)];
        const innerDate = dateUnix - r.int(3600, 30 * 86400);
        const innerBody = this.textPart(this.text.paragraphs(r.int(40, 300), 'ascii', false), 'ascii');
        const innerMsg = [
          `From: ${this.address(inner, false)}`, `To: ${OWNER_NAME} <${OWNER}>`, this.subjectHeader(subject.slice(5), false),
          `Date: ${rfc5322Date(innerDate, r.pick(tzs))}`, `Message-ID: <${r.hex(16)}@${inner.addr.split('@')[1]}>`, 'MIME-Version: 1.0',
          ...innerBody.headers, '', innerBody.body,
        ].join('\n');
        top = this.multipart('mixed', [note, { headers: ['Content-Type: message/rfc822', 'Content-Disposition: inline'], body: innerMsg }], false);
        break;
      }
    }

    const envelopeFrom = newsletter || list ? `bounce-${r.hex(12)}@${list ? list[0].split('@')[1] : domain}` : sender.addr;
    const h = this.traceHeaders(sender, sec, envelopeFrom);
    h.push(`From: ${this.address(sender, latin1)}`);
    if (list) h.push(`To: ${list[0]}`);
    else if (!newsletter && r.chance(0.2)) {
      const n = r.int(1, 5);
      const rcpts = [`${OWNER_NAME} <${OWNER}>`];
      for (let k = 0; k < n; k++) rcpts.push(this.address(this.senders[r.skewed(this.senders.length)], latin1));
      h.push('To: ' + rcpts.join(',\n '));
      if (r.chance(0.4)) h.push('Cc: ' + this.address(this.senders[r.skewed(this.senders.length)], latin1));
    } else h.push(r.chance(0.5) ? `To: ${OWNER_NAME} <${OWNER}>` : `To: ${OWNER}`);
    h.push(this.subjectHeader(subject, latin1));
    h.push(`Date: ${rfc5322Date(dateUnix, r.pick(tzs))}`);
    h.push(`Message-ID: ${messageId}`);
    if (inReplyTo) {
      h.push(`In-Reply-To: ${inReplyTo}`);
      h.push('References: ' + references.join('\n '));
    }
    if (list) {
      h.push(`List-Id: <${list[1]}>`, `List-Unsubscribe: <mailto:${list[0].replace('@', '-unsubscribe@')}>`, `List-Post: <mailto:${list[0]}>`, 'Precedence: list');
    }
    if (newsletter) {
      h.push(`List-Unsubscribe: <https://${domain}/u/${r.hex(24)}>, <mailto:unsubscribe-${r.hex(8)}@${domain}>`, 'List-Unsubscribe-Post: List-Unsubscribe=One-Click', 'Precedence: bulk');
    } else if (r.chance(0.5)) {
      h.push(r.chance(0.5) ? `User-Agent: ${r.pick(['Mozilla Thunderbird', 'Mutt/2.2.9', 'Roundcube Webmail/1.6.5'])}` : `X-Mailer: ${r.pick(['Apple Mail (2.3774.300.61.1.2)', 'Microsoft Outlook 16.0', 'iPhone Mail (21E236)'])}`);
    }
    h.push('MIME-Version: 1.0', ...top.headers);
    const text = h.join('\n') + '\n\n' + (top.body.endsWith('\n') ? top.body : top.body + '\n');
    const raw = Buffer.from(text, 'utf8');
    let lf = 0;
    for (let k = raw.indexOf(10); k !== -1; k = raw.indexOf(10, k + 1)) lf++;
    return {
      raw,
      rare,
      fromMatch: sender.fromMatch,
      info: { file, messageId, size: raw.length, crlfSize: raw.length + lf, mtime: sec, kind },
    };
  }
}

// ---------------------------------------------------------------------------------------------
// Writing and caching

function mkMaildir(dir: string): void {
  for (const sub of ['cur', 'new', 'tmp']) fs.mkdirSync(path.join(dir, sub), { recursive: true });
}

/** Delivers the corpus into `maildir` (created) and returns its ground truth. */
export function writeCorpus(maildir: string, seed: string, size: number, progress?: (done: number) => void): CorpusTruth {
  mkMaildir(maildir);
  const gen = new CorpusGenerator(seed, size);
  const truth: CorpusTruth = {
    version: CORPUS_VERSION,
    seed,
    size,
    rareWord: RARE_WORD,
    rareIds: [],
    fromTerm: FROM_TERM,
    fromIds: [],
    since: { imapDate: imapDate(gen.sinceUnix), unixSeconds: gen.sinceUnix, count: 0 },
    messages: [],
  };
  for (let i = 0; i < size; i++) {
    const m = gen.next(i);
    const tmp = path.join(maildir, 'tmp', m.info.file);
    const dest = path.join(maildir, 'new', m.info.file);
    fs.writeFileSync(tmp, m.raw);
    fs.utimesSync(tmp, m.info.mtime, m.info.mtime);
    fs.renameSync(tmp, dest);
    truth.messages.push(m.info);
    if (m.rare) truth.rareIds.push(m.info.messageId);
    if (m.fromMatch) truth.fromIds.push(m.info.messageId);
    if (m.info.mtime >= gen.sinceUnix) truth.since.count++;
    if (progress && (i + 1) % 1000 === 0) progress(i + 1);
  }
  return truth;
}

export interface CachedCorpus {
  dir: string;
  maildir: string;
  truth: CorpusTruth;
  generated: boolean;
}

export function corpusCacheDir(cacheRoot: string, seed: string, size: number): string {
  const safeSeed = seed.replace(/[^A-Za-z0-9_.-]/g, '_');
  return path.join(cacheRoot, `corpus-v${CORPUS_VERSION}-${safeSeed}-${size}`);
}

/** Returns the cached corpus for seed+size, generating it first if missing or incomplete. */
export function ensureCorpus(cacheRoot: string, seed: string, size: number, progress?: (done: number) => void): CachedCorpus {
  const dir = corpusCacheDir(cacheRoot, seed, size);
  const maildir = path.join(dir, 'maildir');
  const marker = path.join(dir, '.complete');
  if (fs.existsSync(marker)) {
    const truth = JSON.parse(fs.readFileSync(path.join(dir, 'truth.json'), 'utf8')) as CorpusTruth;
    return { dir, maildir, truth, generated: false };
  }
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const truth = writeCorpus(maildir, seed, size, progress);
  fs.writeFileSync(path.join(dir, 'truth.json'), JSON.stringify(truth));
  fs.writeFileSync(marker, `${new Date().toISOString()}\n`);
  return { dir, maildir, truth, generated: true };
}

/** Messages for the APPEND workload (CRLF line endings, as IMAP sends them); independent of the corpus. */
export function appendMessages(seed: string, count: number): Buffer[] {
  const gen = new CorpusGenerator(`${seed}:append`, count);
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const raw = gen.next(i).raw;
    out.push(Buffer.from(raw.toString('latin1').replace(/\n/g, '\r\n'), 'latin1'));
  }
  return out;
}

export interface CorpusStats {
  messages: number;
  totalBytes: number;
  medianBytes: number;
  meanBytes: number;
  p90Bytes: number;
  maxBytes: number;
  kinds: Record<string, number>;
}

export function corpusStats(truth: CorpusTruth): CorpusStats {
  const sizes = truth.messages.map((m) => m.size).sort((a, b) => a - b);
  const total = sizes.reduce((a, b) => a + b, 0);
  const kinds: Record<string, number> = {};
  for (const m of truth.messages) kinds[m.kind] = (kinds[m.kind] ?? 0) + 1;
  return {
    messages: sizes.length,
    totalBytes: total,
    medianBytes: sizes[Math.floor(sizes.length / 2)] ?? 0,
    meanBytes: sizes.length ? Math.round(total / sizes.length) : 0,
    p90Bytes: sizes[Math.floor(sizes.length * 0.9)] ?? 0,
    maxBytes: sizes[sizes.length - 1] ?? 0,
    kinds,
  };
}
