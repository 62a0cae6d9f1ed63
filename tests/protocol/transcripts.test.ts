// Protocol transcripts against a real Roost server on a real socket: lines in, exact lines out.
// Covers the greeting, state rules, authentication, hostile input and multi-session rules
// (RFC 3501 5.2, 7.4.1) that mail clients rely on.
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import { mkdtemp, rm, mkdir, writeFile, readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ImapWire } from '../helpers/imap-wire.js';
import { startRoost, type RoostInstance } from '../helpers/roost.js';

const PW = 'ThisIsABadPassword';
let vmail: string;
let roost: RoostInstance;
const open: ImapWire[] = [];

async function connect(): Promise<ImapWire> {
  const w = await ImapWire.connect(roost.host, roost.port, { timeoutMs: 5000 });
  open.push(w);
  return w;
}

async function loggedIn(user = 'alice@brokkr.net'): Promise<ImapWire> {
  const w = await connect();
  await w.ok(`LOGIN ${user} ${PW}`);
  return w;
}

function message(subject: string, body = 'Hello\n'): string {
  return `From: Bob <bob@example.org>\nTo: alice@brokkr.net\nSubject: ${subject}\nDate: Mon, 2 Jan 2023 10:00:00 +0000\nMessage-ID: <${subject.replace(/\W/g, '')}@example.org>\n\n${body}`;
}

/** Deliver the Postfix way: write into tmp/, rename into new/. */
async function deliver(user: string, name: string, content: string): Promise<void> {
  const [local, domain] = user.split('@');
  const md = path.join(vmail, domain, local, 'maildir');
  for (const d of ['tmp', 'new', 'cur']) await mkdir(path.join(md, d), { recursive: true });
  const tmp = path.join(md, 'tmp', name);
  await writeFile(tmp, content);
  const { rename } = await import('node:fs/promises');
  await rename(tmp, path.join(md, 'new', name));
}

beforeAll(async () => {
  vmail = await mkdtemp(path.join(os.tmpdir(), 'roost-proto-'));
  roost = await startRoost({ vmail, password: PW });
});

afterAll(async () => {
  await roost?.stop();
  await rm(vmail, { recursive: true, force: true });
});

afterEach(async () => {
  for (const w of open.splice(0)) w.destroy();
});

describe('greeting and capabilities', () => {
  it('greets like Dovecot for the seed setup', async () => {
    const w = await connect();
    expect(w.greeting).toBe('* OK [CAPABILITY IMAP4rev1 SASL-IR ID ENABLE IDLE LITERAL+ AUTH=PLAIN AUTH=LOGIN] Roost ready.');
  });

  it('lists the full capabilities after login, in the tagged OK', async () => {
    const w = await connect();
    const r = await w.run(`a1 LOGIN alice@brokkr.net ${PW}`);
    expect(r.tagged).toBe(
      'a1 OK [CAPABILITY IMAP4rev1 SASL-IR ID ENABLE IDLE LITERAL+ NAMESPACE UNSELECT UIDPLUS MOVE CHILDREN SPECIAL-USE] Logged in',
    );
  });
});

describe('state rules', () => {
  it('refuses selected-state commands before login and before SELECT', async () => {
    const w = await connect();
    expect((await w.run('a FETCH 1 FLAGS')).tagged).toBe('a BAD Command FETCH not allowed before authentication.');
    expect((await w.run('b SELECT INBOX')).tagged).toBe('b BAD Command SELECT not allowed before authentication.');
    await w.ok(`LOGIN alice@brokkr.net ${PW}`);
    expect((await w.run('c FETCH 1 FLAGS')).tagged).toBe('c BAD No mailbox selected.');
    expect((await w.run('d LOGIN x y')).tagged).toBe('d BAD Already logged in.');
  });

  it('answers unknown commands and garbage with BAD and keeps serving', async () => {
    const w = await connect();
    expect((await w.run('a FROBNICATE')).tagged).toBe('a BAD Unknown command.');
    w.send('\x00\x01\x02garbage\r\n');
    expect(await w.readLine()).toMatch(/^\* BAD /);
    const r = await w.run('b NOOP');
    expect(r.tagged).toBe('b OK NOOP completed.');
  });
});

