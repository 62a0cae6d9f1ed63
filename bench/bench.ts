// `npm run bench`: Roost against Dovecot on identical, deterministic maildir corpora.
// Prints figures (a table per corpus size); it is not a pass/fail test, except that a wrong
// answer (checked against the corpus's ground truth) is printed as WRONG and makes the exit
// status 1. Options: see printUsage(). Progress goes to stderr, the tables to stdout.
//   corpus.ts, words.ts, prng.ts  corpus generator + cache (.cache/bench/)
//   imap.ts      raw-socket IMAP client (pipelining, LITERAL+, byte counts)
//   dovecot.ts   private Dovecot instance; roost.ts: Roost's CLI as a child process
//   procs.ts     /proc helpers: process trees, VmRSS/Pss, page cache dropping
//   report.ts    the tables
// --json writes { env, options, results: SizeResult[] } (types in report.ts); values are
// seconds or MB.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { DEFAULT_SEED, OWNER, appendMessages, corpusStats, ensureCorpus, type CachedCorpus, type CorpusTruth } from './corpus.js';
import { DOVECOT_BIN, mailOwner, startDovecot, type MailOwner } from './dovecot.js';
import { ImapClient, quote, type Untagged } from './imap.js';
import { Prng } from './prng.js';
import { dropCaches, environment, freePort, measureMemory, sleep, type BenchServer, type MemSample } from './procs.js';
import { ROWS, printEnvironment, printTable, type Cell, type RowKey, type SizeResult, type Workload, WORKLOADS } from './report.js';
import { startRoost } from './roost.js';
import { measureDelivery, printDeliveryTable, type DeliveryFigures } from './delivery.js';
import { printViewerBench, runViewerBench } from './viewer.js';

const PASSWORD = 'bench-pw';
const DOMAIN = 'bench.example';
const BODY_FETCHES = 200;
const SINGLE_STORES = 1000;
const APPENDS = 1000;
const IDLE_CONNECTIONS = 200;
/** Quiet time before idle memory is read (V8's memory reducer starts ~8 s after the last full GC). */
export const QUIET_MS = 15_000;
/** mail_max_userip_connections for both servers (Dovecot's default of 10 would refuse the IDLE workload). */
const USERIP_LIMIT = 1000;
const HEADER_FETCH =
  'UID FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE ENVELOPE BODYSTRUCTURE BODY.PEEK[HEADER.FIELDS (From To Subject Date Message-ID)])';

type ServerName = 'Roost' | 'Dovecot';

interface Options {
  sizes: number[];
  only: Set<Workload>;
  /** The mailbox viewer's benchmark (bench/viewer.ts): `--only viewer`, or part of the default run. */
  viewer: boolean;
  quick: boolean;
  keep: boolean;
  json: string | null;
  seed: string;
  cacheDir: string;
  roostCli: string;
  servers: ServerName[];
  repeats: { cold: number; open: number; headers: number; search: number; body: number };
}

function printUsage(): void {
  process.stdout.write(`Usage: npm run bench -- [options]
  --quick              10,000 messages only, fewer repetitions of warm measurements
  --sizes 10000,50000  corpus sizes (default 10000,50000)
  --only open,headers  workloads: ${WORKLOADS.join(',')},viewer (default: all)
  --servers roost,dovecot   which servers to run (default both)
  --keep               keep the temporary directories (mail trees, logs, configs)
  --json out.json      also write the results as JSON
  --seed text          corpus seed (default ${DEFAULT_SEED})
  --cache-dir dir      corpus cache (default .cache/bench)
  --roost-cli file     Roost's built CLI (default out/cli.js)
`);
}

/** The repository: out/bench.js lives in <root>/out; fall back to the working directory. */
function repoRoot(): string {
  const up = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  return fs.existsSync(path.join(up, 'package.json')) && fs.existsSync(path.join(up, 'bench')) ? up : process.cwd();
}

