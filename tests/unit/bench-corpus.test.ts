// Smoke test of the benchmark's corpus generator (bench/corpus.ts): same seed => identical
// maildir, and the ground truth the benchmark checks servers against is right, verified by
// decoding the written files independently of how the generator built them.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import iconv from 'iconv-lite';
import { CORPUS_VERSION, FROM_TERM, RARE_WORD, appendMessages, corpusStats, writeCorpus, type CorpusTruth } from '../../bench/corpus.js';
import * as words from '../../bench/words.js';

const SEED = 'smoke';
const SIZE = 1500;

let tmp: string;
let truthA: CorpusTruth;
let truthB: CorpusTruth;

function dirDigest(maildir: string, limit = Infinity): string {
  const h = crypto.createHash('sha256');
  for (const name of fs.readdirSync(path.join(maildir, 'new')).sort().slice(0, limit)) {
    const file = path.join(maildir, 'new', name);
    h.update(`${name}\0${Math.floor(fs.statSync(file).mtimeMs / 1000)}\0`);
    h.update(fs.readFileSync(file));
  }
  return h.digest('hex');
}

// --- an independent, minimal MIME decoder (RFC 2045/2046/2047) ------------------------------

function splitMessage(raw: Buffer): { header: string; body: Buffer } {
  const i = raw.indexOf('\n\n');
  return i < 0 ? { header: raw.toString('latin1'), body: Buffer.alloc(0) } : { header: raw.subarray(0, i).toString('latin1'), body: raw.subarray(i + 2) };
}

function headerValue(header: string, name: string): string | undefined {
  const unfolded = header.replace(/\n[ \t]+/g, ' ');
  const m = new RegExp(`^${name}:[ \\t]*(.*)$`, 'im').exec(unfolded);
  return m?.[1];
}

function param(value: string, name: string): string | undefined {
  const m = new RegExp(`;\\s*${name}="?([^";]+)"?`, 'i').exec(value);
  return m?.[1];
}

