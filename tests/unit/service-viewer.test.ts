// The API's viewer and test-message methods: the form checks every params object gets (api-validate),
// and the service half (electron/service/viewer.ts) with a stand-in supervisor: errors in plain words
// with stable codes, downloads as bytes, a local drop while the server is stopped, sendTest refused
// while stopped, and a relay that refuses the connection reported (not thrown) with both sides.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ApiCallError, validateParams } from '../../electron/shared/api-validate.js';
import { defaultSettings } from '../../electron/shared/settings.js';
import { ViewerService, safeFilename } from '../../electron/service/viewer.js';
import { SupervisorError, type Supervisor } from '../../electron/supervisor/supervisor.js';

const code = (fn: () => unknown): string | undefined => {
  try {
    fn();
    return undefined;
  } catch (e) {
    return (e as ApiCallError).code;
  }
};

describe('api validation of the viewer and test-message methods', () => {
  it('accepts well-formed params and returns fresh objects', () => {
    expect(validateParams('viewerTree', undefined)).toBeUndefined();
    expect(validateParams('viewerPage', { user: 'alice@brokkr.net', mailbox: 'INBOX', offset: 0, limit: 100, query: { from: 'bob' } }))
      .toEqual({ user: 'alice@brokkr.net', mailbox: 'INBOX', offset: 0, limit: 100, query: { from: 'bob' } });
    // "All fields": the same word for each field, any of them matching.
    expect(validateParams('viewerPage', { user: 'a@b', mailbox: 'INBOX', offset: 0, limit: 10, query: { from: 'x', subject: 'x', text: 'x', match: 'any' } }).query)
      .toEqual({ from: 'x', subject: 'x', text: 'x', match: 'any' });
    expect(validateParams('viewerMessage', { user: 'a@b', mailbox: 'Archive.2024', uid: 7, markSeen: true })).toEqual({ user: 'a@b', mailbox: 'Archive.2024', uid: 7, markSeen: true });
    expect(validateParams('viewerAction', { user: 'a@b', mailbox: 'INBOX', uids: [1, 2], change: { action: 'move', target: 'Archive' } }).change).toEqual({ action: 'move', target: 'Archive' });
    expect(validateParams('viewerAction', { user: 'a@b', mailbox: 'INBOX', uids: [1], change: { action: 'delete', mode: 'trash' } }).change).toEqual({ action: 'delete', mode: 'trash' });
    expect(validateParams('viewerSave', { user: 'a@b', mailbox: 'INBOX', uid: 3, part: '1.2' })).toEqual({ user: 'a@b', mailbox: 'INBOX', uid: 3, part: '1.2' });
    expect(validateParams('localDrop', { to: 'alice@brokkr.net' })).toEqual({ to: 'alice@brokkr.net' });
    expect(validateParams('sendTest', { host: '127.0.0.1', port: 25, to: 'alice@brokkr.net', timeoutMs: 30_000, from: 'Bob <bob@example.org>' }))
      .toEqual({ host: '127.0.0.1', port: 25, to: 'alice@brokkr.net', timeoutMs: 30_000, from: 'Bob <bob@example.org>' });
  });

  it('refuses malformed params with INVALID', () => {
    const bad: Array<[string, unknown]> = [
      ['viewerPage', { user: 'a@b', mailbox: 'INBOX', offset: -1, limit: 10 }],
      ['viewerPage', { user: 'a@b', mailbox: 'INBOX', offset: 0, limit: 5000 }],
      ['viewerPage', { user: 'a@b', mailbox: 'INBOX', offset: 0, limit: 10, query: { body: 'x' } }],
      ['viewerPage', { user: 'a@b', mailbox: 'INBOX', offset: 0, limit: 10, query: { from: 'x', match: 'either' } }],
      ['viewerPage', { user: '', mailbox: 'INBOX', offset: 0, limit: 10 }],
      ['viewerMessage', { user: 'a@b', mailbox: 'INBOX', uid: 0 }],
      ['viewerMessage', { user: 'a@b', mailbox: 'IN\u0000BOX', uid: 1 }],
      ['viewerMessage', { user: 'a@b', mailbox: 'INBOX', uid: 1, extra: 1 }],
      ['viewerAction', { user: 'a@b', mailbox: 'INBOX', uids: [], change: { action: 'seen', seen: true } }],
      ['viewerAction', { user: 'a@b', mailbox: 'INBOX', uids: [1.5], change: { action: 'seen', seen: true } }],
      ['viewerAction', { user: 'a@b', mailbox: 'INBOX', uids: [1], change: { action: 'delete', mode: 'shred' } }],
      ['viewerAction', { user: 'a@b', mailbox: 'INBOX', uids: [1], change: { action: 'rm -rf' } }],
      ['viewerAction', { user: 'a@b', mailbox: 'INBOX', uids: [1], change: { action: 'seen', seen: 'yes' } }],
      ['viewerSave', { user: 'a@b', mailbox: 'INBOX', uid: 1, part: '../etc/passwd' }],
      ['localDrop', { to: 'not an address' }],
      ['sendTest', { host: 'evil host;', port: 25, to: 'a@b', timeoutMs: 5000 }],
      ['sendTest', { host: '127.0.0.1', port: 0, to: 'a@b', timeoutMs: 5000 }],
      ['sendTest', { host: '127.0.0.1', port: 25, to: 'a@b', timeoutMs: 10 * 60_000 }],
    ];
    for (const [method, params] of bad) expect(code(() => validateParams(method, params)), `${method} ${JSON.stringify(params)}`).toBe('INVALID');
  });
});

