// Differential tests: the same IMAP command scripts run against Debian's Dovecot (the
// reference, configured like the seed) and against the target server (Roost by default;
// TARGET=dovecot proves the harness by comparing Dovecot with itself), each on an identical
// copy of the same populated vmail tree. Answers are compared after normalization
// (tests/helpers/imap-wire.ts lists what is normalized and why).
//
// The second half checks the on-disk promise: a tree written by one server reads identically
// (UIDVALIDITY, UIDs, flags, keywords, folders, subscriptions) through the other.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildCorpus, copyTree, makeTemp, removeTemp, TEST_PASSWORD, TEST_USER } from '../helpers/corpus.js';
import { dovecotUnavailableReason, startDovecot, type DovecotInstance } from '../helpers/dovecot.js';
import { capabilities, encodeMailboxName, ImapWire, literal, type NormalizedResponse, type NormalizeOptions } from '../helpers/imap-wire.js';
import { login, runScript, snapshotAccount, type Step } from '../helpers/session.js';
import { startTarget, targetKinds, targetUnavailableReason, type TargetKind, type TargetServer } from '../helpers/target.js';

const dovecotMissing = dovecotUnavailableReason();
if (dovecotMissing) console.warn(`[dovecot-differential] skipped: ${dovecotMissing}`);

const ENTWUERFE = encodeMailboxName('Entwürfe');

/**
 * Normalization for every differential step on top of imap-wire's defaults.
 * `* OK [CLOSED]` is dropped: Dovecot sends it whenever a SELECT/EXAMINE replaces a selected
 * mailbox, RFC 7162 only requires it once QRESYNC is enabled, and no client without QRESYNC
 * looks at it.
 */
const BASE: NormalizeOptions = { dropUntagged: [/^\* OK \[CLOSED\]/i] };
const SORTED: NormalizeOptions = { ...BASE, sortUntagged: true };
/**
 * SEARCH KEYWORD <unknown> makes Dovecot register the keyword in the mailbox and announce new
 * FLAGS/PERMANENTFLAGS: an implementation detail of its index that no client depends on.
 */