function decodeQp(text: string): Buffer {
  const soft = text.replace(/=\r?\n/g, '');
  const bytes: number[] = [];
  for (let i = 0; i < soft.length; i++) {
    if (soft[i] === '=' && /^[0-9A-F]{2}$/i.test(soft.slice(i + 1, i + 3))) {
      bytes.push(parseInt(soft.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(soft.charCodeAt(i) & 0xff);
  }
  return Buffer.from(bytes);
}

function decodeWords(value: string): string {
  return value
    .replace(/(\?=)\s+(=\?)/g, '$1$2')
    .replace(/=\?([^?]+)\?([BbQq])\?([^?]*)\?=/g, (_m, charset: string, enc: string, text: string) => {
      const bytes = enc.toUpperCase() === 'B' ? Buffer.from(text, 'base64') : decodeQp(text.replace(/_/g, ' '));
      return iconv.decode(bytes, charset);
    });
}

/** Decoded text of every text/* part, recursing into multiparts and message/rfc822. */
function texts(raw: Buffer): string[] {
  const { header, body } = splitMessage(raw);
  const ctype = headerValue(header, 'Content-Type') ?? 'text/plain';
  const type = ctype.split(';')[0].trim().toLowerCase();
  if (type.startsWith('multipart/')) {
    const boundary = param(ctype, 'boundary')!;
    const parts = body.toString('latin1').split(`--${boundary}`).slice(1, -1);
    return parts.flatMap((p) => texts(Buffer.from(p.replace(/^\n/, ''), 'latin1')));
  }
  if (type === 'message/rfc822') return texts(body);
  if (!type.startsWith('text/')) return [];
  const cte = (headerValue(header, 'Content-Transfer-Encoding') ?? '7bit').trim().toLowerCase();
  const decoded = cte === 'base64' ? Buffer.from(body.toString('latin1'), 'base64') : cte === 'quoted-printable' ? decodeQp(body.toString('latin1')) : body;
  return [iconv.decode(decoded, param(ctype, 'charset') ?? 'us-ascii')];
}

// ---------------------------------------------------------------------------------------------

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-corpus-'));
  truthA = writeCorpus(path.join(tmp, 'a'), SEED, SIZE);
  truthB = writeCorpus(path.join(tmp, 'b'), SEED, SIZE);
});

afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('bench corpus generator', () => {
  it('is deterministic: same seed, same files, names, mtimes and truth', () => {
    expect(truthB).toEqual(truthA);
    expect(dirDigest(path.join(tmp, 'b'))).toBe(dirDigest(path.join(tmp, 'a')));
    expect(fs.readdirSync(path.join(tmp, 'a', 'tmp'))).toEqual([]);
    expect(fs.readdirSync(path.join(tmp, 'a', 'cur'))).toEqual([]);
    const other = writeCorpus(path.join(tmp, 'c'), 'another seed', 20);
    expect(other.messages[0].messageId).not.toBe(truthA.messages[0].messageId);
  });

  it('produces the pinned bytes (bump CORPUS_VERSION and this digest when the generator changes)', () => {
    expect(CORPUS_VERSION).toBe(1);
    expect(dirDigest(path.join(tmp, 'a'), 200)).toBe('f4632d27345c1853eeb7934f276bc7a605212163a369b612c72438a8d100eca4');
  });

  it('delivers like Postfix: names, LF line endings, trace headers, realistic sizes', () => {
    const maildir = path.join(tmp, 'a');
    const ids = new Set<string>();
    for (const m of truthA.messages) {
      expect(m.file).toMatch(/^\d{10}\.V[0-9a-f]+I[0-9a-f]+M\d{1,6}\.mx$/);
      const file = path.join(maildir, 'new', m.file);
      const raw = fs.readFileSync(file);
      expect(raw.length).toBe(m.size);
      expect(raw.includes(13)).toBe(false);
      let lf = 0;
      for (const b of raw) if (b === 10) lf++;
      expect(m.crlfSize).toBe(m.size + lf);
      expect(Math.floor(fs.statSync(file).mtimeMs / 1000)).toBe(m.mtime);
      const { header } = splitMessage(raw);
      expect(header.startsWith('Return-Path: <')).toBe(true);
      expect(header).toMatch(/^Delivered-To: alex@home\.example$/m);
      expect(header).toMatch(/^Received: from .*\n(\t.*\n)*\tby mx\.home\.example \(Postfix\) with ESMTPS id /m);
      expect(headerValue(header, 'Message-ID')).toBe(m.messageId);
      expect(raw.toString('latin1').split('\n').every((l) => l.length <= 998)).toBe(true);
      ids.add(m.messageId);
    }
    expect(ids.size).toBe(SIZE);
    const mtimes = truthA.messages.map((m) => m.mtime);
    expect([...mtimes].sort((a, b) => a - b)).toEqual(mtimes);
    const stats = corpusStats(truthA);
    expect(stats.medianBytes).toBeGreaterThan(3500);
    expect(stats.medianBytes).toBeLessThan(7000);
    expect(Object.keys(stats.kinds).sort()).toEqual(['alternative', 'forward', 'html', 'latin1', 'mixed', 'plain']);
    const all = truthA.messages.map((m) => fs.readFileSync(path.join(maildir, 'new', m.file), 'latin1')).join('\n');
    expect(all).toMatch(/^In-Reply-To: </m);
    expect(all).toMatch(/^References: </m);
    expect(all).toMatch(/^Subject: =\?UTF-8\?B\?/m);
    expect(all).toMatch(/^Content-Type: multipart\/alternative;/m);
    expect(all).toMatch(/^Content-Transfer-Encoding: base64$/m);
  });

  it('has a correct ground truth for SEARCH TEXT, FROM and SINCE', () => {
    const maildir = path.join(tmp, 'a');
    const rare: string[] = [];
    const from: string[] = [];
    for (const m of truthA.messages) {
      const raw = fs.readFileSync(path.join(maildir, 'new', m.file));
      const { header } = splitMessage(raw);
      // The rare word is only ever in body text, never in a header.
      expect(decodeWords(header).toLowerCase()).not.toContain(RARE_WORD);
      if (texts(raw).some((t) => t.toLowerCase().includes(RARE_WORD))) rare.push(m.messageId);
      if (decodeWords(headerValue(header, 'From')!).toLowerCase().includes(FROM_TERM.toLowerCase())) from.push(m.messageId);
    }
    expect(rare.length).toBeGreaterThan(0);
    expect(rare).toEqual(truthA.rareIds);
    expect(from.length).toBeGreaterThan(0);
    expect(from).toEqual(truthA.fromIds);
    // SINCE: no delivery within 30 hours of the date's midnight, so any server time zone gives the same answer.
    const since = truthA.since.unixSeconds;
    expect(truthA.messages.filter((m) => Math.abs(m.mtime - since) < 30 * 3600)).toEqual([]);
    expect(truthA.since.count).toBe(truthA.messages.filter((m) => m.mtime >= since).length);
    expect(truthA.since.count).toBeGreaterThan(0);
    expect(truthA.since.count).toBeLessThan(SIZE);
    expect(new Date(since * 1000).getUTCHours()).toBe(0);
  });

  it('keeps the search terms out of the word lists', () => {
    const all = Object.values(words).flat(2).join(' ').toLowerCase();
    expect(all).not.toContain(RARE_WORD);
    expect(all).not.toContain(FROM_TERM.toLowerCase());
  });

  it('makes APPEND messages with CRLF line endings', () => {
    const msgs = appendMessages(SEED, 5);
    expect(msgs).toHaveLength(5);
    for (const m of msgs) {
      const s = m.toString('latin1');
      expect(s.endsWith('\r\n')).toBe(true);
      expect(/[^\r]\n/.test(s)).toBe(false);
    }
    expect(appendMessages(SEED, 5)).toEqual(msgs);
  });
});
