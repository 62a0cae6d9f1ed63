// The mailbox viewer's benchmark: the time to show the first page (50 rows) of a 100,000-message folder
// and to open a 5 MB message through the API the renderer uses (Supervisor.viewer -> the server's
// worker thread), each beside the time an IMAP client takes to FETCH the same data from the same
// server in the same run. Target (issue 5): viewer / IMAP at or below 1.5, and a first page fast
// enough that a person does not wait.
//
// Setup: the deterministic bench corpus (corpus.ts, cached in .cache/bench), copied for two users
// (`viewer-...` and `imap-...`, so that each side's cold first look finds a mailbox nobody opened yet),
// plus one 5 MB message (text, HTML and a 5 MB PDF) delivered newest into the viewer user's INBOX.
// A real Supervisor runs the real worker (bundled from electron/server/worker.ts).
//
// What is compared:
//   first page, cold   viewer 'page' 0..50 on a never-opened folder (store opened, index load, UID
//                      assignment, every INTERNALDATE found out once) vs. IMAP LOGIN + EXAMINE + FETCH
//                      of the 50 newest (FLAGS RFC822.SIZE INTERNALDATE ENVELOPE) on the other user's copy.
//   first page, warm   viewer 'page' vs. EXAMINE + UID FETCH of the same 50 UIDs, same mailbox, median.
//   open 5 MB message  viewer 'message' (headers, text, HTML, attachment list) vs. UID FETCH BODY.PEEK[];
//                      also viewer 'raw' (the whole 5 MB source) and 'attachment' (the 5 MB part,
//                      decoded) vs. the same FETCH, for the same bytes.
// EXAMINE rather than SELECT because the viewer reads like EXAMINE (a SELECT of a fresh maildir also
// renames every file from new/ to cur/, which is not what is being compared).
//
// Use: the lead registers runViewerBench/printViewerBench in bench.ts; standalone:
//   npx esbuild bench/viewer.ts --bundle --platform=node --format=esm --packages=external \
//     --outfile=out/bench-viewer/bench-viewer.js && node out/bench-viewer/bench-viewer.js [--size 100000] [--keep]

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultSettings } from '../electron/shared/settings.js';
import type { ServerSettings } from '../electron/shared/settings-types.js';
import { Supervisor } from '../electron/supervisor/supervisor.js';
import { DEFAULT_SEED, ensureCorpus } from './corpus.js';
import { ImapClient, type Untagged } from './imap.js';

const PASSWORD = 'bench-viewer-pw';
const DOMAIN = 'bench.example';
const PAGE = 50;
const BIG_BYTES = 5 * 1024 * 1024;

export interface ViewerBenchOptions {
  /** Messages in the folder (default 100,000). */
  size?: number;
  /** Corpus cache (default <repo>/.cache/bench). */
  cacheDir?: string;
  seed?: string;
  /** The bundled worker (electron/server/worker.ts); built into a temporary directory when absent. */
  workerScript?: string;
  /** Warm repetitions (median reported). */
  repeats?: number;
  keep?: boolean;
  progress?: (message: string) => void;
}

export interface ViewerBenchFigure {
  label: string;
  viewerMs: number;
  imapMs: number;
  /** viewerMs / imapMs. */
  ratio: number;
  note?: string;
}

export interface ViewerBenchResult {
  size: number;
  figures: ViewerBenchFigure[];
}

function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'bench'))) return dir;
    dir = path.dirname(dir);
  }
  return process.cwd();
}

