// DEV ONLY (`VITE_ROOST_MOCK=1 npx vite --config renderer/vite.config.ts`): a fake window.roost so the
// UI can be worked on without the app service. Never imported by the production build (main.ts
// guards it with import.meta.env.DEV) and never used by the tests, which run the real server.
import type { ApiEvent, ApiMethod, ApiParams, ApiResult, AppSettings, ServerStatus, SessionInfo, ActivityEntry, RoostBridge } from '../../electron/shared/api';
import type { LogRecord } from '../../electron/shared/events';

export function installMockBridge(): void {
  const listeners = new Set<(e: ApiEvent) => void>();
  const emit = (e: ApiEvent): void => { for (const l of listeners) l(e); };
  let settings: AppSettings = {
    vmail: '/var/vmail', mail_home: '', mail_location: 'maildir:~/maildir', password: 'ThisIsABadPassword',
    auth_mechanisms: ['plain', 'login'], disable_plaintext_auth: false, uid: '', gid: '', first_valid_uid: 500,
    listen: '127.0.0.1', port: 1143, startWithRoost: true, notifications: true,
  };
  let status: ServerStatus = { state: 'stopped', connections: 0, restarts: 0, since: Date.now() };
  const sessions: SessionInfo[] = [];
  const activity: ActivityEntry[] = [];
  const log: LogRecord[] = [{ level: 'info', service: 'master', message: 'Roost v0.1.0 starting up for imap', time: Date.now() }];
  let firstRun = new URLSearchParams(location.search).has('first');

  const validate = (s: AppSettings): ApiResult<'validateSettings'> => {
    const errors: { field: keyof AppSettings | 'general'; message: string }[] = [];
    if (!s.vmail.startsWith('/')) errors.push({ field: 'vmail', message: 'The vmail base must be an absolute path, e.g. /var/vmail.' });
    if (s.mail_home && !/%[dnu]/.test(s.mail_home)) errors.push({ field: 'mail_home', message: 'mail_home has no %d, %n or %u: every user would share one maildir.' });
    if (!s.password) errors.push({ field: 'password', message: 'Choose a password (or generate one).' });
    if (!Number.isInteger(s.port) || s.port < 1 || s.port > 65535) errors.push({ field: 'port', message: 'The port must be a number from 1 to 65535.' });
    const warnings = s.listen !== '127.0.0.1' ? [{ field: 'listen' as const, message: 'Listening on the network with plaintext passwords.' }] : [];
    const home = (s.mail_home || `${s.vmail}/%d/%n`).replace('%d', 'brokkr.net').replace('%n', 'alice');
    return {
      ok: !errors.length, errors, warnings,
      doveconf: errors.length ? undefined : `auth_mechanisms = ${s.auth_mechanisms.join(' ')}\ndisable_plaintext_auth = ${s.disable_plaintext_auth ? 'yes' : 'no'}\nfirst_valid_uid = ${s.first_valid_uid}\nlisten = ${s.listen}\nmail_home = ${s.mail_home || `${s.vmail}/%d/%n`}\nmail_location = ${s.mail_location}\npassdb {\n  args = password=<hidden>\n  driver = static\n}\nprotocols = imap\nservice imap-login {\n  inet_listener imap {\n    port = ${s.port}\n  }\n}\nuserdb {\n  driver = static\n}\n`,
      preview: errors.length ? undefined : { user: 'alice@brokkr.net', path: `${home}/${s.mail_location.replace(/^maildir:~\/?/, '')}/` },
    };
  };

  const MOCK_TOTAL = 100_000;
  const mockFolders = () => [
    { name: 'INBOX', messages: MOCK_TOTAL, unseen: 33_334, uidValidity: 1, uidNext: MOCK_TOTAL + 1 },
    { name: 'Trash', specialUse: '\\Trash', messages: 0, unseen: 0, uidValidity: 2, uidNext: 1 },
  ];

  const handlers: { [M in ApiMethod]: (p: ApiParams<M>) => ApiResult<M> } = {
    appInfo: () => ({ version: '0.1.0', mode: 'browser', platform: 'linux', dataDir: '/home/me/.local/share/roost', logFile: '/home/me/.local/share/roost/logs/roost.log', firstRun }),
    getSettings: () => settings,
    validateSettings: (p) => validate(p.settings),
    saveSettings: (p) => { settings = p.settings; firstRun = false; emit({ type: 'settings', settings }); return { settings, restartNeeded: status.state === 'running' }; },
    generatePassword: () => ({ password: Math.random().toString(36).slice(2, 14) }),
    checkPath: (p) => p.path === '/var/vmail' || p.path === '/tmp'
      ? { path: p.path, exists: true, isDirectory: true, readable: true, writable: true, uid: 5000, gid: 5000, ownerName: 'vmail' }
      : { path: p.path, exists: false, isDirectory: false, readable: false, writable: false, problem: `${p.path} does not exist. Create it, or choose the folder Postfix delivers to.` },
    checkPort: (p) => p.port < 1024
      ? { ...p, status: 'needs-privileges', message: `Port ${p.port} needs administrator rights.`, suggestion: 1143 }
      : { ...p, status: 'free', message: `Port ${p.port} is free.` },
    importPostfix: (p) => ({
      file: `${p.dir}/main.cf`, virtual_mailbox_base: '/var/vmail', virtual_mailbox_maps: 'hash:/etc/postfix/vmailbox', virtual_uid_maps: 'static:5000', virtual_gid_maps: 'static:5000',
      proposal: { vmail: '/var/vmail', mail_home: '/var/vmail/%d/%n', mail_location: 'maildir:~/maildir', uid: '5000', gid: '5000' },
      unmatched: [{ address: 'bob@example.org', mapped: 'example.org/bob/', templateGives: '/var/vmail/example.org/bob/maildir/' }], notes: [],
    }),
    pickDirectory: () => ({ path: null }),
    dashboard: () => ({
      status, sessions, activity,
      connection: { server: '127.0.0.1', port: settings.port, username: 'alice@brokkr.net', password: settings.password, security: 'None', text: `Server: 127.0.0.1\nPort: ${settings.port}` },
    }),
    startServer: () => { status = { state: 'running', host: settings.listen, port: settings.port, connections: 0, restarts: 0, since: Date.now() }; emit({ type: 'status', status }); return status; },
    stopServer: () => { status = { state: 'stopped', connections: 0, restarts: 0, since: Date.now() }; emit({ type: 'status', status }); return status; },
    restartServer: () => status,
    logTail: () => log,
    copyText: () => ({ copied: false }),
    showLogFile: () => ({ opened: false }),
    // The viewer: one user with a made-up INBOX of 100,000 rows, generated per page.
    viewerTree: () => ({
      vmail: settings.vmail, mailHome: settings.mail_home,
      domains: [{ domain: 'brokkr.net', users: [{ user: 'alice@brokkr.net', home: '/var/vmail/brokkr.net/alice', maildir: '/var/vmail/brokkr.net/alice/maildir', folders: mockFolders() }] }],
    }),
    viewerFolders: () => mockFolders(),
    viewerPage: (p) => ({
      total: MOCK_TOTAL, uidValidity: 1, uidNext: MOCK_TOTAL + 1, offset: p.offset,
      items: Array.from({ length: Math.max(0, Math.min(p.limit, MOCK_TOTAL - p.offset)) }, (_, i) => {
        const uid = MOCK_TOTAL - p.offset - i;
        return { uid, from: `Sender ${uid % 97}`, fromAddress: `s${uid % 97}@example.org`, subject: `Message number ${uid}`, date: Date.now() - (MOCK_TOTAL - uid) * 60_000, size: 1200 + (uid % 5000), flags: uid % 3 ? ['\\Seen'] : [], seen: uid % 3 !== 0 };
      }),
    }),
    viewerMessage: (p) => ({
      uid: p.uid, uidValidity: 1, headers: [{ name: 'Subject', value: `Message number ${p.uid}` }], subject: `Message number ${p.uid}`, from: 'Sender <s@example.org>',
      to: 'alice@brokkr.net', cc: '', date: new Date().toUTCString(), receivedHops: [], text: { content: `Hello, this is message ${p.uid}.`, truncated: false, part: '1' }, attachments: [],
      facts: { uid: p.uid, filename: `1700000000.M1P1.mock:2,S`, dir: 'cur', path: `/var/vmail/brokkr.net/alice/maildir/cur/1700000000.M1P1.mock:2,S`, flagLetters: 'S', flags: ['\\Seen'], size: 1234, physicalSize: 1200, internalDate: Date.now() },
    }),
    viewerRaw: (p) => ({ uid: p.uid, source: `Subject: Message number ${p.uid}\n\nHello.\n`, returnedBytes: 40, totalBytes: 40, truncated: false }),
    viewerAction: (p) => ({ uids: p.uids }),
    viewerSave: () => ({ saved: false }),
    localDrop: (p) => ({ path: '/var/vmail/x/new/1', filename: '1', maildir: '/var/vmail/x', subject: 'Roost test message', token: 'abc', messageId: '<x@y>', size: 400, writtenAt: Date.now(), note: `mock: nothing written for ${p.to}` }),
    sendTest: (p) => ({
      ok: false, host: p.host, port: p.port, to: p.to, subject: 'Roost relay test', token: 'abc', stage: 'connect', code: 'ECONNREFUSED',
      explanation: `Nothing accepted a connection on ${p.host}:${p.port}.`, whatToCheck: ['Is Postfix running?'], sides: { vmail: settings.vmail, mailHome: settings.mail_home, mailLocation: settings.mail_location },
    }),
  };

  // Some life on the dashboard: a login and a log line every few seconds.
  setInterval(() => {
    if (status.state !== 'running') return;
    const time = Date.now();
    const record: LogRecord = { level: 'info', service: 'imap-login', message: `Login: user=<alice@brokkr.net>, method=PLAIN, rip=127.0.0.1, lip=127.0.0.1`, time };
    log.push(record);
    emit({ type: 'server', event: { type: 'log', record } });
    emit({ type: 'server', event: { type: 'login', session: String(time), user: 'alice@brokkr.net', method: 'PLAIN', remote: '127.0.0.1', time } });
  }, 4000);

  const bridge: RoostBridge = {
    call: async (method, params) => (handlers[method] as (p: typeof params) => ApiResult<typeof method>)(params),
    onEvent: (l) => { listeners.add(l); return () => listeners.delete(l); },
  };
  window.roost = bridge;
}
