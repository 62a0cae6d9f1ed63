// IDLE with the maildir watcher: changes another program makes to a maildir (delivery into new/
// or cur/, flag renames in cur/, unlinks, folders deleted or renamed by hand, a real Dovecot
// changing flags and expunging) reach an IDLE client at once, as the untagged responses RFC 3501
// 7.3.1/7.3.2/7.4.1/7.4.2 define; a client that is not idling gets them with its next command.
// Real Roost server in-process on 127.0.0.1, real temp file system; waits are generous (5 s),
// far below IDLE's 30 s safety resync, so passing means the watcher did it.
import fs from 'node:fs/promises';
import fsSync from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ImapWire } from '../helpers/imap-wire.js';
import { maildirOf, startServerEnv, stopServerEnv, type ServerEnv } from '../helpers/server-env.js';
import { dovecotUnavailableReason, startDovecot, type DovecotInstance } from '../helpers/dovecot.js';

const PW = 'idle-watch-pw';
const WAIT = 5000;

interface Env extends ServerEnv {
  dovecot?: DovecotInstance;
}
let env: Env | null = null;

async function setup(): Promise<Env> {
  env = await startServerEnv('roost-idle-watch-', PW);
  return env;
}

afterEach(async () => {
  const e = env;
  env = null;
  if (!e) return;
  await e.dovecot?.stop();
  await stopServerEnv(e);
});

async function client(e: Env, user: string, port = e.server.port): Promise<ImapWire> {
  const w = await ImapWire.connect('127.0.0.1', port, { timeoutMs: WAIT });
  e.clients.push(w);
  await w.ok(`LOGIN ${user} ${PW}`);
  return w;
}

async function idle(w: ImapWire): Promise<void> {
  w.sendLine('i1 IDLE');
  await w.waitContinuation();
}

async function done(w: ImapWire): Promise<string[]> {
  w.sendLine('DONE');
  return w.readUntil((l) => l.startsWith('i1 '), WAIT, 'IDLE completion');
}

/** Reads untagged lines until `want` of them have arrived (or fails after WAIT with the transcript). */
async function lines(w: ImapWire, want: number, what: string): Promise<string[]> {
  const got: string[] = [];
  while (got.length < want) got.push(...(await w.readUntil(() => true, WAIT, what)));
  return got;
}


let seq = 0;
function text(subject: string): string {
  return `From: someone@example.org\nTo: x@brokkr.net\nSubject: ${subject}\nMessage-ID: <${++seq}.${Date.now()}@example.org>\n\n${subject}\n`;
}

/** tmp/ then rename, as an MDA delivers; `into` cur/ with `info` flags as a MUA or another server would. */
async function put(mailbox: string, subject: string, into: 'new' | 'cur' = 'new', info = ''): Promise<string> {
  const name = `${Math.floor(Date.now() / 1000)}.P${process.pid}Q${++seq}.other.example`;
  await fs.writeFile(path.join(mailbox, 'tmp', name), text(subject));
  const final = into === 'cur' ? `${name}:2,${info}` : name;
  await fs.rename(path.join(mailbox, 'tmp', name), path.join(mailbox, into, final));
  return path.join(mailbox, into, final);
}

