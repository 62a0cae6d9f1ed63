// The benchmark's output: environment header and one table per corpus size,
// workload | Roost | Dovecot | ratio (Roost/Dovecot, lower is better) | target.

import type { CorpusStats } from './corpus.js';
import type { Environment } from './procs.js';

export const WORKLOADS = ['open', 'headers', 'search', 'body', 'memory', 'flags', 'append', 'delivery'] as const;
export type Workload = (typeof WORKLOADS)[number];

export type RowKey =
  | 'open.cold' | 'open.warm' | 'headers.cold' | 'headers.warm'
  | 'search.text' | 'search.from' | 'search.since' | 'body.seq' | 'body.pipe'
  | 'flags.all' | 'flags.single' | 'append'
  | 'mem.idle.rss' | 'mem.idle.pss' | 'mem.busy.rss' | 'mem.selected.rss' | 'mem.selected.pss' | 'mem.idle200.rss' | 'mem.idle200.pss';

export interface Cell {
  /** Seconds or MB. */
  value?: number;
  unit?: 's' | 'MB';
  /** Short extra facts shown after the value. */
  extra?: string;
  /** Set when the answer was checked and found wrong. */
  wrong?: string;
  /** Set when the measurement could not be made. */
  error?: string;
  /** Per-process-name counts (memory rows). */
  detail?: Record<string, number>;
}

type Target = { kind: 'ratio'; max: number; strict: boolean } | { kind: 'roostMb'; max: number } | null;

export interface RowDef {
  key: RowKey;
  workload: Workload;
  label: (t: SizeResult['truth'], reps: Repeats) => string;
  target: Target;
}

interface Repeats {
  cold: number;
  open: number;
  headers: number;
  search: number;
  body: number;
}

const cold: Target = { kind: 'ratio', max: 2.0, strict: false };
const warm: Target = { kind: 'ratio', max: 1.5, strict: false };

export const ROWS: RowDef[] = [
  { key: 'open.cold', workload: 'open', label: (_t, r) => (r.cold > 1 ? `open cold (median of ${r.cold})` : 'open cold'), target: cold },
  { key: 'open.warm', workload: 'open', label: (_t, r) => `open warm (median of ${r.open})`, target: warm },
  { key: 'headers.cold', workload: 'headers', label: (_t, r) => (r.cold > 1 ? `headers cold (median of ${r.cold})` : 'headers cold'), target: cold },
  { key: 'headers.warm', workload: 'headers', label: (_t, r) => `headers warm (median of ${r.headers})`, target: warm },
  { key: 'search.text', workload: 'search', label: (t) => `SEARCH TEXT ${t.rareWord} (${t.rareHits} hits)`, target: { kind: 'ratio', max: 1.0, strict: true } },
  { key: 'search.from', workload: 'search', label: (t) => `SEARCH FROM "${t.fromTerm}" (${t.fromHits} hits)`, target: warm },
  { key: 'search.since', workload: 'search', label: (t) => `SEARCH SINCE ${t.sinceDate} (${t.sinceHits} hits)`, target: warm },
  { key: 'body.seq', workload: 'body', label: () => '200 x BODY.PEEK[], one at a time', target: warm },
  { key: 'body.pipe', workload: 'body', label: () => '200 x BODY.PEEK[], pipelined', target: warm },
  { key: 'mem.idle.rss', workload: 'memory', label: () => 'memory idle, RSS', target: null },
  { key: 'mem.idle.pss', workload: 'memory', label: () => 'memory idle, PSS', target: null },
  { key: 'mem.busy.rss', workload: 'memory', label: () => 'memory, just after the workloads, RSS', target: null },
  { key: 'mem.selected.rss', workload: 'memory', label: () => 'memory, mailbox selected, RSS', target: null },
  { key: 'mem.selected.pss', workload: 'memory', label: () => 'memory, mailbox selected, PSS', target: null },
  { key: 'mem.idle200.rss', workload: 'memory', label: () => 'memory, 200 IDLE connections, RSS', target: { kind: 'roostMb', max: 150 } },
  { key: 'mem.idle200.pss', workload: 'memory', label: () => 'memory, 200 IDLE connections, PSS', target: null },
  { key: 'flags.all', workload: 'flags', label: (_t, r) => `STORE 1:* +FLAGS (\\Seen) (median of ${r.search})`, target: warm },
  { key: 'flags.single', workload: 'flags', label: () => '1000 x STORE +FLAGS (\\Flagged), one at a time', target: warm },
  { key: 'append', workload: 'append', label: () => '1000 x APPEND (LITERAL+), one at a time', target: warm },
];

