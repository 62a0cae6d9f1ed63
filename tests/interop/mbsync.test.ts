// Real synchronizers against the target server (Roost by default, TARGET=dovecot for Dovecot):
// mbsync (isync) and offlineimap copy a populated account to a local maildir, then push
// local changes (a new message, a flag change, a deletion) back while pulling a server-side
// APPEND. After every run the server and the local copy must hold the same messages
// (byte-for-byte after CRLF normalization) with the same flags.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildCorpus, makeTemp, removeTemp, TEST_PASSWORD, TEST_USER, toCrlf } from '../helpers/corpus.js';
import { encodeMailboxName, parseFetch, parseValues } from '../helpers/imap-wire.js';
import { imapString, login } from '../helpers/session.js';
import { startTarget, targetKinds, targetUnavailableReason, type TargetServer } from '../helpers/target.js';

function which(bin: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;
}
const mbsyncMissing = which('mbsync') ? undefined : 'mbsync not found (apt-get install isync)';
const offlineimapMissing = which('offlineimap') ? undefined : 'offlineimap not found (apt-get install offlineimap)';
if (mbsyncMissing) console.warn(`[mbsync] skipped: ${mbsyncMissing}`);
if (offlineimapMissing) console.warn(`[offlineimap] skipped: ${offlineimapMissing}`);

