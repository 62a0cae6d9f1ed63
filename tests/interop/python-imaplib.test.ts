// Python's standard imaplib against the target server (Roost by default, TARGET=dovecot for
// Dovecot): login, list, lsub, select, search (incl. CHARSET UTF-8 literal), fetch, store,
// append, uid copy, expunge, create/rename/delete, status, close, logout. The session is
// driven by tests/interop/imaplib_client.py, which prints the raw answers as JSON.
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCorpus, corpusMessages, makeTemp, removeTemp, TEST_PASSWORD, TEST_USER, toCrlf } from '../helpers/corpus.js';
import { startTarget, targetKinds, targetUnavailableReason, type TargetServer } from '../helpers/target.js';

const SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'imaplib_client.py');
const python = spawnSync('python3', ['--version'], { encoding: 'utf8' });
const pythonMissing = python.status === 0 ? undefined : 'python3 not found (apt-get install python3)';
if (pythonMissing) console.warn(`[python-imaplib] skipped: ${pythonMissing}`);

interface Step {
  step: string;
  typ: string;
  data: unknown;
}

function runClient(server: TargetServer): Promise<{ steps: Step[]; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', [SCRIPT, server.host, String(server.port), TEST_USER, TEST_PASSWORD], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d.toString('utf8')));
    child.stderr.on('data', (d) => (err += d.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      try {
        resolve({ ...(JSON.parse(out) as { steps: Step[] }), stderr: err });
      } catch {
        reject(new Error(`imaplib_client.py exited ${code} without JSON.\nstdout: ${out}\nstderr: ${err}`));
      }
    });
  });
}

for (const kind of targetKinds()) {
  const missing = pythonMissing ?? targetUnavailableReason(kind);
  if (missing) {
    describe(`python imaplib against ${kind}`, () => it.skip(`skipped: ${missing}`, () => {}));
    continue;
  }

  describe(`python imaplib against ${kind}`, () => {
    let dir: string | undefined;
    let server: TargetServer | undefined;
    let steps: Map<string, Step>;
    let transcript = '';

    beforeAll(async () => {
      dir = await makeTemp('roost-imaplib-');
      await buildCorpus(path.join(dir, 'vmail'));
      server = await startTarget(kind, { vmail: path.join(dir, 'vmail'), password: TEST_PASSWORD });
      const res = await runClient(server);
      steps = new Map(res.steps.map((s) => [s.step, s]));
      transcript = res.steps.map((s) => `${s.step}: ${s.typ} ${JSON.stringify(s.data).slice(0, 300)}`).join('\n') + (res.stderr ? `\nstderr: ${res.stderr}` : '');
    });

    afterAll(async () => {
      await server?.stop();
      await removeTemp(dir);
    });

    const get = (name: string): Step => {
      const s = steps.get(name);
      if (!s) throw new Error(`imaplib session did not reach "${name}".\n${transcript}`);
      return s;
    };
    const ok = (name: string): unknown[] => {
      const s = get(name);
      expect(s.typ, `${name}\n${transcript}`).toBe('OK');
      return s.data as unknown[];
    };

    it('completes the whole session without an exception', () => {
      expect(steps.get('exception'), transcript).toBeUndefined();
      expect(get('logout').typ).toBe('BYE');
    });

    it('greets, reports IMAP4rev1 and logs in', () => {
      expect(String(get('welcome').data)).toMatch(/^\* OK/);
      expect(String(ok('capability')[0])).toMatch(/\bIMAP4rev1\b/i);
      ok('login');
    });

    it('lists folders (LIST and LSUB)', () => {
      const list = (ok('list') as string[]).join('\n');
      for (const f of ['INBOX', 'Sent', 'Drafts', 'Trash', 'Junk', 'Work', 'Work.Projects', 'Entw&APw-rfe']) {
        expect(list, `LIST shows ${f}`).toMatch(new RegExp(`"\\." "?${f.replace(/[.&]/g, '\\$&')}"?$`, 'm'));
      }
      expect((ok('lsub') as string[]).length).toBe(4);
    });

    it('selects INBOX and searches', () => {
      expect(ok('select')).toEqual(['9']);
      expect(ok('search unseen')).toEqual(['3 7 8 9']);
      expect(ok('search from bob')).toEqual(['1']);
      expect(ok('search utf8 subject')).toEqual(['3']);
      expect(ok('uid search keyword')).toEqual(['3 5']);
    });

    it('fetches flags, sizes, header fields and full messages byte-exact', () => {
      const inbox = corpusMessages().filter((m) => m.folder === 'INBOX');
      const headers = ok('fetch headers') as Array<[string, string] | string>;
      const literals = headers.filter((x): x is [string, string] => Array.isArray(x));
      expect(literals).toHaveLength(3);
      expect(literals[0]![0]).toMatch(/^1 \(.*UID 1\b/);
      expect(literals[0]![0]).toMatch(new RegExp(`RFC822\\.SIZE ${toCrlf(inbox[0]!.raw).length}\\b`));
      expect(literals[0]![1]).toBe('Subject: Plain hello\r\n\r\n');
      expect(literals[2]![1]).toBe('Subject: =?ISO-8859-1?Q?Caf=E9_newsletter?=\r\n\r\n');
      const full = (ok('fetch rfc822') as Array<[string, string]>)[0]!;
      expect(Buffer.from(full[1], 'latin1').equals(toCrlf(inbox[0]!.raw))).toBe(true);
    });

    it('stores flags and sets \\Seen on a non-peek body fetch', () => {
      expect(String(ok('fetch flags after rfc822')[0])).not.toMatch(/\\Seen/);
      expect(String(ok('store')[0])).toMatch(/^3 \(FLAGS \(.*\\Flagged.*\)\)$/);
      expect(String(ok('store')[0])).toMatch(/\$Python/);
      const flags = String(ok('fetch flags 3')[0]);
      expect(flags).toMatch(/\\Seen/);
      expect(flags).toMatch(/Important/);
    });

    it('appends, copies, expunges, manages folders and reports STATUS', () => {
      ok('append');
      expect(ok('search appended')).toEqual(['10']);
      ok('uid copy');
      expect(ok('expunge')).toEqual(['7']);
      ok('create');
      ok('rename');
      expect(String((ok('list python') as string[]).join('\n'))).toMatch(/Python\.Summer/);
      ok('delete');
      expect(String(ok('status work')[0])).toMatch(/MESSAGES 5\b.*UIDNEXT 17\b|UIDNEXT 17\b.*MESSAGES 5\b/);
      ok('close');
    });
  });
}
