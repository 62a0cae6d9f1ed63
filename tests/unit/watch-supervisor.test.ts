// The supervisor receives `delivered` events from the real worker (electron/server/worker.ts,
// bundled like build/build.mjs does) when a message is delivered into a maildir the Postfix
// way, with every field the app needs: user, mailbox, uid, decoded from/subject, RFC822.SIZE,
// the file's mtime and when Roost noticed it. Real worker thread, real temp file system.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServerEvent } from '../../electron/shared/events.js';
import { defaultSettings } from '../../electron/shared/settings.js';
import type { ServerSettings } from '../../electron/shared/settings-types.js';
import { Supervisor } from '../../electron/supervisor/supervisor.js';
import { waitFor } from '../helpers/wait.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
type Delivered = Extract<ServerEvent, { type: 'delivered' }>;

let tmp: string;
let worker: string | null = null;
let whyNot = '';

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'roost-watch-sup-'));
  const outdir = path.join(ROOT, 'out', `.test-watch-supervisor-${process.pid}`);
  const script = `
    import { build } from 'esbuild';
    await build({ absWorkingDir: ${JSON.stringify(ROOT)}, bundle: true, platform: 'node', target: 'node20', format: 'esm',
      packages: 'external', logLevel: 'error', entryPoints: { worker: 'electron/server/worker.ts' }, outdir: ${JSON.stringify(outdir)},
      banner: { js: "import { createRequire as __r } from 'node:module'; const require = __r(import.meta.url);" } });`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' });
  if (r.status === 0) worker = path.join(outdir, 'worker.js');
  else whyNot = `electron/server/worker.ts does not bundle: ${r.stderr || r.stdout}`;
});

afterAll(() => {
  if (worker) fs.rmSync(path.dirname(worker), { recursive: true, force: true });
  fs.rmSync(tmp, { recursive: true, force: true });
});


describe('delivered events through the supervisor', () => {
  it('arrive with the right fields for a Postfix-style delivery, one per message, none for old mail', async (ctx) => {
    if (!worker) {
      console.log(`skipped: ${whyNot}`);
      ctx.skip(whyNot);
    }
    const vmail = path.join(tmp, 'vmail');
    const maildir = path.join(vmail, 'brokkr.net', 'alice', 'maildir');
    for (const sub of ['tmp', 'new', 'cur']) fs.mkdirSync(path.join(maildir, sub), { recursive: true });
    // Mail that was there before Roost started is not announced.
    fs.writeFileSync(path.join(maildir, 'new', '1600000000.old.example'), 'Subject: old\n\nold\n');
    fs.utimesSync(path.join(maildir, 'new', '1600000000.old.example'), 1600000000, 1600000000);
    const settings: ServerSettings = { ...defaultSettings(vmail, 'Watch-Sup-Pw-1'), port: 0, first_valid_uid: 0, first_valid_gid: 0 };
    const sup = new Supervisor({ settings, workerScript: worker!, restart: { initialDelayMs: 20, maxDelayMs: 100, maxRestartsPerMinute: 3 } });
    const events: ServerEvent[] = [];
    sup.onEvent((e) => events.push(e));
    try {
      await sup.start();
      const body = 'Return-Path: <bob@example.org>\nDelivered-To: alice@brokkr.net\nFrom: =?UTF-8?B?QsO2Yg==?= <bob@example.org>\nSubject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\n\nHallo!\n';
      const name = `${Math.floor(Date.now() / 1000)}.V801I42M123456.brokkr.net`;
      fs.writeFileSync(path.join(maildir, 'tmp', name), body);
      fs.renameSync(path.join(maildir, 'tmp', name), path.join(maildir, 'new', name));
      const mtime = Math.round(fs.statSync(path.join(maildir, 'new', name)).mtimeMs);
      const d = await waitFor('a delivered event', () => events.find((e): e is Delivered => e.type === 'delivered'));
      expect(d).toEqual({
        type: 'delivered',
        user: 'alice@brokkr.net',
        mailbox: 'INBOX',
        uid: 2,
        from: 'Böb <bob@example.org>',
        subject: 'Grüße',
        size: Buffer.byteLength(body) + 6, // six LF become CRLF
        deliveredAt: mtime,
        noticedAt: d.noticedAt,
      });
      expect(d.noticedAt).toBeGreaterThanOrEqual(mtime);
      expect(d.noticedAt - mtime).toBeLessThan(60_000);
      await new Promise((r) => setTimeout(r, 200));
      expect(events.filter((e) => e.type === 'delivered')).toHaveLength(1);
      expect(events.some((e) => e.type === 'log' && /new mail in INBOX: box=INBOX, uid=2, size=\d+, from=Böb <bob@example\.org>, subject=Grüße/.test(e.record.message))).toBe(true);
    } finally {
      await sup.stop();
    }
  });
});
