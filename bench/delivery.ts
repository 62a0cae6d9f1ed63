// The `delivery` workload: how fast an IDLE client hears of new mail delivered the way Postfix's
// virtual(8) does it (write into tmp/, rename into new/), Roost against Dovecot on the same setup.
//
//   - one connection logs in, SELECTs INBOX (the corpus) and IDLEs;
//   - 200 messages are delivered 50 ms apart; for each, the time from the rename to the
//     `* N EXISTS` line that announces it is recorded (p50/p95/max);
//   - then a burst of 1,000 renamed into new/ at once: the time until EXISTS has counted all of
//     them, and afterwards every delivered Message-ID must be listed exactly once with its own UID.
//
// The IDLE connection is a raw socket read line by line here (bench/imap.ts attributes untagged
// lines to commands, which is not what IDLE needs), and the clock is read as the line arrives.

import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ImapClient, quote } from './imap.js';
import { sleep } from './procs.js';

export const SPACED = 200;
export const SPACING_MS = 50;
export const BURST = 1000;
/** Longest wait for one announcement before the run counts as failed. */
const ANNOUNCE_TIMEOUT_MS = 30_000;

export interface DeliveryFigures {
  /** Rename-to-EXISTS latency of each spaced delivery, ms. */
  latencies: number[];
  /** Rename of the first burst file to the EXISTS that counts the last one, ms. */
  burstMs: number;
  /** Set when a message was not listed exactly once (or the count is off). */
  wrong?: string;
  /** Distinct UIDs the burst got. */
  burstUids: number;
}

export interface DeliveryTarget {
  host: string;
  port: number;
  user: string;
  password: string;
  /** The user's INBOX maildir. */
  maildir: string;
  /** Owner of delivered files (the mail owner, as Postfix's virtual_uid_maps). */
  owner: { uid: number; gid: number };
  /** Distinguishes this run's messages. */
  tag: string;
  progress: (msg: string) => void;
}