export interface SizeResult {
  size: number;
  stats: CorpusStats;
  truth: { owner: string; rareWord: string; rareHits: number; fromTerm: string; fromHits: number; sinceDate: string; sinceHits: number };
  cells: Partial<Record<RowKey, Partial<Record<'Roost' | 'Dovecot', Cell>>>>;
}

const out = (s = ''): void => void process.stdout.write(s + '\n');

export function printEnvironment(env: Environment, notes: { pageCache: string; owner: string; options: { sizes: number[]; quick: boolean; seed: string; only: Set<string>; servers: string[]; roostCli: string } }): void {
  out('Roost vs Dovecot benchmark');
  out(`  date        ${env.date}`);
  out(`  cpu         ${env.cpu}, ${env.cores} cores, ${env.memoryGb} GB RAM, ${env.kernel}`);
  out(`  node        ${env.node}`);
  out(`  load        ${env.load.join(' ')} at start (anything else running on the machine makes the figures noisy)`);
  out(`  dovecot     ${env.dovecot} (private instance: seed configuration on 127.0.0.1, process limits raised and
              mail_max_userip_connections = 1000 for the 200 IDLE clients)`);
  out(`  roost       node ${notes.options.roostCli} -o mail_max_userip_connections=1000 (a separate process)`);
  out(`  page cache  ${notes.pageCache}`);
  out(`  mail owner  ${notes.owner}`);
  const o = notes.options;
  out(`  run         sizes ${o.sizes.join(', ')}${o.quick ? ' (--quick)' : ''}; seed ${o.seed}; workloads ${[...o.only].join(',')}; servers ${o.servers.join(',')}`);
  out('');
}

function fmtValue(c: Cell): string {
  if (c.value === undefined) return '';
  if (c.unit === 'MB') return `${c.value.toFixed(1)} MB`;
  const ms = c.value * 1000;
  if (ms < 10) return `${ms.toFixed(2)} ms`;
  if (ms < 1000) return `${ms.toFixed(1)} ms`;
  return `${c.value.toFixed(2)} s`;
}

function fmtInt(n: number): string {
  return n.toLocaleString('en-US');
}