function median(values: number[]): number {
  const v = [...values].sort((a, b) => a - b);
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/** Bundles electron/server/worker.ts like build/build.mjs does. */
async function buildWorker(root: string, outdir: string): Promise<string> {
  const { build } = await import('esbuild');
  await build({
    absWorkingDir: root, bundle: true, platform: 'node', target: 'node20', format: 'esm', packages: 'external', logLevel: 'error',
    entryPoints: { worker: 'electron/server/worker.ts' }, outdir,
    banner: { js: "import { createRequire as __roostCreateRequire } from 'node:module'; const require = __roostCreateRequire(import.meta.url);" },
  });
  return path.join(outdir, 'worker.js');
}

/** A 5 MB message: short text and HTML bodies and a 5 MB PDF (base64, 76-character lines, LF). */
function bigMessage(): Buffer {
  const pdf = Buffer.alloc(Math.floor((BIG_BYTES * 3) / 4) - 4096);
  let x = 0x2545f491;
  for (let i = 0; i < pdf.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    pdf[i] = x & 0xff;
  }
  pdf.write('%PDF-1.7\n', 0);
  const b64 = pdf.toString('base64').replace(/.{1,76}/g, '$&\n');
  const text = 'Hello,\n\nthe report is attached (5 MB).\n\nRegards\n';
  return Buffer.from(
    'Return-Path: <reports@example.com>\nDelivered-To: viewer@bench.example\n' +
      'Received: from mx.example.com (mx.example.com [192.0.2.1])\n\tby mx.home.example (Postfix) with ESMTP id 4BigOne\n\tfor <viewer@bench.example>; Mon, 3 Jun 2024 10:00:00 +0000 (UTC)\n' +
      'From: Reports <reports@example.com>\nTo: viewer@bench.example\nSubject: The big report\nDate: Mon, 3 Jun 2024 10:00:00 +0000\n' +
      'Message-ID: <big-report@example.com>\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b1"\n\n' +
      '--b1\nContent-Type: multipart/alternative; boundary="b2"\n\n' +
      `--b2\nContent-Type: text/plain; charset=utf-8\n\n${text}\n` +
      `--b2\nContent-Type: text/html; charset=utf-8\n\n<p>${text.replace(/\n/g, '<br>')}</p>\n--b2--\n\n` +
      `--b1\nContent-Type: application/pdf\nContent-Disposition: attachment; filename="report.pdf"\nContent-Transfer-Encoding: base64\n\n${b64}--b1--\n`,
    'latin1',
  );
}

export async function runViewerBench(o: ViewerBenchOptions = {}): Promise<ViewerBenchResult> {
  const progress = o.progress ?? ((m: string) => process.stderr.write(`[viewer] ${m}\n`));
  const size = o.size ?? 100_000;
  const repeats = o.repeats ?? 7;
  const root = repoRoot();
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'roost-bench-viewer-'));
  fs.chmodSync(runDir, 0o755);
  const vmail = path.join(runDir, 'vmail');
  const viewerUser = `viewer@${DOMAIN}`;
  const imapUser = `imap@${DOMAIN}`;
  const maildirOf = (user: string) => path.join(vmail, DOMAIN, user.split('@')[0], 'maildir');
  let sup: Supervisor | undefined;
  let builtWorkerDir: string | undefined;
  const clients: ImapClient[] = [];
  try {
    progress(`corpus of ${size.toLocaleString('en-US')} messages`);
    const corpus = ensureCorpus(o.cacheDir ?? path.join(root, '.cache', 'bench'), o.seed ?? DEFAULT_SEED, size, (n) => {
      if (n % 10_000 === 0) progress(`  generated ${n}`);
    });
    for (const user of [viewerUser, imapUser]) {
      fs.mkdirSync(path.dirname(maildirOf(user)), { recursive: true });
      execFileSync('cp', ['-a', corpus.maildir, maildirOf(user)]);
    }
    // The 5 MB message, delivered the Postfix way, newer than the whole corpus.
    const big = bigMessage();
    const bigName = `${Math.floor(Date.now() / 1000)}.V801Ibig0M1.mx`;
    for (const user of [viewerUser, imapUser]) {
      const tmp = path.join(maildirOf(user), 'tmp', bigName);
      fs.writeFileSync(tmp, big);
      fs.renameSync(tmp, path.join(maildirOf(user), 'new', bigName));
    }
    execFileSync('sync');

    // Inside the repository, so that the worker's packages resolve from node_modules.
    if (!o.workerScript) builtWorkerDir = path.join(root, 'out', `.bench-viewer-${process.pid}`);
    const workerScript = o.workerScript ?? (await buildWorker(root, builtWorkerDir!));
    const settings: ServerSettings = {
      ...defaultSettings(vmail, PASSWORD),
      port: 0, listen: '127.0.0.1', disable_plaintext_auth: false, auth_failure_delay: 0,
      first_valid_uid: 0, first_valid_gid: 0, mail_max_userip_connections: 100,
    };
    sup = new Supervisor({ settings, workerScript, requestTimeoutMs: 300_000 });
    const status = await sup.start();
    const port = status.port!;
    const imap = async (user: string): Promise<ImapClient> => {
      const c = await ImapClient.connect('127.0.0.1', port);
      clients.push(c);
      await c.login(user, PASSWORD);
      return c;
    };
    const figures: ViewerBenchFigure[] = [];
    const now = () => performance.now();

    // ---- first page, cold ------------------------------------------------------------
    progress('first page, cold (each side on its own never-opened copy)');
    let t = now();
    const coldPage = await sup.viewer({ op: 'page', user: viewerUser, mailbox: 'INBOX', offset: 0, limit: PAGE });
    const viewerCold = now() - t;
    if (coldPage.items.length !== PAGE || coldPage.total !== size + 1) throw new Error(`viewer page: ${coldPage.items.length} rows of ${coldPage.total}`);
    // LOGIN is timed too: it opens the user's mail store (and creates the auto folders), as the
    // viewer's first request for a user does.
    const ic = await ImapClient.connect('127.0.0.1', port);
    clients.push(ic);
    t = now();
    await ic.login(imapUser, PASSWORD);
    const ex = await ic.command('EXAMINE INBOX');
    const exists = size + 1;
    let rows = 0;
    await ic.ok(`FETCH ${exists - PAGE + 1}:* (UID FLAGS RFC822.SIZE INTERNALDATE ENVELOPE)`, { onUntagged: (u: Untagged) => void (/^\* \d+ FETCH/.test(u.text) && rows++) });
    const imapCold = now() - t;
    if (ex.status !== 'OK' || rows !== PAGE) throw new Error(`IMAP cold page: ${ex.status} ${rows} rows`);
    figures.push({ label: `first page (${PAGE} rows), cold`, viewerMs: viewerCold, imapMs: imapCold, ratio: viewerCold / imapCold, note: 'first look at the folder: index load, UIDs, dates' });

    // ---- first page, warm ------------------------------------------------------------
    progress('first page, warm');
    const uids = coldPage.items.map((m) => m.uid);
    const c = await imap(viewerUser);
    await c.ok('EXAMINE INBOX'); // the IMAP side's first look, not timed
    await c.ok('CLOSE');
    const vw: number[] = [];
    const iw: number[] = [];
    for (let i = 0; i < repeats; i++) {
      t = now();
      const p = await sup.viewer({ op: 'page', user: viewerUser, mailbox: 'INBOX', offset: 0, limit: PAGE });
      vw.push(now() - t);
      if (p.items.length !== PAGE) throw new Error('viewer warm page');
      t = now();
      await c.ok('EXAMINE INBOX');
      let n = 0;
      await c.ok(`UID FETCH ${uids.join(',')} (UID FLAGS RFC822.SIZE INTERNALDATE ENVELOPE)`, { onUntagged: (u: Untagged) => void (/^\* \d+ FETCH/.test(u.text) && n++) });
      iw.push(now() - t);
      if (n !== PAGE) throw new Error(`IMAP warm page: ${n} rows`);
      await c.ok('CLOSE');
    }
    figures.push({ label: `first page (${PAGE} rows), warm`, viewerMs: median(vw), imapMs: median(iw), ratio: median(vw) / median(iw), note: `median of ${repeats}` });

    // ---- the 5 MB message ------------------------------------------------------------
    progress('open the 5 MB message');
    const bigUid = coldPage.items[0].uid;
    if (coldPage.items[0].subject !== 'The big report') throw new Error(`newest is not the big message: ${coldPage.items[0].subject}`);
    await c.ok('EXAMINE INBOX');
    const fetchBig = async (): Promise<number> => {
      let got = 0;
      const t0 = now();
      await c.ok(`UID FETCH ${bigUid} BODY.PEEK[]`, { onUntagged: (u: Untagged) => void (got += u.literals.reduce((s, l) => s + l.length, 0)) });
      const ms = now() - t0;
      if (got < big.length) throw new Error(`FETCH BODY[] returned ${got} bytes`);
      return ms;
    };
    const timeViewer = async (fn: () => Promise<unknown>): Promise<number> => {
      const t0 = now();
      await fn();
      return now() - t0;
    };
    const open: number[] = [];
    const raw: number[] = [];
    const att: number[] = [];
    const fetched: number[] = [];
    let attachmentPart = '';
    for (let i = 0; i < Math.max(3, Math.ceil(repeats / 2)); i++) {
      open.push(await timeViewer(async () => {
        const m = await sup!.viewer({ op: 'message', user: viewerUser, mailbox: 'INBOX', uid: bigUid });
        attachmentPart = m.attachments[0]?.part ?? '';
        if (!m.text || m.attachments[0]?.size !== Math.floor((BIG_BYTES * 3) / 4) - 4096) throw new Error('viewer message: wrong answer');
      }));
      raw.push(await timeViewer(async () => {
        const r = await sup!.viewer({ op: 'raw', user: viewerUser, mailbox: 'INBOX', uid: bigUid, maxBytes: 8 * 1024 * 1024 });
        if (r.returnedBytes !== big.length) throw new Error('viewer raw: wrong size');
      }));
      att.push(await timeViewer(async () => {
        const a = await sup!.viewer({ op: 'attachment', user: viewerUser, mailbox: 'INBOX', uid: bigUid, part: attachmentPart });
        if (a.data.length !== Math.floor((BIG_BYTES * 3) / 4) - 4096) throw new Error('viewer attachment: wrong size');
      }));
      fetched.push(await fetchBig());
    }
    const f = median(fetched);
    figures.push({ label: 'open 5 MB message (pane data)', viewerMs: median(open), imapMs: f, ratio: median(open) / f, note: 'vs FETCH BODY[]' });
    figures.push({ label: 'raw source of 5 MB message', viewerMs: median(raw), imapMs: f, ratio: median(raw) / f, note: 'same bytes as BODY[]' });
    figures.push({ label: 'save its 5 MB attachment', viewerMs: median(att), imapMs: f, ratio: median(att) / f, note: 'decoded, vs BODY[]' });
    return { size, figures };
  } finally {
    for (const c of clients) c.destroy();
    await sup?.stop().catch(() => {});
    if (builtWorkerDir) fs.rmSync(builtWorkerDir, { recursive: true, force: true });
    if (!o.keep) fs.rmSync(runDir, { recursive: true, force: true });
    else progress(`kept ${runDir}`);
  }
}