function parseArgs(argv: string[], root: string): Options {
  const o: Options = {
    sizes: [10_000, 50_000],
    only: new Set(WORKLOADS),
    viewer: true,
    quick: false,
    keep: false,
    json: null,
    seed: DEFAULT_SEED,
    cacheDir: path.join(root, '.cache', 'bench'),
    roostCli: path.join(root, 'out', 'cli.js'),
    servers: ['Roost', 'Dovecot'],
    // A body sample (200 fetches) lasts 10-50 ms: more of them steady the median on a shared machine.
    repeats: { cold: 3, open: 7, headers: 5, search: 3, body: 7 },
  };
  let sizesGiven = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--quick') o.quick = true;
    else if (a === '--keep') o.keep = true;
    else if (a === '--json') o.json = path.resolve(value());
    else if (a === '--seed') o.seed = value();
    else if (a === '--cache-dir') o.cacheDir = path.resolve(value());
    else if (a === '--roost-cli') o.roostCli = path.resolve(value());
    else if (a === '--sizes') {
      o.sizes = value().split(',').map((s) => Number(s.replace(/[_k]/g, (c) => (c === 'k' ? '000' : ''))));
      if (o.sizes.some((n) => !Number.isInteger(n) || n < 1)) throw new Error('--sizes takes positive integers');
      sizesGiven = true;
    } else if (a === '--only') {
      const all = value().split(',').map((s) => s.trim().toLowerCase());
      o.viewer = all.includes('viewer');
      const names = all.filter((n) => n !== 'viewer');
      for (const n of names) if (!(WORKLOADS as readonly string[]).includes(n)) throw new Error(`unknown workload '${n}' (${WORKLOADS.join(', ')})`);
      o.only = new Set(names as Workload[]);
    } else if (a === '--servers') {
      o.servers = value().split(',').map((s) => {
        const n = s.trim().toLowerCase();
        if (n === 'roost') return 'Roost';
        if (n === 'dovecot') return 'Dovecot';
        throw new Error(`unknown server '${s}'`);
      });
    } else if (a === '--help' || a === '-h') {
      printUsage();
      process.exit(0);
    } else throw new Error(`unknown option ${a}`);
  }
  if (o.quick) {
    if (!sizesGiven) o.sizes = [10_000];
    o.repeats = { cold: 1, open: 5, headers: 3, search: 2, body: 3 };
  }
  return o;
}

// ---------------------------------------------------------------------------------------------

const t0 = performance.now();
function progress(msg: string): void {
  const s = ((performance.now() - t0) / 1000).toFixed(0).padStart(4);
  process.stderr.write(`[${s}s] ${msg}\n`);
}

