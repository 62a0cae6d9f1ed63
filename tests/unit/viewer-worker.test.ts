// The viewer op end to end: Supervisor.viewer() -> worker thread (electron/server/worker.ts, bundled
// like build/build.mjs does) -> Viewer -> storage, with plain data crossing the thread boundary
// (attachment bytes as a Uint8Array) and errors arriving with the viewer's/storage's code.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Supervisor, SupervisorError } from '../../electron/supervisor/supervisor.js';
import { buildCorpus, makeTemp, removeTemp, TEST_PASSWORD, TEST_USER } from '../helpers/corpus.js';
import { testSettings } from '../helpers/roost.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
let workerScript: string | null = null;
let whyNot = '';

describe('viewer through the supervisor and the worker', () => {
  let vmail: string;
  let sup: Supervisor | undefined;

  beforeAll(async () => {
    const outdir = path.join(ROOT, 'out', `.test-viewer-${process.pid}`);
    const script = `
      import { build } from 'esbuild';
      await build({ absWorkingDir: ${JSON.stringify(ROOT)}, bundle: true, platform: 'node', target: 'node20', format: 'esm',
        packages: 'external', logLevel: 'error', entryPoints: { worker: 'electron/server/worker.ts' }, outdir: ${JSON.stringify(outdir)},
        banner: { js: "import { createRequire as __r } from 'node:module'; const require = __r(import.meta.url);" } });`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' });
    if (r.status === 0) workerScript = path.join(outdir, 'worker.js');
    else whyNot = `electron/server/worker.ts does not bundle: ${r.stderr || r.stdout}`;
    vmail = await makeTemp('roost-viewer-worker-');
    await buildCorpus(vmail);
  });

  afterAll(async () => {
    await sup?.stop();
    if (workerScript) fs.rmSync(path.dirname(workerScript), { recursive: true, force: true });
    await removeTemp(vmail);
  });

  it('answers tree, page, message and attachment requests, and reports errors with their codes', async (ctx) => {
    if (!workerScript) {
      console.log(`skipped: ${whyNot}`);
      ctx.skip(whyNot);
      return;
    }
    sup = new Supervisor({ settings: testSettings(vmail, TEST_PASSWORD), workerScript });
    await expect(sup.viewer({ op: 'tree' })).rejects.toMatchObject({ code: 'NOT_RUNNING' });
    await sup.start();

    const tree = await sup.viewer({ op: 'tree' });
    expect(tree.domains[0].users[0].user).toBe(TEST_USER);
    const inbox = tree.domains[0].users[0].folders!.find((f) => f.name === 'INBOX')!;
    expect(inbox.messages).toBeGreaterThan(2);

    const page = await sup.viewer({ op: 'page', user: TEST_USER, mailbox: 'INBOX', offset: 0, limit: 50 });
    expect(page.total).toBe(inbox.messages);
    expect(page.items.map((m) => m.date)).toEqual([...page.items.map((m) => m.date)].sort((a, b) => b - a));

    // The corpus has a message with a PDF attachment somewhere in INBOX.
    let withPdf: { uid: number; part: string } | undefined;
    for (const item of page.items) {
      const m = await sup.viewer({ op: 'message', user: TEST_USER, mailbox: 'INBOX', uid: item.uid });
      const pdf = m.attachments.find((a) => a.contentType === 'application/pdf');
      if (pdf) withPdf = { uid: item.uid, part: pdf.part };
    }
    expect(withPdf).toBeDefined();
    const att = await sup.viewer({ op: 'attachment', user: TEST_USER, mailbox: 'INBOX', uid: withPdf!.uid, part: withPdf!.part });
    expect(att.data).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(att.data).subarray(0, 5).toString()).toBe('%PDF-');

    const err = await sup.viewer({ op: 'message', user: TEST_USER, mailbox: 'INBOX', uid: 999999 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SupervisorError);
    expect(err).toMatchObject({ code: 'REQUEST_FAILED', causeCode: 'VIEWER_NO_MESSAGE' });
    await expect(sup.viewer({ op: 'page', user: TEST_USER, mailbox: 'Nope', offset: 0, limit: 1 })).rejects.toMatchObject({ causeCode: 'NONEXISTENT' });

    await sup.stop();
    await expect(sup.viewer({ op: 'tree' })).rejects.toMatchObject({ code: 'NOT_RUNNING' });
  });
});