export function printViewerBench(r: ViewerBenchResult, out: (line: string) => void = (l) => process.stdout.write(l + '\n')): void {
  out(`\nViewer vs IMAP on the same server (${r.size.toLocaleString('en-US')}-message folder); target ratio <= 1.5`);
  const w = Math.max(...r.figures.map((f) => f.label.length));
  out(`${'workload'.padEnd(w)}  ${'viewer'.padStart(10)}  ${'IMAP'.padStart(10)}  ${'ratio'.padStart(6)}  note`);
  for (const f of r.figures) {
    const ms = (v: number) => `${v.toFixed(1)} ms`.padStart(10);
    const flag = f.ratio <= 1.5 ? '' : '  (over 1.5)';
    out(`${f.label.padEnd(w)}  ${ms(f.viewerMs)}  ${ms(f.imapMs)}  ${f.ratio.toFixed(2).padStart(6)}  ${f.note ?? ''}${flag}`);
  }
}

// Standalone: only when this file itself is the entry (a bundle named bench-viewer.js), never when
// bundled into out/bench.js.
if (process.argv[1] && /bench-viewer\.m?js$/.test(process.argv[1])) {
  const argv = process.argv.slice(2);
  const opt = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  runViewerBench({ size: opt('--size') ? Number(opt('--size')) : undefined, keep: argv.includes('--keep'), repeats: opt('--repeats') ? Number(opt('--repeats')) : undefined })
    .then((r) => printViewerBench(r))
    .catch((err: unknown) => {
      process.stderr.write(`viewer bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    });
}