/** An IDLE connection that timestamps each `* N EXISTS` as it arrives. */
class IdleWatcher {
  exists = 0;
  private rest = '';
  private waiters: Array<{ n: number; resolve: (t: number) => void }> = [];
  private lines: Array<(line: string) => void> = [];
  private constructor(private readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      const now = performance.now();
      const text = this.rest + chunk;
      const parts = text.split('\r\n');
      this.rest = parts.pop()!;
      for (const line of parts) {
        const m = /^\* (\d+) EXISTS$/.exec(line);
        if (m) {
          this.exists = Number(m[1]);
          this.waiters = this.waiters.filter((w) => {
            if (this.exists < w.n) return true;
            w.resolve(now);
            return false;
          });
        }
        const waiter = this.lines.shift();
        waiter?.(line);
      }
    });
  }

  static async open(t: DeliveryTarget): Promise<IdleWatcher> {
    const socket = net.connect({ host: t.host, port: t.port });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const w = new IdleWatcher(socket);
    await w.until((l) => l.startsWith('* OK'));
    await w.command(`LOGIN ${quote(t.user)} ${quote(t.password)}`);
    await w.command('SELECT INBOX');
    socket.write('i IDLE\r\n');
    await w.until((l) => l.startsWith('+'));
    return w;
  }

  private until(pred: (line: string) => boolean): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no answer from the server')), ANNOUNCE_TIMEOUT_MS);
      const next = (line: string): void => {
        if (pred(line)) {
          clearTimeout(timer);
          resolve(line);
        } else this.lines.unshift(next);
      };
      this.lines.push(next);
    });
  }

  private async command(cmd: string): Promise<void> {
    this.socket.write(`c ${cmd}\r\n`);
    const line = await this.until((l) => l.startsWith('c '));
    if (!line.startsWith('c OK')) throw new Error(`${cmd.split(' ')[0]}: ${line}`);
  }

  /** Resolves with the arrival time of the EXISTS that reaches n. */
  existsAt(n: number): Promise<number> {
    if (this.exists >= n) return Promise.resolve(performance.now());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no * ${n} EXISTS within ${ANNOUNCE_TIMEOUT_MS / 1000} s (last: ${this.exists})`)), ANNOUNCE_TIMEOUT_MS);
      this.waiters.push({
        n,
        resolve: (t) => {
          clearTimeout(timer);
          resolve(t);
        },
      });
    });
  }

  async done(): Promise<void> {
    this.socket.write('DONE\r\n');
    await this.until((l) => l.startsWith('i ')).catch(() => undefined);
    this.socket.end('c LOGOUT\r\n');
    this.socket.destroy();
  }
}

let counter = 0;
function messageFor(tag: string, i: number): { name: string; id: string; data: Buffer } {
  const id = `<delivery-${tag}-${i}@bench.example>`;
  const now = new Date();
  const data = Buffer.from(
    `Return-Path: <sender@bench.example>\nDelivered-To: bench@bench.example\nReceived: from localhost by bench.example (Postfix) with ESMTP id ${i}\n` +
      `From: Delivery Bench <sender@bench.example>\nTo: bench@bench.example\nSubject: delivery ${i}\nDate: ${now.toUTCString()}\nMessage-ID: ${id}\n\n` +
      `Delivery benchmark message ${i}.\n`,
  );
  // Postfix's name: <seconds>.V<dev>I<inode>M<microseconds>.<host>
  const name = `${Math.floor(Date.now() / 1000)}.V${(++counter).toString(16)}I${i.toString(16)}M${Math.floor((performance.now() * 1000) % 1e6)}.bench-${tag}`;
  return { name, id, data };
}

function writeTmp(t: DeliveryTarget, m: { name: string; data: Buffer }): string {
  const tmp = path.join(t.maildir, 'tmp', m.name);
  fs.writeFileSync(tmp, m.data, { mode: 0o600 });
  fs.chownSync(tmp, t.owner.uid, t.owner.gid);
  return tmp;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

export async function measureDelivery(t: DeliveryTarget): Promise<DeliveryFigures> {
  const idle = await IdleWatcher.open(t);
  const ids: string[] = [];
  const latencies: number[] = [];
  let burstMs = NaN;
  try {
    const base = idle.exists;
    t.progress(`  ${SPACED} deliveries ${SPACING_MS} ms apart (INBOX has ${base})`);
    for (let i = 0; i < SPACED; i++) {
      const m = messageFor(t.tag, i);
      ids.push(m.id);
      const tmp = writeTmp(t, m);
      const start = performance.now();
      fs.renameSync(tmp, path.join(t.maildir, 'new', m.name));
      const at = await idle.existsAt(base + i + 1);
      latencies.push(at - start);
      const wait = start + SPACING_MS - performance.now();
      if (wait > 0) await sleep(wait);
    }
    t.progress(`  burst of ${BURST}`);
    await sleep(500);
    const burst = Array.from({ length: BURST }, (_v, k) => messageFor(t.tag, SPACED + k));
    const tmps = burst.map((m) => writeTmp(t, m));
    for (const m of burst) ids.push(m.id);
    const start = performance.now();
    for (let k = 0; k < BURST; k++) fs.renameSync(tmps[k], path.join(t.maildir, 'new', burst[k].name));
    const at = await idle.existsAt(base + SPACED + BURST);
    burstMs = at - start;
  } finally {
    await idle.done();
  }
  // Every delivered message listed exactly once, each with its own UID.
  const check = await ImapClient.connect(t.host, t.port);
  const seen = new Map<string, number[]>();
  const uids = new Set<number>();
  try {
    await check.login(t.user, t.password);
    await check.ok('EXAMINE INBOX');
    await check.ok(`UID SEARCH HEADER Message-ID ${quote(`delivery-${t.tag}-`)}`, {
      onUntagged: (u) => {
        const m = /^\* SEARCH ?(.*)$/i.exec(u.text.trimEnd());
        if (m && m[1]) for (const n of m[1].trim().split(/\s+/)) uids.add(Number(n));
      },
    });
    if (uids.size > 0) {
      await check.ok(`UID FETCH ${[...uids].join(',')} (UID BODY.PEEK[HEADER.FIELDS (Message-ID)])`, {
        onUntagged: (u) => {
          const uid = Number(/[( ]UID (\d+)/i.exec(u.text)?.[1]);
          const id = u.literals.map((l) => /^message-id:[ \t]*(<[^>\r\n]*>)/im.exec(l.toString('latin1'))?.[1]).find(Boolean);
          if (id) seen.set(id, [...(seen.get(id) ?? []), uid]);
        },
      });
    }
  } finally {
    await check.logout();
  }
  const problems: string[] = [];
  const missing = ids.filter((id) => !seen.has(id)).length;
  const doubled = [...seen.values()].filter((u) => u.length > 1).length;
  if (missing) problems.push(`${missing} of ${ids.length} delivered messages not listed`);
  if (doubled) problems.push(`${doubled} listed more than once`);
  if (uids.size !== ids.length) problems.push(`${uids.size} UIDs for ${ids.length} messages`);
  const burstUids = ids.slice(SPACED).filter((id) => seen.get(id)?.length === 1).length;
  return { latencies, burstMs, burstUids, wrong: problems.length ? problems.join('; ') : undefined };
}

// ---- the table --------------------------------------------------------------------------------

const out = (s = ''): void => void process.stdout.write(s + '\n');

function ms(v: number): string {
  if (!Number.isFinite(v)) return '-';
  return v < 10 ? `${v.toFixed(2)} ms` : v < 1000 ? `${v.toFixed(1)} ms` : `${(v / 1000).toFixed(2)} s`;
}

/** Prints the delivery table for one corpus size; returns the number of WRONG answers. */
export function printDeliveryTable(size: number, figures: Partial<Record<'Roost' | 'Dovecot', DeliveryFigures | string>>): number {
  out('');
  out(`=== live delivery into a ${size.toLocaleString('en-US')}-message INBOX (client in IDLE; files written to tmp/, renamed into new/) ===`);
  const get = (name: 'Roost' | 'Dovecot') => figures[name];
  const stat = (f: DeliveryFigures | string | undefined, p: number | 'max'): number => {
    if (!f || typeof f === 'string') return NaN;
    const sorted = [...f.latencies].sort((a, b) => a - b);
    return p === 'max' ? sorted[sorted.length - 1] : percentile(sorted, p);
  };
  const r = get('Roost');
  const d = get('Dovecot');
  const rows: string[][] = [];
  const row = (label: string, rv: number, dv: number, target: string, ok: boolean | undefined): void => {
    const ratio = Number.isFinite(rv) && Number.isFinite(dv) && dv > 0 ? (rv / dv).toFixed(2) : '-';
    rows.push([label, typeof r === 'string' ? `n/a (${r.slice(0, 40)})` : ms(rv), typeof d === 'string' ? `n/a (${d.slice(0, 40)})` : ms(dv), ratio, target, ok === undefined ? '' : ok ? 'ok' : 'MISS']);
  };
  const rp95 = stat(r, 95);
  const dp95 = stat(d, 95);
  row(`rename -> EXISTS, p50 (${SPACED} x, ${SPACING_MS} ms apart)`, stat(r, 50), stat(d, 50), '-', undefined);
  row(`rename -> EXISTS, p95`, rp95, dp95, 'Roost < 50 ms, <= Dovecot', Number.isFinite(rp95) ? rp95 < 50 && (!Number.isFinite(dp95) || rp95 <= dp95) : undefined);
  row(`rename -> EXISTS, max`, stat(r, 'max'), stat(d, 'max'), '-', undefined);
  const burst = (f: DeliveryFigures | string | undefined): number => (f && typeof f !== 'string' ? f.burstMs : NaN);
  const rb = burst(r);
  row(`burst of ${BURST}: first rename -> last EXISTS`, rb, burst(d), 'Roost < 2 s, all UIDs', Number.isFinite(rb) ? rb < 2000 && typeof r !== 'string' && r?.burstUids === BURST && !r.wrong : undefined);
  let wrong = 0;
  for (const [name, f] of [['Roost', r], ['Dovecot', d]] as const) {
    if (f && typeof f !== 'string') {
      rows.push([`  ${name}: burst UIDs accounted for`, '', '', '', '', `${f.burstUids}/${BURST}${f.wrong ? ` WRONG: ${f.wrong}` : ''}`]);
      if (f.wrong) wrong++;
    }
  }
  const head = ['workload', 'Roost', 'Dovecot', 'ratio', 'target', ''];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((x) => x[i].length)));
  const line = (x: string[]): string => x.map((c, i) => (i >= 1 && i <= 3 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  out(line(head));
  out(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const x of rows) out(line(x));
  out('ratio = Roost / Dovecot (lower is better). Latency = from rename(2) into new/ to the `* N EXISTS` line read by the IDLE client.');
  return wrong;
}