function kb(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KB`;
}

function pad(s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n);
}

/** Prints the table for one corpus size; returns the number of WRONG cells. */
export function printTable(res: SizeResult, only: Set<Workload>, reps: Repeats): number {
  const st = res.stats;
  const kinds = Object.entries(st.kinds)
    .map(([k, v]) => `${k} ${Math.round((v * 100) / st.messages)}%`)
    .join(', ');
  out('');
  out(`=== ${fmtInt(res.size)} messages: ${(st.totalBytes / 1e6).toFixed(1)} MB, median ${kb(st.medianBytes)}, mean ${kb(st.meanBytes)}, p90 ${kb(st.p90Bytes)}, max ${kb(st.maxBytes)} ===`);
  out(`    ${kinds}`);
  const notes: string[] = [];
  const noteIndex = new Map<string, number>();
  const note = (text: string): string => {
    let n = noteIndex.get(text);
    if (n === undefined) {
      notes.push(text);
      n = notes.length;
      noteIndex.set(text, n);
    }
    return `[${n}]`;
  };
  let wrong = 0;
  const rows: string[][] = [];
  for (const def of ROWS) {
    if (!only.has(def.workload)) continue;
    const cells = res.cells[def.key] ?? {};
    const show = (c: Cell | undefined): string => {
      if (!c) return '-';
      if (c.error) return c.error.length <= 32 ? `n/a (${c.error})` : `n/a ${note(c.error)}`;
      let s = fmtValue(c);
      if (c.extra) s += ` (${c.extra})`;
      if (c.wrong) {
        wrong++;
        s = `WRONG ${note(c.wrong)} ${s}`;
      }
      return s;
    };
    const r = cells.Roost;
    const d = cells.Dovecot;
    let ratio = '-';
    let ratioValue: number | undefined;
    if (r?.value !== undefined && d?.value !== undefined && !r.error && !d.error && d.value > 0) {
      ratioValue = r.value / d.value;
      ratio = ratioValue.toFixed(2);
    }
    let target = '-';
    let mark = '';
    const t = def.target;
    if (t?.kind === 'ratio') {
      target = t.strict ? `< ${t.max.toFixed(1)}` : `<= ${t.max.toFixed(1)}`;
      mark = ratioValue === undefined ? '?' : (t.strict ? ratioValue < t.max : ratioValue <= t.max) ? 'ok' : 'MISS';
    } else if (t?.kind === 'roostMb') {
      target = `Roost < ${t.max} MB`;
      mark = r?.value === undefined || r.error ? '?' : r.value < t.max ? 'ok' : 'MISS';
    }
    if (r?.wrong || d?.wrong) mark = 'WRONG';
    rows.push([def.label(res.truth, reps), show(r), show(d), ratio, target, mark]);
  }
  const head = ['workload', 'Roost', 'Dovecot', 'ratio', 'target', ''];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (row: string[]): string =>
    row
      .map((c, i) => pad(c, widths[i], i === 1 || i === 2 || i === 3))
      .join('  ')
      .trimEnd();
  out(line(head));
  out(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) out(line(row));
  out('');
  out('ratio = Roost / Dovecot (lower is better); a target is met when the ratio is within it.');
  if (only.has('open')) out('open    = connect + LOGIN + SELECT INBOX + UID FETCH 1:* (FLAGS), on a new connection each time.');
  if (only.has('headers')) {
    out('headers = connect + LOGIN + SELECT + UID FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE ENVELOPE BODYSTRUCTURE');
    out('          BODY.PEEK[HEADER.FIELDS (From To Subject Date Message-ID)]); Message-IDs and sizes are checked.');
  }
  if (only.has('open') || only.has('headers')) {
    out('cold    = a fresh copy of the corpus (new user), freshly started server, page cache dropped, then one untimed');
    out('          login of an empty user (loads the server\'s code) before the timed session. warm = the same copy again.');
  }
  if (only.has('search')) out(`search  = UID SEARCH on one connection, median of ${reps.search}; answers checked against the corpus's ground truth.`);
  if (only.has('body')) out(`body    = UID FETCH <uid> (BODY.PEEK[]) of 200 random messages, median of ${reps.body} samples; sizes checked.`);
  if (only.has('flags') || only.has('append')) out('flags/append: one connection, INBOX selected, each command waits for its answer (except STORE 1:*, one command).');
  if (only.has('memory')) {
    out('memory: Roost = its one node process (worker thread included); Dovecot = sum over all its processes');
    out('(master, config, log, anvil, auth, stats, imap-login, one imap per connection). RSS sums count shared pages');
    out('(libraries, mmapped index files) once per process; PSS splits them, so the PSS sum is the fair total.');
    out('"just after the workloads" is read 0.5 s after the last command; "mailbox selected" and "200 IDLE" after 15 s');
    out('without commands, once a garbage-collected runtime has given back what the work left behind.');
    const d = res.cells['mem.idle200.rss']?.Dovecot?.detail;
    if (d) out(`Dovecot processes with 200 IDLE clients: ${Object.entries(d).map(([k, v]) => `${k} x${v}`).join(', ')}`);
  }
  for (let i = 0; i < notes.length; i++) out(`[${i + 1}] ${notes[i]}`);
  return wrong;
}