const SEARCH_OPTS: NormalizeOptions = { dropUntagged: [...BASE.dropUntagged!, /^\* FLAGS /i, /^\* OK \[PERMANENTFLAGS /i] };

/**
 * Align error answers: when the reference says NO/BAD without a response code, the target may
 * add one (e.g. RFC 5530 [NONEXISTENT] where Dovecot 2.3 has none) — clients treat the code as
 * extra information. When the reference has a code, the target must send the same.
 */
function align(ref: NormalizedResponse[], got: NormalizedResponse[]): NormalizedResponse[] {
  return got.map((g, i) => {
    const r = ref[i];
    if (r && r.status !== 'OK' && r.code === null && g.status === r.status) return { ...g, code: null };
    return g;
  });
}

interface Pair {
  dir: string;
  reference: DovecotInstance;
  target: TargetServer;
}

/** Build the corpus once, copy it twice (before any server touches it), start both servers. */
async function startPair(kind: TargetKind): Promise<Pair> {
  const dir = await makeTemp('roost-diff-');
  const src = path.join(dir, 'src');
  await buildCorpus(src);
  await copyTree(src, path.join(dir, 'ref'));
  await copyTree(src, path.join(dir, 'tgt'));
  const reference = await startDovecot({ vmail: path.join(dir, 'ref'), password: TEST_PASSWORD });
  try {
    const target = await startTarget(kind, { vmail: path.join(dir, 'tgt'), password: TEST_PASSWORD });
    return { dir, reference, target };
  } catch (e) {
    await reference.stop();
    await removeTemp(dir);
    throw e;
  }
}

async function stopPair(p: Pair | undefined): Promise<void> {
  if (!p) return;
  await Promise.allSettled([p.reference.stop(), p.target.stop()]);
  await removeTemp(p.dir);
}

/** Run `steps` on both servers (fresh logged-in connections) and compare the normalized answers. */
async function compareScript(p: Pair, steps: Step[], defaults: NormalizeOptions = BASE): Promise<void> {
  const refWire = await login(p.reference, TEST_USER, TEST_PASSWORD);
  const tgtWire = await login(p.target, TEST_USER, TEST_PASSWORD);
  try {
    const ref = await runScript(refWire, steps, defaults);
    let got: NormalizedResponse[];
    try {
      got = await runScript(tgtWire, steps, defaults);
    } catch (e) {
      throw new Error(`${p.target.kind} failed the script (the reference answered all of it): ${(e as Error).message}`);
    }
    if (process.env.DIFF_DUMP) await dump(ref, got);
    expect(ref.length).toBe(steps.length);
    const aligned = align(ref, got);
    const first = ref.findIndex((r, i) => JSON.stringify(r) !== JSON.stringify(aligned[i]));
    expect(aligned, first < 0 ? undefined : `${p.target.kind} answers differently from Dovecot, first at step ${first + 1}: ${ref[first]!.command}`).toEqual(ref);
  } finally {
    await Promise.allSettled([refWire.close(), tgtWire.close()]);
  }
}

/** DIFF_DUMP=1: write both sides' normalized answers to test-results/differential/ for diffing by hand. */
async function dump(ref: NormalizedResponse[], got: NormalizedResponse[]): Promise<void> {
  const out = path.resolve('test-results', 'differential');
  await fs.mkdir(out, { recursive: true });
  const name = (expect.getState().currentTestName ?? 'test').replace(/[^A-Za-z0-9]+/g, '_').slice(0, 120);
  const text = (rs: NormalizedResponse[]) => rs.map((r) => [`C: ${r.command}`, ...r.untagged, `=> ${r.status}${r.code ? ` [${r.code}]` : ''}`].join('\n')).join('\n\n') + '\n';
  await fs.writeFile(path.join(out, `${name}.dovecot.txt`), text(ref));
  await fs.writeFile(path.join(out, `${name}.target.txt`), text(got));
}

const FOLDERS_STATUS = ['INBOX', 'Sent', 'Trash', 'Drafts', 'Junk', 'Work', 'Work.Projects', ENTWUERFE]
  .map((f) => `STATUS ${f.includes('&') ? `"${f}"` : f} (MESSAGES UIDNEXT UNSEEN RECENT UIDVALIDITY)`);

const kinds = targetKinds();

for (const kind of kinds) {
  const missing = dovecotMissing ?? targetUnavailableReason(kind);
  if (missing) {
    describe(`dovecot differential (${kind})`, () => {
      it.skip(`skipped: ${missing}`, () => {});
    });
    continue;
  }

  // How the target is named in test names ("Dovecot vs Dovecot (as target)" proves the harness).
  const label = kind === 'roost' ? 'Roost' : 'Dovecot (as target)';

  describe(`dovecot differential: Dovecot vs ${label}`, () => {
    let pair: Pair | undefined;
    afterEach(async () => {
      await stopPair(pair);
      pair = undefined;
    });

    it('greets with * OK and advertises IMAP4rev1 and plaintext AUTH before login', async () => {
      pair = await startPair(kind);
      for (const ep of [pair.reference, pair.target]) {
        const w = await ImapWire.connect(ep.host, ep.port);
        try {
          expect(w.greeting).toMatch(/^\* OK /);
          let caps = capabilities(w.greeting);
          if (caps.length === 0) caps = capabilities((await w.ok('CAPABILITY')).untagged.join('\n'));
          expect(caps).toContain('IMAP4REV1');
          expect(caps).not.toContain('LOGINDISABLED');
          expect(caps).toContain('AUTH=PLAIN');
        } finally {
          await w.close();
        }
      }
    });

    it('accepts LOGIN, AUTHENTICATE PLAIN (inline and after +) and LOGOUT, rejects a wrong password', async () => {
      pair = await startPair(kind);
      const plain = Buffer.from(`\0${TEST_USER}\0${TEST_PASSWORD}`).toString('base64');
      // The failing attempt comes last: Dovecot penalizes further attempts from the same IP
      // (anvil auth penalty, seconds), which would only slow the test down.
      const script = async (ep: { host: string; port: number }) => {
        const out: string[] = [];
        const a = await ImapWire.connect(ep.host, ep.port);
        try {
          out.push(`LOGIN ${(await a.run(`LOGIN ${TEST_USER} ${TEST_PASSWORD}`)).status}`);
          out.push(`SELECT ${(await a.run('SELECT INBOX')).status}`);
          const bye = await a.run('LOGOUT');
          out.push(`LOGOUT ${bye.status} ${bye.untagged.some((l) => /^\* BYE/i.test(l)) ? 'BYE' : 'no BYE'}`);
        } finally {
          a.destroy();
        }
        const b = await ImapWire.connect(ep.host, ep.port);
        try {
          out.push(`AUTHENTICATE PLAIN (SASL-IR) ${(await b.run(`AUTHENTICATE PLAIN ${plain}`)).status}`);
        } finally {
          await b.close();
        }
        const c = await ImapWire.connect(ep.host, ep.port);
        try {
          c.sendLine('x1 AUTHENTICATE PLAIN');
          await c.waitContinuation();
          c.sendLine(plain);
          const done = await c.readUntil((l) => l.startsWith('x1 '));
          out.push(`AUTHENTICATE PLAIN (+) ${done[done.length - 1]!.split(' ')[1]}`);
        } finally {
          await c.close();
        }
        const d = await ImapWire.connect(ep.host, ep.port);
        try {
          out.push(`LOGIN wrong ${(await d.run(`LOGIN ${TEST_USER} wrong-password`)).status}`);
          out.push(`SELECT unauthenticated ${(await d.run('SELECT INBOX')).status}`);
        } finally {
          d.destroy();
        }
        return out;
      };
      const ref = await script(pair.reference);
      expect(ref).toEqual(['LOGIN OK', 'SELECT OK', 'LOGOUT OK BYE', 'AUTHENTICATE PLAIN (SASL-IR) OK',
        'AUTHENTICATE PLAIN (+) OK', 'LOGIN wrong NO', 'SELECT unauthenticated BAD']);
      expect(await script(pair.target)).toEqual(ref);
    });

    it('LIST, LSUB and STATUS describe the same folders', async () => {
      pair = await startPair(kind);
      await compareScript(pair, [
        { cmd: 'LIST "" "*"', opts: SORTED },
        { cmd: 'LIST "" "%"', opts: SORTED },
        { cmd: 'LIST "" "Work*"', opts: SORTED },
        { cmd: 'LIST "" "Work.%"', opts: SORTED },
        { cmd: 'LIST "" ""', opts: SORTED },
        { cmd: 'LIST "" "inbox"', opts: SORTED },
        { cmd: 'LSUB "" "*"', opts: SORTED },
        ...FOLDERS_STATUS,
        'STATUS Nope (MESSAGES)',
      ]);
    });

    it('SELECT/EXAMINE and FETCH of envelopes, structures, sections and partials agree', async () => {
      pair = await startPair(kind);
      await compareScript(pair, [
        { cmd: 'EXAMINE INBOX', opts: SORTED },
        'FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE ENVELOPE BODYSTRUCTURE)',
        'FETCH 1:* (BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT DATE MESSAGE-ID)])',
        'FETCH 1:* (BODY.PEEK[HEADER.FIELDS.NOT (RECEIVED RETURN-PATH DELIVERED-TO)])',
        'FETCH 1:* BODY.PEEK[1]',
        'FETCH 1:* BODY.PEEK[]<0.100>',
        'FETCH 1:* BODY.PEEK[TEXT]<10.40>',
        'FETCH 1:* (BODY RFC822.SIZE)',
        'FETCH 1:* FAST',
        'FETCH 2 (BODY.PEEK[HEADER] BODY.PEEK[1.MIME] BODY.PEEK[2])',
        'FETCH 4 (BODY.PEEK[2] BODY.PEEK[2.MIME] BODY.PEEK[3])',
        'FETCH 5 (BODY.PEEK[2.HEADER] BODY.PEEK[2.TEXT] BODY.PEEK[2.1] BODY.PEEK[2.2])',
        'FETCH 8 (BODY.PEEK[] RFC822.SIZE)',
        'FETCH 9 BODY.PEEK[1]<2000.1000>',
        'UID FETCH 1:* (FLAGS)',
        'UID FETCH 4:6 (UID RFC822.SIZE)',
        'FETCH 1:* RFC822.HEADER',
        { cmd: 'EXAMINE Work', opts: SORTED },
        'FETCH 1:* (UID FLAGS ENVELOPE)',
        'UID FETCH 7 (BODY.PEEK[])',
        'UID FETCH 8:9 (FLAGS)',
        { cmd: `EXAMINE "${ENTWUERFE}"`, opts: SORTED },
        'FETCH 1 (FLAGS ENVELOPE BODYSTRUCTURE BODY.PEEK[])',
        { cmd: 'EXAMINE Trash', opts: SORTED },
        'UID FETCH 1:* (FLAGS)',
        { cmd: 'SELECT Nope', opts: SORTED },
      ]);
    });

    it('SEARCH with flag, header, body, date, size, sequence and boolean keys agrees', async () => {
      pair = await startPair(kind);
      const searches = [
        'ALL', 'SEEN', 'UNSEEN', 'FLAGGED', 'UNFLAGGED', 'ANSWERED', 'DELETED', 'UNDELETED', 'DRAFT',
        'RECENT', 'NEW', 'OLD', 'KEYWORD Important', 'UNKEYWORD Important', 'KEYWORD $Forwarded', 'KEYWORD Nonexistent',
        'FROM bob', 'FROM "example.com"', 'TO dave', 'CC team', 'SUBJECT hello', 'SUBJECT "Multipart"',
        'BODY needle', 'TEXT needle', 'TEXT "report.pdf"', 'HEADER Message-ID <plain-1@example.com>', 'HEADER In-Reply-To ""',
        'LARGER 1000', 'SMALLER 400', 'SINCE 1-Mar-2024', 'BEFORE 1-Feb-2024', 'ON 15-Feb-2024',
        'SENTSINCE 1-Mar-2024', 'SENTBEFORE 1-Feb-2024', 'SENTON 1-Feb-2024',
        '2:4', '5:*', 'UID 2:4', 'UID 8:*', 'NOT SEEN', 'OR SEEN FLAGGED', 'OR (FROM bob) (KEYWORD Important)',
        'NOT (OR DELETED DRAFT)', 'SEEN NOT FLAGGED SINCE 1-Jan-2024', '1:* UNDELETED',
      ];
      await compareScript(pair, [
        { cmd: 'EXAMINE INBOX', opts: SORTED },
        ...searches.map((s) => `SEARCH ${s}`),
        ...['SEEN', 'UNSEEN', 'KEYWORD $Label1', 'UID 1:*'].map((s) => `UID SEARCH ${s}`),
        // Non-ASCII search terms need CHARSET and a literal (8-bit is not allowed in quoted strings).
        `SEARCH CHARSET UTF-8 SUBJECT ${literal('Café')}`,
        `SEARCH CHARSET UTF-8 SUBJECT ${literal('Überprüfung')}`,
        `SEARCH CHARSET UTF-8 FROM ${literal('Jürgen')}`,
        `SEARCH CHARSET UTF-8 BODY ${literal('Köln')}`,
        `SEARCH CHARSET UTF-8 TEXT ${literal('naïve')}`,
        'SEARCH CHARSET US-ASCII SUBJECT plain',
        'SEARCH CHARSET X-UNKNOWN-CHARSET SUBJECT plain',
        { cmd: 'EXAMINE Work', opts: SORTED },
        'SEARCH ALL', 'UID SEARCH ALL', 'UID SEARCH UID 5:9', 'SEARCH FLAGGED KEYWORD Important',
      ], SEARCH_OPTS);
    });

    it('STORE, COPY, EXPUNGE and CLOSE have the same effects and untagged updates', async () => {
      pair = await startPair(kind);
      await compareScript(pair, [
        { cmd: 'SELECT INBOX', opts: SORTED },
        'STORE 1 +FLAGS (\\Flagged)',
        'STORE 2 -FLAGS (\\Seen)',
        'STORE 3 FLAGS.SILENT (\\Seen \\Answered)',
        { cmd: 'STORE 1:3 +FLAGS (NewKeyword)', opts: SORTED },
        'UID STORE 4 -FLAGS ($Forwarded)',
        'STORE 5 -FLAGS.SILENT (Important)',
        'STORE 6 +FLAGS (\\Recent)',
        'FETCH 1:* (UID FLAGS)',
        // A non-PEEK body fetch sets \Seen and reports the new flags.
        'FETCH 8 (BODY[1])',
        'FETCH 8 FLAGS',
        'COPY 1:2 Work',
        'UID COPY 4 Trash',
        'COPY 1 Nope',
        'STORE 2 +FLAGS.SILENT (\\Deleted)',
        'EXPUNGE',
        'FETCH 1:* (UID FLAGS)',
        'STATUS Work (MESSAGES UIDNEXT UNSEEN)',
        'STATUS Trash (MESSAGES UIDNEXT UNSEEN)',
        { cmd: 'SELECT Work', opts: SORTED },
        'FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE)',
        'STORE 1 +FLAGS.SILENT (\\Deleted)',
        'CLOSE',
        { cmd: 'SELECT Trash', opts: SORTED },
        'FETCH 1:* (UID FLAGS ENVELOPE)',
        'STORE 1 +FLAGS (\\Deleted)',
        'EXPUNGE',
        { cmd: 'EXAMINE INBOX', opts: SORTED },
        'FETCH 1:* (UID FLAGS)',
        { cmd: 'EXAMINE Work', opts: SORTED },
        'FETCH 1:* (UID FLAGS)',
      ]);
    });

    it('APPEND, CREATE, RENAME, DELETE, SUBSCRIBE have the same effects', async () => {
      pair = await startPair(kind);
      const msg = 'From: Zed <zed@example.com>\r\nTo: alice@example.org\r\nSubject: Appended\r\nMessage-ID: <app-1@example.com>\r\n\r\nAppended body.\r\n';
      const msg2 = 'From: Zed <zed@example.com>\r\nSubject: Second\r\n\r\nTwo.\r\n';
      const zuerich = encodeMailboxName('Projekte.Zürich');
      const buero = encodeMailboxName('Büro');
      await compareScript(pair, [
        `APPEND INBOX (\\Seen $Label2) "05-Jun-2024 10:00:00 +0200" ${literal(msg)}`,
        `APPEND Work ${literal(msg2)}`,
        `APPEND Nope ${literal(msg2)}`,
        { cmd: 'CREATE Archive', opts: SORTED },
        `CREATE "${zuerich}"`,
        'CREATE Work',
        'CREATE INBOX',
        { cmd: 'LIST "" "*"', opts: SORTED },
        `RENAME Work "${buero}"`,
        'RENAME Nope Other',
        // RENAME INBOX is left out on purpose: Dovecot refuses it on maildir (NO [CANNOT]); Roost
        // does what RFC 3501 6.3.5 describes (tests/protocol/transcripts.test.ts covers it).
        { cmd: 'LIST "" "*"', opts: SORTED },
        `DELETE "${ENTWUERFE}"`,
        'DELETE Nope',
        `SUBSCRIBE "${zuerich}"`,
        'UNSUBSCRIBE Sent',
        { cmd: 'LSUB "" "*"', opts: SORTED },
        { cmd: 'LIST "" "*"', opts: SORTED },
        { cmd: 'SELECT INBOX', opts: SORTED },
        'UID FETCH 1:* (FLAGS)',
        'FETCH 10 (UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY.PEEK[])',
        { cmd: `SELECT "${buero}"`, opts: SORTED },
        'UID FETCH 1:* (UID FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])',
        `STATUS "${buero}.Projects" (MESSAGES UIDNEXT)`,
        `STATUS "${zuerich}" (MESSAGES UIDNEXT)`,
      ]);
    });
  });

  // ---------------------------------------------------------------------------------------
  // Trees written by one server are read identically by the other.

  describe(`on-disk compatibility: trees written by one are read by the other (${label})`, () => {
    let dir: string | undefined;
    afterAll(async () => removeTemp(dir));
    beforeAll(async () => {
      dir = await makeTemp('roost-ondisk-');
    });

    /**
     * A write script touching everything the tree stores: APPEND with flags, keywords and
     * INTERNALDATE, CREATE of a non-ASCII folder, RENAME, SUBSCRIBE/UNSUBSCRIBE, STORE of
     * keywords, EXPUNGE, COPY. `round` makes the names unique when a tree is written twice.
     */
    async function writeScript(ep: { host: string; port: number }, round: number): Promise<void> {
      const w = await login(ep, TEST_USER, TEST_PASSWORD);
      try {
        const sfx = round === 1 ? '' : String(round);
        const folder = encodeMailboxName(`Projekte.Zürich${sfx}`);
        const mid = (n: number) => `<w-${round}-${n}@example.com>`;
        await w.ok(`APPEND INBOX (\\Seen \\Flagged $Label2) "05-Jun-2024 10:00:00 +0200" ${literal(`From: a@example.com\r\nSubject: one\r\nMessage-ID: ${mid(1)}\r\n\r\nbody one\r\n`)}`);
        await w.ok(`APPEND INBOX () ${literal(`From: b@example.com\r\nSubject: two\r\nMessage-ID: ${mid(2)}\r\n\r\nbody two\r\n`)}`);
        await w.ok(`CREATE "${folder}"`);
        await w.ok(`APPEND "${folder}" (\\Answered Projekt${sfx}) ${literal(`From: c@example.com\r\nSubject: three\r\nMessage-ID: ${mid(3)}\r\n\r\nbody three\r\n`)}`);
        await w.ok(`SUBSCRIBE "${folder}"`);
        await w.ok(round === 1 ? 'RENAME Work.Projects Roadmaps' : `RENAME Roadmaps Roadmaps${sfx}`);
        await w.ok('SELECT INBOX');
        await w.ok(`STORE 1:3 +FLAGS (Important Follow-up${sfx})`);
        await w.ok('STORE 2 -FLAGS (\\Seen)');
        await w.ok('STORE 4 +FLAGS (\\Deleted)');
        await w.ok('EXPUNGE');
        await w.ok('UID COPY 1:2 Work');
        await w.ok('SELECT Work');
        await w.ok('STORE 1 +FLAGS (\\Deleted)');
        await w.ok('EXPUNGE');
        await w.ok(round === 1 ? 'UNSUBSCRIBE Sent' : 'UNSUBSCRIBE Work');
      } finally {
        await w.close();
      }
    }

    async function snapshotWith(ep: { host: string; port: number }) {
      const w = await login(ep, TEST_USER, TEST_PASSWORD);
      try {
        return await snapshotAccount(w);
      } finally {
        await w.close();
      }
    }

    type Starter = (vmail: string) => Promise<{ host: string; port: number; stop(): Promise<void> }>;
    const dovecot: Starter = (vmail) => startDovecot({ vmail, password: TEST_PASSWORD });
    const target: Starter = (vmail) => startTarget(kind, { vmail, password: TEST_PASSWORD });

    /**
     * Hand one tree from server to server. Each server first takes a snapshot, which must equal
     * what the previous server saw last; a writer then runs the write script and snapshots again.
     */
    async function inTurn(name: string, chain: Array<[string, Starter, 'write' | 'read']>): Promise<void> {
      const vmail = path.join(dir!, name);
      await buildCorpus(vmail);
      let previous: Awaited<ReturnType<typeof snapshotWith>> | undefined;
      let previousBy = '';
      let round = 0;
      for (const [who, start, action] of chain) {
        const server = await start(vmail);
        try {
          const seen = await snapshotWith(server);
          if (previous) expect(seen, `${who} reading the tree ${previousBy} left`).toEqual(previous);
          previous = seen;
          previousBy = `${who} found`;
          if (action === 'write') {
            await writeScript(server, ++round);
            previous = await snapshotWith(server);
            previousBy = `${who} wrote`;
          }
        } finally {
          await server.stop();
        }
      }
      // The write script really changed things (guards against a vacuous comparison).
      expect(Object.keys(previous!.mailboxes)).toContain(encodeMailboxName('Projekte.Zürich'));
      const inbox = previous!.mailboxes.INBOX!.messages;
      expect(inbox.some((m) => m.includes('<w-1-1@example.com>') && m.includes('$Label2'))).toBe(true);
      expect(inbox.some((m) => m.includes('Follow-up'))).toBe(true);
    }

    it(`${label} writes, Dovecot reads the same UIDs, flags, keywords and folders`, async () => {
      await inTurn('t2d', [[label, target, 'write'], ['Dovecot', dovecot, 'read']]);
    });

    it(`Dovecot writes, ${label} reads the same UIDs, flags, keywords and folders`, async () => {
      await inTurn('d2t', [['Dovecot', dovecot, 'write'], [label, target, 'read']]);
    });

    it(`Dovecot, then ${label}, then Dovecot again on one tree (Dovecot's index must resync)`, async () => {
      await inTurn('d2t2d', [['Dovecot', dovecot, 'write'], [label, target, 'write'], ['Dovecot', dovecot, 'read']]);
    });
  });
}