function median(values: number[]): number {
  const v = [...values].sort((a, b) => a - b);
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

function errorText(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split('\n')[0].slice(0, 300);
}

function timeCell(ms: number, extra?: string, wrong?: string): Cell {
  return { value: ms / 1000, unit: 's', extra, wrong };
}

function memCells(sample: MemSample, server: ServerName): { rss: Cell; pss: Cell } {
  const procs = server === 'Dovecot' ? `${sample.processes} procs` : sample.processes > 1 ? `${sample.processes} procs` : undefined;
  return {
    rss: { value: sample.rssKb / 1024, unit: 'MB', extra: procs, detail: sample.names },
    pss: { value: sample.pssKb / 1024, unit: 'MB', extra: procs },
  };
}

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

/** Flushes pending writeback (copies, deletions) so it does not compete with the server's fsyncs. */
function settle(): void {
  execFileSync('sync');
}

/** Distinct random corpus indices, the same for both servers. */
function sample(seed: string, n: number, k: number): number[] {
  const r = new Prng(seed);
  const chosen = new Set<number>();
  while (chosen.size < Math.min(n, k)) chosen.add(r.int(0, n - 1));
  return [...chosen];
}

// ---------------------------------------------------------------------------------------------
// One server, one corpus size

interface RunContext {
  opts: Options;
  root: string;
  runDir: string;
  owner: MailOwner;
  tag: string;
  dropError: string | null;
  active: Set<BenchServer>;
}

class ServerRun {
  readonly cells = new Map<RowKey, Cell>();
  /** The delivery workload's figures, or why they could not be measured (bench/delivery.ts). */
  delivery: DeliveryFigures | string | undefined;
  private server: BenchServer | null = null;
  private dead: string | null = null;
  private uidToId = new Map<number, string>();
  private idToUid = new Map<string, number>();
  private readonly base: string;
  private readonly vmail: string;
  /** open: one fresh copy per cold open; main: one per cold header fetch, the last one is used for everything after. */
  private readonly users: { open: string[]; main: string[]; primer: string };
  private readonly truth: CorpusTruth;
  private readonly bySize = new Map<string, number>();

  constructor(
    private readonly ctx: RunContext,
    readonly name: ServerName,
    private readonly corpus: CachedCorpus,
  ) {
    this.truth = corpus.truth;
    this.base = path.join(ctx.runDir, `${name.toLowerCase()}-${corpus.truth.size}`);
    this.vmail = path.join(this.base, 'vmail');
    const t = `${ctx.tag}${corpus.truth.size}`;
    const colds = ctx.opts.repeats.cold;
    const only = ctx.opts.only;
    const n = (k: number): number[] => Array.from({ length: k }, (_v, i) => i + 1);
    this.users = {
      open: only.has('open') ? n(colds).map((i) => `open${i}-${t}@${DOMAIN}`) : [],
      main: [...only].some((w) => w !== 'open') ? n(only.has('headers') ? colds : 1).map((i) => `main${i}-${t}@${DOMAIN}`) : [],
      primer: `primer-${t}@${DOMAIN}`,
    };
    for (const m of this.truth.messages) this.bySize.set(m.messageId, m.crlfSize);
  }

  private home(user: string): string {
    const [local, domain] = user.split('@');
    return path.join(this.vmail, domain, local);
  }

  /** The user all workloads after the header fetch use. */
  private get mainUser(): string {
    return this.users.main[this.users.main.length - 1];
  }

  private async removeUsers(users: string[]): Promise<void> {
    if (this.ctx.opts.keep) return;
    for (const u of users) {
      // A server that is still running may create files in the tree while it is removed
      // (ENOTEMPTY: its maildir watcher syncs the mailbox being emptied): try again once that
      // settles, so that neither server keeps a half-deleted user in memory for the rows after.
      for (let attempt = 1; ; attempt++) {
        try {
          fs.rmSync(this.home(u), { recursive: true, force: true, maxRetries: 3 });
          break;
        } catch (err) {
          if (attempt >= 5) {
            progress(`  ${this.name}: could not remove ${u} (${errorText(err)}); it goes with the run directory`);
            break;
          }
          await sleep(300 * attempt);
        }
      }
    }
  }

  private get only(): Set<Workload> {
    return this.ctx.opts.only;
  }

  private needMain(): boolean {
    return [...this.only].some((w) => w !== 'open');
  }

  /** Identical copies of the cached corpus for each user (cp -a keeps names and mtimes). */
  private prepareTree(): void {
    fs.mkdirSync(this.vmail, { recursive: true });
    for (const u of [...this.users.open, ...this.users.main]) {
      fs.mkdirSync(this.home(u), { recursive: true });
      execFileSync('cp', ['-a', this.corpus.maildir, path.join(this.home(u), 'maildir')]);
    }
    for (const sub of ['cur', 'new', 'tmp']) fs.mkdirSync(path.join(this.home(this.users.primer), 'maildir', sub), { recursive: true });
    execFileSync('chmod', ['755', this.ctx.runDir, this.base]);
    execFileSync('chown', ['-R', `${this.ctx.owner.uid}:${this.ctx.owner.gid}`, this.vmail]);
  }

  private async start(): Promise<BenchServer> {
    const port = await freePort();
    let s: BenchServer;
    if (this.name === 'Roost') {
      s = await startRoost({
        root: this.ctx.root,
        cli: this.ctx.opts.roostCli,
        vmail: this.vmail,
        port,
        password: PASSWORD,
        logFile: path.join(this.base, 'roost.log'),
        dataDir: path.join(this.base, 'roost-data'),
        settings: { mail_max_userip_connections: USERIP_LIMIT },
      });
    } else {
      s = await startDovecot({
        dir: path.join(this.base, 'dovecot'),
        vmail: this.vmail,
        port,
        password: PASSWORD,
        owner: this.ctx.owner,
        maxConnections: IDLE_CONNECTIONS + 20,
        userIpLimit: USERIP_LIMIT,
      });
    }
    this.ctx.active.add(s);
    this.server = s;
    return s;
  }

  private async stop(): Promise<void> {
    if (!this.server) return;
    const s = this.server;
    this.server = null;
    await s.stop();
    this.ctx.active.delete(s);
  }

  private async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  private connect(): Promise<ImapClient> {
    if (!this.server) throw new Error('server not running');
    return ImapClient.connect('127.0.0.1', this.server.port);
  }

  private async session(user: string, select = true): Promise<ImapClient> {
    const c = await this.connect();
    try {
      await c.login(user, PASSWORD);
      if (select) await c.ok('SELECT INBOX');
      return c;
    } catch (err) {
      c.destroy();
      throw err;
    }
  }

  /** Runs fn; on failure the given rows get the error (and if the server died, every later row too). */
  private async attempt(rows: RowKey[], fn: () => Promise<void>): Promise<void> {
    if (this.dead) {
      for (const r of rows) if (!this.cells.has(r)) this.cells.set(r, { error: this.dead });
      return;
    }
    try {
      await fn();
    } catch (err) {
      let msg = errorText(err);
      const s = this.server;
      if (!s || !s.pids().length) {
        this.dead = `server died (${msg})`;
        msg = this.dead;
      } else if (/connection closed|ECONNRESET|ECONNREFUSED/.test(msg)) {
        const tail = s.logTail(3).replace(/\s+/g, ' ').slice(-160);
        if (tail) msg += ` | log: ${tail}`;
      }
      for (const r of rows) if (!this.cells.has(r)) this.cells.set(r, { error: msg });
      progress(`  ${this.name}: ${rows.join(', ')} failed: ${msg}`);
    }
    globalThis.gc?.();
  }

  /** Cold start: drop the page cache, then one untimed login of an empty user so the server's own binaries/code are loaded (the mailbox under test stays cold). */
  private async coldPrep(): Promise<void> {
    dropCaches();
    const c = await this.session(this.users.primer);
    await c.logout();
  }

  private async timedOpen(user: string): Promise<{ ms: number; fetched: number }> {
    const start = performance.now();
    const c = await this.connect();
    try {
      await c.login(user, PASSWORD);
      await c.ok('SELECT INBOX');
      let fetched = 0;
      await c.ok('UID FETCH 1:* (FLAGS)', { onUntagged: (u) => void (/^\* \d+ FETCH /i.test(u.text) && fetched++) });
      const ms = performance.now() - start;
      return { ms, fetched };
    } finally {
      await c.logout();
    }
  }

  private async timedHeaders(user: string, buildMap: boolean): Promise<{ ms: number; bytes: number; wrong?: string }> {
    const start = performance.now();
    const c = await this.connect();
    let fetched = 0;
    let sizeMismatch = 0;
    let noId = 0;
    const seen = new Set<string>();
    const onUntagged = (u: Untagged): void => {
      if (!/^\* \d+ FETCH /i.test(u.text)) return;
      fetched++;
      const uid = Number(/[( ]UID (\d+)/i.exec(u.text)?.[1]);
      let id: string | undefined;
      for (const lit of u.literals) {
        const m = /^message-id:[ \t]*(<[^>\r\n]*>)/im.exec(lit.toString('latin1'));
        if (m) {
          id = m[1];
          break;
        }
      }
      if (!id || !this.bySize.has(id)) {
        noId++;
        return;
      }
      seen.add(id);
      const size = Number(/RFC822\.SIZE (\d+)/i.exec(u.text)?.[1]);
      if (size !== this.bySize.get(id)) sizeMismatch++;
      if (buildMap && Number.isInteger(uid)) {
        this.uidToId.set(uid, id);
        this.idToUid.set(id, uid);
      }
    };
    let bytes: number;
    try {
      await c.login(user, PASSWORD);
      await c.ok('SELECT INBOX');
      const r = await c.ok(HEADER_FETCH, { onUntagged });
      bytes = r.bytes;
    } finally {
      await c.logout();
    }
    const ms = performance.now() - start;
    const problems: string[] = [];
    if (fetched !== this.truth.size) problems.push(`${fetched} FETCH responses, want ${this.truth.size}`);
    if (seen.size !== this.truth.size) problems.push(`${seen.size} distinct known Message-IDs${noId ? `, ${noId} unknown/missing` : ''}`);
    if (sizeMismatch) problems.push(`${sizeMismatch} wrong RFC822.SIZE`);
    return { ms, bytes, wrong: problems.length ? problems.join('; ') : undefined };
  }

  private async ensureMap(c: ImapClient): Promise<void> {
    if (this.idToUid.size) return;
    await c.ok('UID FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (Message-ID)])', {
      onUntagged: (u) => {
        const uid = Number(/[( ]UID (\d+)/i.exec(u.text)?.[1]);
        const id = u.literals.map((l) => /^message-id:[ \t]*(<[^>\r\n]*>)/im.exec(l.toString('latin1'))?.[1]).find(Boolean);
        if (id && Number.isInteger(uid)) {
          this.uidToId.set(uid, id);
          this.idToUid.set(id, uid);
        }
      },
    });
  }

  private uidsFor(indices: number[]): number[] {
    return indices.map((i) => {
      const id = this.truth.messages[i].messageId;
      const uid = this.idToUid.get(id);
      if (uid === undefined) throw new Error(`server did not list ${id}`);
      return uid;
    });
  }

  private async search(c: ImapClient, key: RowKey, criteria: string, want: Set<string>, repeats: number): Promise<void> {
    const times: number[] = [];
    let wrong: string | undefined;
    for (let i = 0; i < repeats; i++) {
      const uids: number[] = [];
      const r = await c.ok(`UID SEARCH ${criteria}`, {
        onUntagged: (u) => {
          const m = /^\* SEARCH ?(.*)$/i.exec(u.text.trimEnd());
          if (m && m[1]) for (const n of m[1].trim().split(/\s+/)) uids.push(Number(n));
        },
      });
      times.push(r.ms);
      const got = new Set(uids.map((u) => this.uidToId.get(u) ?? `uid ${u}`));
      const missing = [...want].filter((id) => !got.has(id)).length;
      const extra = [...got].filter((id) => !want.has(id)).length;
      if (missing || extra || uids.length !== got.size) {
        wrong = `${uids.length} hits, want ${want.size} (${missing} missing, ${extra} extra)`;
      }
    }
    this.cells.set(key, timeCell(median(times), undefined, wrong));
  }

  async run(): Promise<Map<RowKey, Cell>> {
    const only = this.only;
    const reps = this.ctx.opts.repeats;
    const allRows = ROWS.filter((r) => only.has(r.workload)).map((r) => r.key);
    try {
      if (this.name === 'Roost' && !fs.existsSync(this.ctx.opts.roostCli)) throw new Error(`${path.relative(this.ctx.root, this.ctx.opts.roostCli)} not built`);
      progress(`${this.name} @ ${this.truth.size}: copying corpus`);
      this.prepareTree();
      await this.start();
    } catch (err) {
      const msg = errorText(err);
      progress(`${this.name} @ ${this.truth.size}: cannot start: ${msg}`);
      for (const r of allRows) this.cells.set(r, { error: msg });
      await this.stop().catch(() => {});
      this.cleanup();
      return this.cells;
    }
    const s = (): BenchServer => this.server!;
    try {
      if (only.has('memory')) {
        await this.attempt(['mem.idle.rss', 'mem.idle.pss'], async () => {
          await sleep(1000);
          const m = memCells(measureMemory(s().pids()), this.name);
          this.cells.set('mem.idle.rss', m.rss);
          this.cells.set('mem.idle.pss', m.pss);
        });
      }

      if (only.has('open')) {
        progress(`${this.name} @ ${this.truth.size}: open`);
        const users = this.users.open;
        await this.attempt(['open.cold', 'open.warm'], async () => {
          const colds: number[] = [];
          let bad: string | undefined;
          for (let k = 0; k < users.length; k++) {
            if (k > 0) await this.restart();
            await this.coldPrep();
            const cold = await this.timedOpen(users[k]);
            colds.push(cold.ms);
            if (cold.fetched !== this.truth.size) bad = `${cold.fetched} FETCH responses, want ${this.truth.size}`;
          }
          this.cells.set('open.cold', timeCell(median(colds), undefined, bad));
          const warm: number[] = [];
          for (let i = 0; i < reps.open; i++) warm.push((await this.timedOpen(users[users.length - 1])).ms);
          this.cells.set('open.warm', timeCell(median(warm)));
        });
        if (this.needMain()) await this.attempt([], () => this.restart());
        await this.removeUsers(users);
      }

      if (!this.needMain()) return this.cells;

      if (only.has('headers')) {
        progress(`${this.name} @ ${this.truth.size}: headers`);
        const users = this.users.main;
        await this.attempt(['headers.cold', 'headers.warm'], async () => {
          const colds: number[] = [];
          let coldWrong: string | undefined;
          let coldBytes = 0;
          for (let k = 0; k < users.length; k++) {
            if (k > 0) await this.restart();
            await this.coldPrep();
            const cold = await this.timedHeaders(users[k], k === users.length - 1);
            colds.push(cold.ms);
            coldWrong ??= cold.wrong;
            coldBytes = cold.bytes;
          }
          this.cells.set('headers.cold', timeCell(median(colds), mb(coldBytes), coldWrong));
          const warm: number[] = [];
          let wrong: string | undefined;
          let bytes = 0;
          for (let i = 0; i < reps.headers; i++) {
            const w = await this.timedHeaders(this.mainUser, false);
            warm.push(w.ms);
            wrong ??= w.wrong;
            bytes = w.bytes;
          }
          this.cells.set('headers.warm', timeCell(median(warm), mb(bytes), wrong));
        });
        await this.removeUsers(users.slice(0, -1));
      }

      let main: ImapClient | null = null;
      await this.attempt(ROWS.filter((r) => only.has(r.workload) && !['open', 'headers'].includes(r.workload) && !r.key.startsWith('mem.idle.')).map((r) => r.key), async () => {
        main = await this.session(this.mainUser);
        await this.ensureMap(main);
      });
      const m = (): ImapClient => {
        if (!main || !main.open) throw new Error('main connection is gone');
        return main;
      };

      if (only.has('search')) {
        progress(`${this.name} @ ${this.truth.size}: search`);
        const t = this.truth;
        await this.attempt(['search.text'], () => this.search(m(), 'search.text', `TEXT ${t.rareWord}`, new Set(t.rareIds), reps.search));
        await this.attempt(['search.from'], () => this.search(m(), 'search.from', `FROM ${quote(t.fromTerm)}`, new Set(t.fromIds), reps.search));
        const since = new Set(t.messages.filter((x) => x.mtime >= t.since.unixSeconds).map((x) => x.messageId));
        await this.attempt(['search.since'], () => this.search(m(), 'search.since', `SINCE ${t.since.imapDate}`, since, reps.search));
      }

      if (only.has('body')) {
        progress(`${this.name} @ ${this.truth.size}: body`);
        const check = (bad: string[]) => (u: Untagged): void => {
          if (!/^\* \d+ FETCH /i.test(u.text)) return;
          const uid = Number(/[( ]UID (\d+)/i.exec(u.text)?.[1]);
          const id = this.uidToId.get(uid);
          const want = id ? this.bySize.get(id) : undefined;
          const got = u.literals.length ? u.literals[u.literals.length - 1].length : -1;
          if (want === undefined || got !== want) bad.push(`uid ${uid}: ${got} bytes, want ${want}`);
        };
        const verdict = (bad: string[], n: number): string | undefined => (bad.length ? `${bad.length}/${n} wrong size, e.g. ${bad[0]}` : undefined);
        // Each variant runs `reps.body` times on its own random sample; the median is shown.
        await this.attempt(['body.seq'], async () => {
          const bad: string[] = [];
          const times: number[] = [];
          let bytes = 0;
          for (let rep = 0; rep < reps.body; rep++) {
            const uids = this.uidsFor(sample(`body-seq:${this.truth.seed}:${this.truth.size}:${rep}`, this.truth.size, BODY_FETCHES));
            bytes = 0;
            const start = performance.now();
            for (const uid of uids) bytes += (await m().ok(`UID FETCH ${uid} (BODY.PEEK[])`, { onUntagged: check(bad) })).bytes;
            times.push(performance.now() - start);
          }
          const ms = median(times);
          this.cells.set('body.seq', timeCell(ms, `${(ms / BODY_FETCHES).toFixed(2)} ms each`, verdict(bad, BODY_FETCHES * reps.body)));
        });
        await this.attempt(['body.pipe'], async () => {
          const bad: string[] = [];
          const times: number[] = [];
          for (let rep = 0; rep < reps.body; rep++) {
            const uids = this.uidsFor(sample(`body-pipe:${this.truth.seed}:${this.truth.size}:${rep}`, this.truth.size, BODY_FETCHES));
            const start = performance.now();
            const rs = await m().pipeline(uids.map((uid) => `UID FETCH ${uid} (BODY.PEEK[])`), { onUntagged: check(bad) });
            times.push(performance.now() - start);
            const notOk = rs.filter((r) => r.status !== 'OK');
            if (notOk.length) throw new Error(`${notOk.length} FETCHes failed: ${notOk[0].status} ${notOk[0].text}`);
          }
          this.cells.set('body.pipe', timeCell(median(times), undefined, verdict(bad, BODY_FETCHES * reps.body)));
        });
      }

      if (only.has('memory')) {
        progress(`${this.name} @ ${this.truth.size}: memory`);
        await this.attempt(['mem.busy.rss', 'mem.selected.rss', 'mem.selected.pss'], async () => {
          m();
          await sleep(500);
          this.cells.set('mem.busy.rss', memCells(measureMemory(s().pids()), this.name).rss);
          // Idle memory is read once the server has been quiet for a while: a garbage-collected
          // runtime gives memory back some seconds after work stops (V8's memory reducer).
          await sleep(QUIET_MS);
          const mm = memCells(measureMemory(s().pids()), this.name);
          this.cells.set('mem.selected.rss', mm.rss);
          this.cells.set('mem.selected.pss', mm.pss);
        });
        await this.attempt(['mem.idle200.rss', 'mem.idle200.pss'], () => this.idleMemory());
      }

      if (only.has('flags')) {
        progress(`${this.name} @ ${this.truth.size}: flags`);
        settle();
        await this.attempt(['flags.all'], async () => {
          // Repeated (median), with an untimed -FLAGS.SILENT in between so every run changes every message.
          const times: number[] = [];
          let untagged = 0;
          for (let rep = 0; rep < reps.search; rep++) {
            if (rep > 0) await m().ok('STORE 1:* -FLAGS.SILENT (\\Seen)');
            const r = await m().ok('STORE 1:* +FLAGS (\\Seen)');
            times.push(r.ms);
            untagged = r.untagged;
          }
          this.cells.set('flags.all', timeCell(median(times), `${untagged} untagged`));
        });
        await this.attempt(['flags.single'], async () => {
          const uids = this.uidsFor(sample(`flags:${this.truth.seed}:${this.truth.size}`, this.truth.size, SINGLE_STORES));
          const start = performance.now();
          for (const uid of uids) await m().ok(`UID STORE ${uid} +FLAGS (\\Flagged)`);
          const ms = performance.now() - start;
          this.cells.set('flags.single', timeCell(ms, `${Math.round((uids.length * 1000) / ms)}/s`));
        });
      }

      if (only.has('append')) {
        progress(`${this.name} @ ${this.truth.size}: append`);
        settle();
        await this.attempt(['append'], async () => {
          const msgs = appendBatch(this.truth.seed);
          const c = m();
          const plus = c.capabilities.has('LITERAL+');
          const start = performance.now();
          for (const msg of msgs) {
            const r = await c.append('INBOX', msg);
            if (r.status !== 'OK') throw new Error(`APPEND: ${r.status} ${r.text}`);
          }
          const ms = performance.now() - start;
          this.cells.set('append', timeCell(ms, `${Math.round((msgs.length * 1000) / ms)}/s${plus ? '' : ', no LITERAL+'}`));
        });
      }
      if (only.has('delivery')) {
        progress(`${this.name} @ ${this.truth.size}: delivery`);
        settle();
        await this.attempt([], async () => {
          this.delivery = await measureDelivery({
            host: '127.0.0.1',
            port: s().port,
            user: this.mainUser,
            password: PASSWORD,
            maildir: path.join(this.home(this.mainUser), 'maildir'),
            owner: this.ctx.owner,
            tag: `${this.ctx.tag}-${this.name.toLowerCase()}-${this.truth.size}`,
            progress,
          });
        }).then(() => {
          this.delivery ??= this.dead ?? 'failed (see progress output)';
        });
      }
      const mc = main as ImapClient | null;
      if (mc) await mc.logout();
    } finally {
      await this.stop().catch((err) => progress(`${this.name}: stop failed: ${errorText(err)}`));
      this.cleanup();
    }
    return this.cells;
  }

  /** 200 connections, each logged in, INBOX selected, in IDLE; then the server's memory. */
  private async idleMemory(): Promise<void> {
    const clients: ImapClient[] = [];
    const idles: Array<{ done: () => Promise<unknown> }> = [];
    try {
      for (let i = 0; i < IDLE_CONNECTIONS; i += 20) {
        await Promise.all(
          Array.from({ length: Math.min(20, IDLE_CONNECTIONS - i) }, async () => {
            const c = await this.session(this.mainUser);
            clients.push(c);
            const idle = c.idle();
            await idle.started;
            idles.push(idle);
          }),
        );
      }
      await sleep(QUIET_MS);
      const mm = memCells(measureMemory(this.server!.pids()), this.name);
      this.cells.set('mem.idle200.rss', mm.rss);
      this.cells.set('mem.idle200.pss', mm.pss);
    } finally {
      await Promise.all(idles.map((i) => i.done().catch(() => {})));
      await Promise.all(clients.map((c) => c.logout()));
    }
  }

  private cleanup(): void {
    if (!this.ctx.opts.keep) fs.rmSync(this.base, { recursive: true, force: true });
  }
}

let appendCache: { seed: string; msgs: Buffer[] } | null = null;
function appendBatch(seed: string): Buffer[] {
  if (appendCache?.seed !== seed) appendCache = { seed, msgs: appendMessages(seed, APPENDS) };
  return appendCache.msgs;
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const root = repoRoot();
  const opts = parseArgs(process.argv.slice(2), root);
  if (process.platform !== 'linux') throw new Error('the benchmark reads /proc: Linux only');
  const env = environment(DOVECOT_BIN);
  const dropError = dropCaches();
  const owner = mailOwner();
  printEnvironment(env, {
    pageCache: dropError
      ? `page cache is WARM for both servers (cannot drop caches: ${dropError})`
      : 'dropped (sync; echo 3 > /proc/sys/vm/drop_caches) before every cold measurement, for both servers',
    owner: `${owner.name} (${owner.uid}:${owner.gid})`,
    options: opts,
  });

  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'roost-bench-'));
  fs.chmodSync(runDir, 0o755);
  const ctx: RunContext = { opts, root, runDir, owner, tag: Date.now().toString(36), dropError, active: new Set() };

  const onSignal = (sig: NodeJS.Signals): void => {
    progress(`${sig}: stopping servers`);
    void Promise.all([...ctx.active].map((s) => s.stop().catch(() => {}))).finally(() => {
      if (!opts.keep) fs.rmSync(runDir, { recursive: true, force: true });
      process.exit(130);
    });
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const results: SizeResult[] = [];
  let wrong = 0;
  try {
    for (const size of opts.only.size ? opts.sizes : []) {
      progress(`corpus of ${size} messages (seed ${opts.seed})`);
      const corpus = ensureCorpus(opts.cacheDir, opts.seed, size, (n) => {
        if (n % 10_000 === 0) progress(`  generated ${n}`);
      });
      progress(corpus.generated ? `  generated into ${corpus.dir}` : `  cached: ${corpus.dir}`);
      const res: SizeResult = { size, stats: corpusStats(corpus.truth), truth: summaryOfTruth(corpus.truth), cells: {} };
      const deliveries: Partial<Record<ServerName, DeliveryFigures | string>> = {};
      for (const name of opts.servers) {
        const run = new ServerRun(ctx, name, corpus);
        const cells = await run.run();
        for (const [k, c] of cells) (res.cells[k] ??= {})[name] = c;
        if (run.delivery !== undefined) deliveries[name] = run.delivery;
      }
      results.push(res);
      if (ROWS.some((r) => opts.only.has(r.workload))) wrong += printTable(res, opts.only, opts.repeats);
      if (opts.only.has('delivery')) wrong += printDeliveryTable(size, deliveries);
    }
    if (opts.viewer) {
      progress('mailbox viewer');
      printViewerBench(await runViewerBench({ size: opts.quick ? 10_000 : 100_000, cacheDir: opts.cacheDir, seed: opts.seed, keep: opts.keep, progress }));
    }
  } finally {
    for (const s of ctx.active) await s.stop().catch(() => {});
    if (opts.keep) process.stdout.write(`\nKept: ${runDir}\n`);
    else fs.rmSync(runDir, { recursive: true, force: true });
  }
  process.stdout.write(`\nload average at the end: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
  if (opts.json) {
    fs.writeFileSync(opts.json, JSON.stringify({ env, options: { ...opts, only: [...opts.only] }, results }, null, 2) + '\n');
    process.stdout.write(`\nJSON written to ${opts.json}\n`);
  }
  if (wrong) {
    process.stdout.write(`\n!!!!!!!! ${wrong} WRONG ANSWER(S): see the WRONG rows above !!!!!!!!\n`);
    return 1;
  }
  return 0;
}

function summaryOfTruth(t: CorpusTruth): SizeResult['truth'] {
  return {
    owner: OWNER,
    rareWord: t.rareWord,
    rareHits: t.rareIds.length,
    fromTerm: t.fromTerm,
    fromHits: t.fromIds.length,
    sinceDate: t.since.imapDate,
    sinceHits: t.since.count,
  };
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(2);
  },
);