describe('authentication', () => {
  it('refuses a wrong password with AUTHENTICATIONFAILED and logs without the password', async () => {
    const w = await connect();
    const r = await w.run('a LOGIN alice@brokkr.net WrongPassword');
    expect(r.tagged).toBe('a NO [AUTHENTICATIONFAILED] Authentication failed.');
    w.destroy();
    await waitFor(() => roost.events.some((e) => e.type === 'log' && /\(auth failed, 1 attempts in \d+ secs\): user=<alice@brokkr.net>, method=PLAIN/.test(e.record.message)));
    const logs = roost.events.filter((e) => e.type === 'log').map((e) => (e.type === 'log' ? e.record.message : ''));
    expect(logs.join('\n')).not.toContain('WrongPassword');
    expect(logs.join('\n')).not.toContain(PW);
  });

  it('accepts AUTHENTICATE PLAIN with SASL-IR and as a continuation', async () => {
    const token = Buffer.from(`\0alice@brokkr.net\0${PW}`).toString('base64');
    const w = await connect();
    expect((await w.run(`a AUTHENTICATE PLAIN ${token}`)).status).toBe('OK');
    const w2 = await connect();
    w2.sendLine('b AUTHENTICATE PLAIN');
    expect((await w2.waitContinuation()).line).toBe('+ ');
    w2.sendLine(token);
    expect(await w2.readLine()).toMatch(/^b OK \[CAPABILITY .*\] Logged in$/);
  });

  it('accepts AUTHENTICATE LOGIN and a client cancel with *', async () => {
    const w = await connect();
    w.sendLine('a AUTHENTICATE LOGIN');
    expect((await w.waitContinuation()).line).toBe('+ VXNlcm5hbWU6');
    w.sendLine(Buffer.from('alice@brokkr.net').toString('base64'));
    expect((await w.waitContinuation()).line).toBe('+ UGFzc3dvcmQ6');
    w.sendLine(Buffer.from(PW).toString('base64'));
    expect(await w.readLine()).toMatch(/^a OK /);
    const w2 = await connect();
    w2.sendLine('b AUTHENTICATE PLAIN');
    await w2.waitContinuation();
    w2.sendLine('*');
    expect(await w2.readLine()).toMatch(/^b BAD /);
  });

  it('refuses user names that would leave the vmail base', async () => {
    for (const user of ['../../etc@x', 'a/b@c', '@brokkr.net', 'alice@', '..@brokkr.net', '"al\\"ice@x"', 'a'.repeat(300) + '@x']) {
      const w = await connect();
      const r = await w.run(`a LOGIN ${user.startsWith('"') ? user : `"${user}"`} ${PW}`);
      expect(r.tagged, user).toBe('a NO [AUTHENTICATIONFAILED] Authentication failed.');
      w.destroy();
    }
    const entries = await readdir(vmail);
    expect(entries.filter((e) => e !== 'brokkr.net' && e !== 'example.org')).toEqual([]);
  });
});