describe('IDLE with the maildir watcher', () => {
  it('pushes EXISTS and RECENT at once for a delivery into new/, and the message is there to FETCH', async () => {
    const e = await setup();
    const user = 'alice@brokkr.net';
    const w = await client(e, user);
    await w.ok('SELECT INBOX');
    await idle(w);
    await put(maildirOf(e.vmail, user), 'live');
    expect(await lines(w, 2, 'EXISTS and RECENT')).toEqual(['* 1 EXISTS', '* 1 RECENT']);
    expect(await done(w)).toEqual(['i1 OK Idle completed.']);
    const f = await w.ok('FETCH 1 (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])');
    expect(f.untagged[0]).toMatch(/^\* 1 FETCH \(FLAGS \(\\Recent\) BODY\[HEADER\.FIELDS \(SUBJECT\)\] \{\d+\}\r\nSubject: live\r\n\r\n\)$/);
  });

  it('pushes exactly the changes another program makes in cur/: a delivery with flags, a flag rename, an unlink', async () => {
    const e = await setup();
    const user = 'bob@brokkr.net';
    const w = await client(e, user);
    await w.ok('SELECT INBOX');
    await idle(w);
    const inbox = maildirOf(e.vmail, user);
    const file = await put(inbox, 'into cur', 'cur', 'S');
    expect(await lines(w, 2, 'EXISTS for a file put into cur/')).toEqual(['* 1 EXISTS', '* 1 RECENT']);
    // Another program changes the flags (renames in cur/).
    const flagged = file.replace(/:2,S$/, ':2,FS');
    await fs.rename(file, flagged);
    expect(await lines(w, 1, 'FETCH FLAGS after a rename')).toEqual(['* 1 FETCH (FLAGS (\\Flagged \\Seen \\Recent))']);
    // ... and deletes it.
    await fs.unlink(flagged);
    // RECENT again because it changed (as Dovecot does).
    expect(await lines(w, 2, 'EXPUNGE after an unlink')).toEqual(['* 1 EXPUNGE', '* 0 RECENT']);
    await new Promise((r) => setTimeout(r, 300));
    expect(w.drain()).toEqual([]); // nothing else
    expect(await done(w)).toEqual(['i1 OK Idle completed.']);
  });

  it("keeps watching cur/ around Roost's own STORE on hundreds of messages: another program's renames during and after it reach the idler", async () => {
    const e = await setup();
    const user = 'bulk@brokkr.net';
    const inbox = maildirOf(e.vmail, user);
    for (const sub of ['tmp', 'new', 'cur']) await fs.mkdir(path.join(inbox, sub), { recursive: true });
    const names: string[] = [];
    for (let i = 0; i < 400; i++) names.push(await put(inbox, `bulk ${i}`, 'cur', ''));
    const idler = await client(e, user);
    await idler.ok('SELECT INBOX');
    const storer = await client(e, user);
    await storer.ok('SELECT INBOX');
    const seqOf = async (subject: string): Promise<number> => Number((await storer.ok(`SEARCH SUBJECT "${subject}"`)).untagged[0]!.split(' ')[2]);
    const last = await seqOf('bulk 399');
    const firstSeq = await seqOf('bulk 0');
    const others = [last > 1 ? `1:${last - 1}` : '', last < 400 ? `${last + 1}:400` : ''].filter(Boolean).join(',');
    await idle(idler);
    // Roost renames 399 files (a bulk change: the watcher pauses cur/) while another program
    // flags the remaining message, then marks the first one \\Draft after the STORE.
    const store = storer.ok(`STORE ${others} +FLAGS.SILENT (\\Seen)`);
    await fs.rename(names[399]!, names[399]!.replace(/:2,$/, ':2,F'));
    await store;
    await e.server.watcher.settled(); // the sync after the bulk change is over: only the watch can tell what follows
    const base0 = path.basename(names[0]!).split(':')[0]!;
    const [first] = (await fs.readdir(path.join(inbox, 'cur'))).filter((n) => n.split(':')[0] === base0);
    await fs.rename(path.join(inbox, 'cur', first!), path.join(inbox, 'cur', first!.replace(/:2,S$/, ':2,DS')));
    // The idler took \\Recent for all 400 when it selected first.
    const got = await lines(idler, 401, 'the STORE, the flag set during it and the one after');
    expect(got.filter((l) => !l.includes('FETCH'))).toEqual([]);
    expect(got).toContain(`* ${last} FETCH (FLAGS (\\Flagged \\Recent))`);
    expect(got[got.length - 1]).toBe(`* ${firstSeq} FETCH (FLAGS (\\Draft \\Seen \\Recent))`);
    expect(new Set(got.filter((l) => l.includes('\\Seen')).map((l) => l.split(' ')[1])).size).toBe(399);
  });

  it('keeps watching new/ around the first SELECT that moves hundreds of files to cur/: deliveries during and after it reach the idler', async () => {
    const e = await setup();
    const user = 'mover@brokkr.net';
    const inbox = maildirOf(e.vmail, user);
    for (const sub of ['tmp', 'new', 'cur']) await fs.mkdir(path.join(inbox, sub), { recursive: true });
    for (let i = 0; i < 400; i++) await put(inbox, `waiting ${i}`);
    // A read-only idler leaves new/ alone; the other session's SELECT moves all 400 (a bulk
    // change: the watcher pauses new/ and cur/ meanwhile) while a delivery lands.
    const idler = await client(e, user);
    await idler.ok('EXAMINE INBOX');
    await idle(idler);
    const mover = await client(e, user);
    const select = mover.ok('SELECT INBOX');
    await put(inbox, 'during the moves');
    await select;
    // (\\Recent of the newcomer goes to whichever session's sync sees it first.)
    const during = await lines(idler, 2, 'EXISTS for the delivery during the SELECT');
    expect(during[0]).toBe('* 401 EXISTS');
    expect(during[1]).toMatch(/^\* 40[01] RECENT$/);
    expect(fsSync.readdirSync(path.join(inbox, 'new')).length).toBeLessThanOrEqual(1);
    await e.server.watcher.settled(); // the sync after the bulk change is over: only the watch can tell what follows
    await put(inbox, 'after the moves');
    const after = await lines(idler, 2, 'EXISTS for the delivery after the SELECT');
    expect(after[0]).toBe('* 402 EXISTS');
    expect(after[1]).toMatch(/^\* 40[0-2] RECENT$/);
    await done(idler);
  });

  it('shows a read-only (EXAMINE) idler a file another program moves from new/ to cur/ with flags', async () => {
    const e = await setup();
    const user = 'carol@brokkr.net';
    const w = await client(e, user);
    await w.ok('EXAMINE INBOX');
    await idle(w);
    const inbox = maildirOf(e.vmail, user);
    const file = await put(inbox, 'stays in new');
    // EXAMINE takes no \Recent, but shows it (like Dovecot's EXAMINE).
    expect(await lines(w, 2, 'EXISTS')).toEqual(['* 1 EXISTS', '* 1 RECENT']);
    expect(fsSync.existsSync(file)).toBe(true); // a read-only session leaves new/ alone
    await fs.rename(file, path.join(inbox, 'cur', path.basename(file) + ':2,RS'));
    expect(await lines(w, 1, 'FETCH FLAGS after the move to cur/')).toEqual(['* 1 FETCH (FLAGS (\\Answered \\Seen \\Recent))']);
    await done(w);
  });

  it('tells a session that is not idling at its next command, and one IDLE client per mailbox only', async () => {
    const e = await setup();
    const user = 'dave@brokkr.net';
    const a = await client(e, user);
    const b = await client(e, user);
    await a.ok('SELECT INBOX');
    await b.ok('SELECT Trash');
    await idle(b);
    await put(maildirOf(e.vmail, user), 'for a');
    await e.server.watcher.settled();
    // b idles on another mailbox: nothing for it.
    await new Promise((r) => setTimeout(r, 200));
    expect(b.drain()).toEqual([]);
    const r = await a.ok('NOOP');
    expect(r.untagged).toEqual(['* 1 EXISTS', '* 1 RECENT']);
    await done(b);
  });

  it('expunges everything for a session whose folder is deleted or renamed by hand, and LIST follows', async () => {
    const e = await setup();
    const user = 'erin@brokkr.net';
    const w = await client(e, user);
    await w.ok('CREATE Projects');
    await w.ok(`APPEND Projects {${text('one').length}+}\r\n${text('one')}`);
    await w.ok(`APPEND Projects {${text('two').length}+}\r\n${text('two')}`);
    await w.ok('SELECT Projects');
    await idle(w);
    const root = maildirOf(e.vmail, user);
    await fs.rename(path.join(root, '.Projects'), path.join(root, '.Archive'));
    expect(await lines(w, 2, 'EXPUNGEs after the folder went away')).toEqual(['* 2 EXPUNGE', '* 1 EXPUNGE']);
    await done(w);
    const list = await w.ok('LIST "" "*"');
    expect(list.untagged.some((l) => l.endsWith(' Archive'))).toBe(true);
    expect(list.untagged.some((l) => l.endsWith(' Projects'))).toBe(false);
    // A folder made by hand is selectable at once, and deliveries into it reach an IDLE client.
    await fs.mkdir(path.join(root, '.Hand', 'tmp'), { recursive: true });
    await fs.mkdir(path.join(root, '.Hand', 'new'));
    await fs.mkdir(path.join(root, '.Hand', 'cur'));
    await w.ok('SELECT Hand');
    await idle(w);
    await put(path.join(root, '.Hand'), 'by hand');
    expect(await lines(w, 2, 'EXISTS in the folder made by hand')).toEqual(['* 1 EXISTS', '* 1 RECENT']);
    await done(w);
  });

  it('pushes flag changes and expunges a real Dovecot makes on the same maildir', async (ctx) => {
    const why = dovecotUnavailableReason();
    if (why) {
      console.log(`skipped: ${why}`);
      ctx.skip(why);
    }
    const e = await setup();
    e.dovecot = await startDovecot({ vmail: e.vmail, password: PW });
    const user = 'frank@brokkr.net';
    const w = await client(e, user);
    await w.ok(`APPEND INBOX {${text('one').length}+}\r\n${text('one')}`);
    await w.ok(`APPEND INBOX {${text('two').length}+}\r\n${text('two')}`);
    await w.ok('SELECT INBOX');
    await idle(w);
    const d = await client(e, user, e.dovecot.port);
    await d.ok('SELECT INBOX');
    await d.ok('STORE 1 +FLAGS (\\Flagged)');
    // (This session's own APPENDs are \Recent to it.)
    expect(await lines(w, 1, 'FETCH FLAGS after Dovecot STORE')).toEqual(['* 1 FETCH (FLAGS (\\Flagged \\Recent))']);
    await d.ok('STORE 2 +FLAGS (\\Deleted)');
    expect(await lines(w, 1, 'FETCH FLAGS after Dovecot STORE \\Deleted')).toEqual(['* 2 FETCH (FLAGS (\\Deleted \\Recent))']);
    await d.ok('EXPUNGE');
    expect(await lines(w, 2, 'EXPUNGE after Dovecot EXPUNGE')).toEqual(['* 2 EXPUNGE', '* 1 RECENT']);
    // Dovecot saves a message (APPEND): for Roost it arrived from outside.
    await d.ok(`APPEND INBOX {${text('via dovecot').length}+}\r\n${text('via dovecot')}`);
    const got = await lines(w, 2, 'EXISTS after Dovecot APPEND');
    expect(got[0]).toBe('* 2 EXISTS');
    await done(w);
    const uids = await w.ok('UID FETCH 1:* (UID)');
    expect(uids.untagged).toEqual(['* 1 FETCH (UID 1)', '* 2 FETCH (UID 3)']);
  });
});