describe('ViewerService', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'roost-service-viewer-'));
  const vmail = path.join(tmp, 'vmail');
  const settings = { ...defaultSettings(vmail, 'pw'), mail_home: `${vmail}/%d/%n`, mail_location: 'maildir:~/maildir' };
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  const service = (viewer: (req: { op: string }) => Promise<unknown>, running = true): ViewerService => new ViewerService({
    supervisor: { viewer } as unknown as Supervisor,
    runningSettings: () => (running ? settings : undefined),
    effectiveSettings: () => settings,
    onServerEvent: () => () => undefined,
  });

  it('turns worker errors into stable codes and plain words', async () => {
    const fail = (e: Error) => service(() => Promise.reject(e)).request({ op: 'message', user: 'a@b', mailbox: 'INBOX', uid: 9 });
    await expect(fail(new SupervisorError('NOT_RUNNING', 'the server is not running'))).rejects.toMatchObject({ code: 'NOT_RUNNING', message: expect.stringContaining('start it') });
    await expect(fail(new SupervisorError('REQUEST_FAILED', 'no message with uid 9 in INBOX', 'VIEWER_NO_MESSAGE'))).rejects.toMatchObject({ code: 'NO_MESSAGE' });
    await expect(fail(new SupervisorError('REQUEST_FAILED', 'Mailbox does not exist', 'NONEXISTENT'))).rejects.toMatchObject({ code: 'NO_MAILBOX' });
  });

  it('downloads an attachment as bytes with a safe file name, and a whole message as .eml', async () => {
    const s = service(async (req) => (req.op === 'attachment'
      ? { part: '2', filename: '../../etc/pass"wd', contentType: 'application/pdf', data: new Uint8Array([1, 2, 3]) }
      : { uid: 5, source: 'Subject: é\n\nbody\n', returnedBytes: Buffer.byteLength('Subject: é\n\nbody\n'), totalBytes: 18, truncated: false }));
    const a = await s.download({ user: 'a@b', mailbox: 'INBOX', uid: 5, part: '2' });
    expect(a.filename).toBe('_.._etc_pass_wd');
    expect([...a.data]).toEqual([1, 2, 3]);
    const m = await s.download({ user: 'a@b', mailbox: 'INBOX', uid: 5 });
    expect(m.filename).toBe('message-5.eml');
    expect(Buffer.from(m.data).toString('utf8')).toBe('Subject: é\n\nbody\n');
    expect(safeFilename('', 'part-1')).toBe('part-1');
    // Without a save dialog (the browser), viewerSave says so and the page uses the download route.
    expect(await s.save({ user: 'a@b', mailbox: 'INBOX', uid: 5 })).toEqual({ saved: false });
  });

  it('drops a message into the maildir while the server is stopped, and says when clients will see it', async () => {
    const r = await service(() => Promise.reject(new Error('unused')), false).localDrop({ to: 'alice@brokkr.net' });
    expect(r.path.startsWith(path.join(vmail, 'brokkr.net', 'alice', 'maildir', 'new') + path.sep)).toBe(true);
    expect(fs.readFileSync(r.path, 'utf8')).toContain(`X-Roost-Test: ${r.token}`);
    expect(r.delivered).toBeUndefined();
    expect(r.note).toMatch(/not running/);
  });

  it('refuses the relay test while the server is stopped, and reports a refused connection with both sides', async () => {
    await expect(service(async () => null, false).sendTest({ host: '127.0.0.1', port: 25, to: 'alice@brokkr.net', timeoutMs: 2000 }))
      .rejects.toMatchObject({ code: 'NOT_RUNNING' });
    const port = await new Promise<number>((resolve) => {
      const s = net.createServer();
      s.listen(0, '127.0.0.1', () => { const p = (s.address() as net.AddressInfo).port; s.close(() => resolve(p)); });
    });
    const s = service(async () => null);
    s.rememberPostfix({ virtual_mailbox_base: '/var/vmail' });
    const r = await s.sendTest({ host: '127.0.0.1', port, to: 'alice@brokkr.net', timeoutMs: 2000 });
    expect(r).toMatchObject({ ok: false, stage: 'connect', code: 'ECONNREFUSED' });
    expect(r.sides).toMatchObject({ mailHome: `${vmail}/%d/%n`, postfixBase: '/var/vmail', expectedPath: path.join(vmail, 'brokkr.net', 'alice', 'maildir', 'new') + path.sep });
  });
});