describe('hostile input', () => {
  it('answers each malformed command with BAD and a reason', async () => {
    const w = await loggedIn();
    await w.ok('SELECT INBOX');
    const cases: Array<[string, RegExp]> = [
      ['FETCH 1:*:* FLAGS', /BAD .*sequence set/i],
      ['FETCH 4294967296 FLAGS', /BAD .*(too large|sequence set)/i],
      ['FETCH 0 FLAGS', /BAD /],
      ['SEARCH ' + 'NOT '.repeat(500) + 'ALL', /BAD .*(deep|nesting)/i],
      ['SELECT "&Jjo"', /BAD .*mUTF-7/],
      ['FETCH 1 (BODY[1.2.FOO])', /BAD /],
      ['STORE 1 FLAGS (\\Bogus)', /BAD /],
      ['UID FROB 1', /BAD /],
    ];
    for (const [cmd, re] of cases) {
      const r = await w.run(cmd);
      expect(r.tagged, cmd).toMatch(re);
    }
  });

  it('survives an over-long line and a huge literal announcement, and keeps serving', async () => {
    const w = await loggedIn();
    w.send('a1 NOOP ' + 'x'.repeat(70 * 1024) + '\r\n');
    expect(await w.readLine()).toMatch(/^a1 BAD \[TOOBIG\] Command line too long/);
    w.send('a2 APPEND INBOX {4000000000}\r\n');
    expect(await w.readLine()).toMatch(/^a2 BAD \[TOOBIG\] Literal too large/);
    expect((await w.run('a3 NOOP')).status).toBe('OK');
  });

  it('keeps serving other clients while one sends garbage', async () => {
    const bad = await connect();
    bad.send(Buffer.from([0xff, 0xfe, 0x00, 0x0d, 0x0a, 0x7b, 0x39, 0x39, 0x39, 0x7d, 0x0d, 0x0a]));
    const good = await loggedIn();
    expect((await good.run('a LIST "" INBOX')).status).toBe('OK');
  });

  it('closes after 20 invalid commands in a row, like Dovecot', async () => {
    const w = await connect();
    for (let i = 0; i < 19; i++) await w.run(`x${i} BOGUS`);
    w.sendLine('y BOGUS');
    expect(await w.readLine()).toBe('y BAD Unknown command.');
    expect(await w.readLine()).toBe('* BYE Too many invalid IMAP commands.');
    await w.waitClosed();
  });

  it('frames a command sent one byte at a time', async () => {
    const w = await connect();
    const bytes = Buffer.from(`a LOGIN {16}\r\n`);
    for (const b of bytes) {
      w.send(Buffer.from([b]));
      await new Promise((r) => setImmediate(r));
    }
    expect((await w.waitContinuation()).line).toBe('+ OK');
    for (const b of Buffer.from(`alice@brokkr.net "${PW}"\r\n`)) w.send(Buffer.from([b]));
    expect(await w.readLine()).toMatch(/^a OK /);
  });
});

describe('several sessions on one mailbox', () => {
  it('gives \\Recent to exactly one session and shows new mail on NOOP', async () => {
    const user = `carol${Date.now()}@brokkr.net`;
    await deliver(user, '1700000000.M1P1.host', message('first'));
    const a = await loggedIn(user);
    const b = await loggedIn(user);
    const ra = await a.run('SELECT INBOX');
    expect(ra.untagged).toContain('* 1 RECENT');
    const rb = await b.run('SELECT INBOX');
    expect(rb.untagged).toContain('* 0 RECENT');
    await deliver(user, '1700000001.M2P1.host', message('second'));
    const na = await a.run('NOOP');
    const nb = await b.run('NOOP');
    const recentA = na.untagged.find((l) => l.endsWith('RECENT'));
    const recentB = nb.untagged.find((l) => l.endsWith('RECENT'));
    expect(na.untagged).toContain('* 2 EXISTS');
    expect(nb.untagged).toContain('* 2 EXISTS');
    const total = [recentA, recentB].map((l) => Number(l?.split(' ')[1] ?? 0));
    // Session a had 1 recent and gets the new one too, or b gets it: together exactly 2.
    expect(total[0] + total[1]).toBe(2);
  });

  it('never sends EXPUNGE during FETCH, STORE or SEARCH, and does after NOOP', async () => {
    const user = `dave${Date.now()}@brokkr.net`;
    for (let i = 1; i <= 3; i++) await deliver(user, `17000000${i}0.M${i}P1.host`, message(`m${i}`));
    const a = await loggedIn(user);
    const b = await loggedIn(user);
    await a.ok('SELECT INBOX');
    await b.ok('SELECT INBOX');
    await b.ok('STORE 2 +FLAGS.SILENT (\\Deleted)');
    await b.ok('EXPUNGE');
    for (const cmd of ['FETCH 1:3 (FLAGS)', 'STORE 3 +FLAGS (\\Flagged)', 'SEARCH ALL']) {
      const r = await a.run(cmd);
      expect(r.status, cmd).toBe('OK');
      expect(r.untagged.some((l) => /EXPUNGE/.test(l)), cmd).toBe(false);
    }
    const n = await a.run('NOOP');
    expect(n.untagged).toContain('* 2 EXPUNGE');
  });

  it('never loses flags set by two sessions at once', async () => {
    const user = `erin${Date.now()}@brokkr.net`;
    await deliver(user, '1700000000.M1P1.host', message('flags'));
    const a = await loggedIn(user);
    const b = await loggedIn(user);
    await a.ok('SELECT INBOX');
    await b.ok('SELECT INBOX');
    await Promise.all([a.ok('STORE 1 +FLAGS (\\Flagged)'), b.ok('STORE 1 +FLAGS (\\Answered)'), a.ok('STORE 1 +FLAGS (Work)'), b.ok('STORE 1 +FLAGS (\\Seen)')]);
    const r = await a.run('FETCH 1 FLAGS');
    const flags = /FLAGS \(([^)]*)\)/.exec(r.untagged.join('\n'))![1].split(' ');
    expect(flags).toEqual(expect.arrayContaining(['\\Flagged', '\\Answered', 'Work', '\\Seen']));
  });

  it('pushes new mail to an IDLE client at once', async () => {
    const user = `frank${Date.now()}@brokkr.net`;
    const a = await loggedIn(user);
    const b = await loggedIn(user);
    await a.ok('SELECT INBOX');
    a.sendLine('i1 IDLE');
    await a.waitContinuation();
    await b.ok(`APPEND INBOX {${Buffer.byteLength(message('pushed'))}+}\r\n${message('pushed')}`);
    const lines = await a.readUntil((l) => l === '* 1 EXISTS', 3000, 'EXISTS pushed during IDLE');
    expect(lines).toContain('* 1 EXISTS');
    a.sendLine('DONE');
    const rest = await a.readUntil((l) => l.startsWith('i1 '), 3000, 'IDLE completion');
    expect(rest[rest.length - 1]).toBe('i1 OK Idle completed.');
  });
});