/** Run a sync tool; resolves with its output, rejects (with the output) on a non-zero exit. */
function runTool(cmd: string, args: string[], home: string, timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HOME: home } });
    let out = '';
    child.stdout.on('data', (d) => (out += d.toString()));
    child.stderr.on('data', (d) => (out += d.toString()));
    const timer = setTimeout(() => {
      out += `\n(killed after ${timeoutMs} ms)`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${args.join(' ')} exited with ${code}:\n${out}`));
    });
  });
}

/** Which maildir info letters a tool maps to and from IMAP flags. */
type FlagMap = Record<string, string>;
const SYSTEM_FLAGS: FlagMap = { '\\draft': 'D', '\\flagged': 'F', '\\answered': 'R', '\\seen': 'S', '\\deleted': 'T' };
// mbsync also maps the $Forwarded keyword to maildir's P ("passed").
const MBSYNC_FLAGS: FlagMap = { ...SYSTEM_FLAGS, $forwarded: 'P' };

/**
 * Comparable form of a message: info letters + hash of the content with CRLF line endings.
 * X-TUID is dropped: mbsync inserts it into messages it uploads to find their UID when the
 * server has no UIDPLUS, so its presence depends on the server's capabilities.
 */
function fingerprint(content: Buffer, letters: string): string {
  const text = toCrlf(content).toString('latin1').replace(/^X-TUID: [^\r\n]*\r\n/im, '');
  const subject = /^Subject: ([^\r\n]*)/im.exec(text)?.[1] ?? '';
  return `[${[...letters].sort().join('')}] ${subject} ${createHash('sha256').update(text, 'latin1').digest('hex').slice(0, 16)}`;
}

/** folder (IMAP name, modified UTF-7) -> sorted fingerprints, as the server shows it. */
async function serverView(ep: { host: string; port: number }, flags: FlagMap): Promise<Record<string, string[]>> {
  const w = await login(ep, TEST_USER, TEST_PASSWORD);
  try {
    const view: Record<string, string[]> = {};
    for (const line of (await w.ok('LIST "" "*"')).untagged) {
      const m = /^\* LIST \(([^)]*)\) (.*)$/i.exec(line);
      if (!m || /\\Noselect|\\NonExistent/i.test(m[1]!)) continue;
      const name = parseValues(m[2]!)[1] as string;
      const ex = await w.ok(`EXAMINE ${imapString(name)}`);
      const exists = Number(/^\* (\d+) EXISTS/im.exec(ex.untagged.join('\n'))?.[1] ?? 0);
      const msgs: string[] = [];
      if (exists > 0) {
        for (const l of (await w.ok('UID FETCH 1:* (FLAGS BODY.PEEK[])')).untagged) {
          const f = parseFetch(l);
          if (!f) continue;
          const letters = ((f.items.FLAGS as string[]) ?? []).map((x) => flags[x.toLowerCase()] ?? '').join('');
          msgs.push(fingerprint(Buffer.from(String(f.items['BODY[]']), 'latin1'), letters));
        }
      }
      view[name] = msgs.sort();
    }
    return view;
  } finally {
    await w.close();
  }
}

/** folder -> sorted fingerprints of a local maildir tree; `nameOf` maps a directory (relative) to the IMAP name. */
async function localView(root: string, nameOf: (rel: string) => string, flags: FlagMap): Promise<Record<string, string[]>> {
  const view: Record<string, string[]> = {};
  const letters = new Set(Object.values(flags));
  const walk = async (dir: string) => {
    const entries = await fs.readdir(dir, { withFileTypes: true });
    if (entries.some((e) => e.isDirectory() && e.name === 'cur')) {
      const msgs: string[] = [];
      for (const sub of ['cur', 'new']) {
        for (const file of await fs.readdir(path.join(dir, sub))) {
          const info = /:2,([A-Za-z]*)$/.exec(file)?.[1] ?? '';
          msgs.push(fingerprint(await fs.readFile(path.join(dir, sub, file)), [...info].filter((c) => letters.has(c)).join('')));
        }
      }
      view[nameOf(path.relative(root, dir))] = msgs.sort();
    }
    for (const e of entries) {
      if (e.isDirectory() && !['cur', 'new', 'tmp'].includes(e.name) && !e.name.startsWith('.')) await walk(path.join(dir, e.name));
    }
  };
  await walk(root);
  return view;
}

/** Find the one local file whose content has `Subject: <subject>`. */
async function findLocal(folderDir: string, subject: string): Promise<string> {
  for (const sub of ['cur', 'new']) {
    for (const file of await fs.readdir(path.join(folderDir, sub))) {
      const p = path.join(folderDir, sub, file);
      if (new RegExp(`^Subject: ${subject}\r?$`, 'm').test(await fs.readFile(p, 'latin1'))) return p;
    }
  }
  throw new Error(`no local message with subject ${subject} in ${folderDir}`);
}

/** Mark a local maildir message as seen the way a MUA does: move to cur/ and add S to the info. */
async function markSeenLocally(file: string): Promise<void> {
  const dir = path.dirname(path.dirname(file));
  const base = path.basename(file);
  const m = /^(.*):2,([A-Za-z]*)$/.exec(base);
  const name = m ? `${m[1]}:2,${[...new Set([...m[2]!, 'S'])].sort().join('')}` : `${base}:2,S`;
  await fs.rename(file, path.join(dir, 'cur', name));
}

const LOCAL_MESSAGE = 'From: Alice <alice@example.org>\nTo: bob@example.com\nSubject: Written offline\nMessage-ID: <offline-1@example.org>\nDate: Wed, 5 Jun 2024 12:00:00 +0000\n\nComposed on the laptop.\n';
const SERVER_MESSAGE = 'From: Carol <carol@example.net>\r\nSubject: Arrived meanwhile\r\nMessage-ID: <meanwhile-1@example.net>\r\n\r\nDelivered while the laptop was away.\r\n';

interface Tool {
  name: string;
  missing: string | undefined;
  flags: FlagMap;
  /** Write the config; returns a function that runs one sync. */
  configure(base: string, server: TargetServer, local: string): Promise<() => Promise<string>>;
  /** Local directory of an IMAP folder name. */
  dirOf(local: string, folder: string): string;
  nameOf(rel: string): string;
}

const tools: Tool[] = [
  {
    name: 'mbsync',
    missing: mbsyncMissing,
    flags: MBSYNC_FLAGS,
    async configure(base, server, local) {
      const conf = path.join(base, 'mbsyncrc');
      await fs.mkdir(local, { recursive: true });
      // SSLType None + an explicit AuthMechs: mbsync's default (*) only offers mechanisms it
      // deems safe for the connection, which excludes LOGIN/PLAIN in the clear.
      await fs.writeFile(conf, `IMAPAccount far
Host ${server.host}
Port ${server.port}
User ${TEST_USER}
Pass ${TEST_PASSWORD}
SSLType None
AuthMechs LOGIN PLAIN

IMAPStore far
Account far

MaildirStore near
Path ${local}/
Inbox ${local}/INBOX
SubFolders Verbatim

Channel sync
Far :far:
Near :near:
Patterns *
Create Both
Remove None
Expunge Both
SyncState *
CopyArrivalDate yes
`);
      return () => runTool('mbsync', ['-c', conf, '-a'], base);
    },
    dirOf: (local, folder) => path.join(local, ...folder.split('.')),
    nameOf: (rel) => rel.split(path.sep).join('.'),
  },
  {
    name: 'offlineimap',
    missing: offlineimapMissing,
    flags: SYSTEM_FLAGS,
    async configure(base, server, local) {
      const conf = path.join(base, 'offlineimaprc');
      await fs.writeFile(conf, `[general]
accounts = test
metadata = ${base}/offlineimap-meta
ui = basic

[Account test]
localrepository = local
remoterepository = remote

[Repository local]
type = Maildir
localfolders = ${local}

[Repository remote]
type = IMAP
remotehost = ${server.host}
remoteport = ${server.port}
remoteuser = ${TEST_USER}
remotepass = ${TEST_PASSWORD}
ssl = no
starttls = no
`);
      return async () => {
        const out = await runTool('offlineimap', ['-c', conf, '-o', '-u', 'basic'], base);
        // offlineimap reports some failures (per folder/message) only in its log and exits 0.
        if (/^\s*ERROR|Traceback|\bERROR:/m.test(out)) throw new Error(`offlineimap reported errors:\n${out}`);
        return out;
      };
    },
    dirOf: (local, folder) => path.join(local, folder),
    nameOf: (rel) => rel,
  },
];

for (const kind of targetKinds()) {
  for (const tool of tools) {
    const missing = tool.missing ?? targetUnavailableReason(kind);
    if (missing) {
      describe(`${tool.name} against ${kind}`, () => it.skip(`skipped: ${missing}`, () => {}));
      continue;
    }

    describe(`${tool.name} against ${kind}`, () => {
      let base: string;
      let server: TargetServer | undefined;
      beforeEach(async () => {
        base = await makeTemp(`roost-${tool.name}-`);
        await buildCorpus(path.join(base, 'vmail'));
        server = await startTarget(kind, { vmail: path.join(base, 'vmail'), password: TEST_PASSWORD });
      });
      afterEach(async () => {
        await server?.stop();
        server = undefined;
        await removeTemp(base);
      });

      it('copies the whole account to a local maildir identically', async () => {
        const local = path.join(base, 'local');
        const sync = await tool.configure(base, server!, local);
        const log = await sync();
        const remote = await serverView(server!, tool.flags);
        const mine = await localView(local, tool.nameOf, tool.flags);
        expect(mine, `local copy differs from the server after ${tool.name}:\n${log}`).toEqual(remote);
        expect(Object.keys(mine).sort()).toEqual(['Drafts', encodeMailboxName('Entwürfe'), 'INBOX', 'Junk', 'Sent', 'Trash', 'Work', 'Work.Projects'].sort());
        expect(remote.INBOX!.length).toBeGreaterThanOrEqual(8);
        expect(remote.Work).toHaveLength(3);
      });

      it('pushes local changes back and pulls server changes', async () => {
        const local = path.join(base, 'local');
        const sync = await tool.configure(base, server!, local);
        await sync();
        // Local: a new message, a message marked seen, a message deleted.
        const inbox = tool.dirOf(local, 'INBOX');
        await fs.writeFile(path.join(inbox, 'new', `${Math.floor(Date.now() / 1000)}.R1.laptop`), LOCAL_MESSAGE);
        await markSeenLocally(await findLocal(tool.dirOf(local, 'Work'), 'Holidays'));
        await fs.unlink(await findLocal(tool.dirOf(local, 'Work.Projects'), 'Roadmap'));
        // Server: a message arrives meanwhile.
        const w = await login(server!, TEST_USER, TEST_PASSWORD);
        try {
          await w.ok(`APPEND Work {${SERVER_MESSAGE.length}}\r\n${SERVER_MESSAGE}`);
        } finally {
          await w.close();
        }

        const log = await sync();
        const remote = await serverView(server!, tool.flags);
        const mine = await localView(local, tool.nameOf, tool.flags);
        expect(mine, `local copy differs from the server after the second ${tool.name} run:\n${log}`).toEqual(remote);
        expect(remote.INBOX!.some((m) => m.includes('Written offline')), 'local message uploaded').toBe(true);
        expect(remote.Work!.find((m) => m.includes('Holidays')), 'local \\Seen pushed').toMatch(/^\[[A-Z]*S[A-Z]*\]/);
        expect(remote.Work!.some((m) => m.includes('Arrived meanwhile')), 'server message pulled').toBe(true);
        expect(remote['Work.Projects']!.some((m) => m.includes('Roadmap') && !m.startsWith('[T')), 'local deletion propagated').toBe(false);

        // The uploaded message is byte-identical (after CRLF normalization) on the server.
        const w2 = await login(server!, TEST_USER, TEST_PASSWORD);
        try {
          await w2.ok('EXAMINE INBOX');
          const s = await w2.ok('UID SEARCH HEADER Message-ID <offline-1@example.org>');
          const uid = /^\* SEARCH (\d+)/m.exec(s.untagged.join('\n'))?.[1];
          expect(uid, 'uploaded message found by Message-ID').toBeDefined();
          const f = parseFetch((await w2.ok(`UID FETCH ${uid} BODY.PEEK[]`)).untagged.find((l) => / FETCH /.test(l))!);
          const onServer = String(f!.items['BODY[]']).replace(/^X-TUID: [^\r\n]*\r\n/im, '');
          expect(onServer).toBe(toCrlf(Buffer.from(LOCAL_MESSAGE)).toString('latin1'));
        } finally {
          await w2.close();
        }

        // A third run changes nothing.
        await sync();
        expect(await localView(local, tool.nameOf, tool.flags)).toEqual(await serverView(server!, tool.flags));
      });
    });
  }
}