async function waitFor(pred: () => boolean, ms = 3000): Promise<void> {
  const until = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('RENAME INBOX (RFC 3501 6.3.5)', () => {
  it('moves every message to the new mailbox and leaves INBOX empty', async () => {
    const user = `gina${Date.now()}@brokkr.net`;
    await deliver(user, '1700000000.M1P1.host', message('one'));
    await deliver(user, '1700000001.M2P1.host', message('two'));
    const w = await loggedIn(user);
    expect((await w.run('RENAME INBOX "Old Inbox"')).status).toBe('OK');
    const inbox = await w.run('STATUS INBOX (MESSAGES)');
    expect(inbox.untagged).toContain('* STATUS INBOX (MESSAGES 0)');
    const old = await w.run('STATUS "Old Inbox" (MESSAGES)');
    expect(old.untagged).toContain('* STATUS "Old Inbox" (MESSAGES 2)');
  });
});

describe('disable_plaintext_auth = yes (the default)', () => {
  it('allows same-host logins but refuses plaintext from another address, advertising LOGINDISABLED', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'roost-plain-'));
    const strict = await startRoost({ vmail: dir, password: PW, settings: { disable_plaintext_auth: true } });
    try {
      // 127.0.0.1 -> 127.0.0.1: remote IP = local IP, secure like Dovecot.
      const same = await ImapWire.connect(strict.host, strict.port);
      open.push(same);
      expect(same.greeting).toContain('AUTH=PLAIN');
      expect((await same.run(`a LOGIN alice@brokkr.net ${PW}`)).status).toBe('OK');

      // 127.0.0.2 -> 127.0.0.1: not secure; the password must not be accepted in clear.
      const { default: net } = await import('node:net');
      const sock = net.connect({ host: strict.host, port: strict.port, localAddress: '127.0.0.2' });
      let got = '';
      sock.on('data', (d) => (got += d.toString('latin1')));
      await waitFor(() => got.includes('\r\n'));
      expect(got).toBe('* OK [CAPABILITY IMAP4rev1 SASL-IR ID ENABLE IDLE LITERAL+ LOGINDISABLED] Roost ready.\r\n');
      sock.write(`b LOGIN alice@brokkr.net ${PW}\r\n`);
      await waitFor(() => got.includes('b NO'));
      expect(got).toContain('* BAD [ALERT] Plaintext authentication not allowed without SSL/TLS');
      expect(got).toContain('b NO [PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.');
      sock.destroy();
      await waitFor(() =>
        strict.events.some((e) => e.type === 'log' && e.record.message.includes('(tried to use disallowed plaintext auth): user=<alice@brokkr.net>')),
      );
    } finally {
      await strict.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
