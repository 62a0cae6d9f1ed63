// The one typed API between the renderer and the app: what the UI can ask and what it hears.
//
// Two transports carry it, chosen by the renderer at boot (renderer/src/lib/api.ts):
// - Electron: the preload exposes `window.roost: RoostBridge` (contextBridge); each call is an
//   `ipcRenderer.invoke('roost:call', method, params)`, events arrive on 'roost:event'. The
//   renderer never sees ipcRenderer.
// - Headless (`npm run serve`): an HTTP server on 127.0.0.1 serves the renderer build and
//     POST /api/<method>   body: JSON params (or empty for none)
//       -> 200 { ok: true, result } | 4xx/5xx { ok: false, error: ApiError }
//     GET  /api/events     WebSocket; each text frame is one JSON ApiEvent
//   guarded by a random token: the URL printed at start is http://127.0.0.1:<port>/?token=<token>;
//   that request sets an HttpOnly SameSite=Strict cookie and redirects to '/'. Requests without
//   the cookie (or ?token=), with a Host header other than 127.0.0.1:<port> / localhost:<port>
//   (DNS rebinding), or with a foreign Origin are refused with 403.
//
// Both transports route to the same handlers (the app service), which validate every params
// object with validateParams() below before use: the renderer is not trusted to send well-formed
// input. Types only plus plain validation code: no Node or Electron imports, so the renderer can
// import this file.
import type { LogRecord, ServerEvent } from './events.js';
import type {
  ViewerAction, ViewerActionResult, ViewerFolder, ViewerMessage, ViewerPage, ViewerRaw, ViewerSearchQuery, ViewerTree,
} from './viewer-types.js';

export type ServerState = 'stopped' | 'starting' | 'running' | 'stopping' | 'crashed' | 'failed';

/** The server as the supervisor sees it. */
export interface ServerStatus {
  state: ServerState;
  host?: string;
  port?: number;
  /** Open client connections. */
  connections: number;
  /** Crash restarts within the last minute. */
  restarts: number;
  lastError?: string;
  lastErrorCode?: string;
  /** When the state last changed (ms since epoch). */
  since: number;
}

/** The settings a user edits in the wizard and settings page (the app's settings file). */
export interface AppSettings {
  /** The vmail base directory (Postfix's virtual_mailbox_base). */
  vmail: string;
  /** Dovecot mail_home template; '' means the default `<vmail>/%d/%n`. */
  mail_home: string;
  /** Dovecot mail_location, e.g. 'maildir:~/maildir'. */
  mail_location: string;
  /** The static password (passdb static). */
  password: string;
  auth_mechanisms: ('plain' | 'login')[];
  disable_plaintext_auth: boolean;
  /** userdb static uid/gid, by name or number; '' means: the owner of the vmail base. */
  uid: string;
  gid: string;
  first_valid_uid: number;
  /** '127.0.0.1' (this computer only) or '0.0.0.0' / '*' (the local network) or another address. */
  listen: string;
  port: number;
  /** Start the mail server when Roost starts. */
  startWithRoost: boolean;
  /** Desktop notification on each delivery. */
  notifications: boolean;
}

export interface FieldProblem {
  /** The AppSettings field (or 'general'). */
  field: keyof AppSettings | 'general';
  message: string;
}

export interface ValidationResult {
  ok: boolean;
  errors: FieldProblem[];
  /** Valid but worth saying (listening on the network with plaintext passwords, port 143 needs root...). */
  warnings: FieldProblem[];
  /** The effective settings as `doveconf -n` prints them (password hidden), when valid. */
  doveconf?: string;
  /** Where a sample user's maildir would be: e.g. alice@brokkr.net -> /var/vmail/brokkr.net/alice/maildir/. */
  preview?: { user: string; path: string };
}

export interface PathCheck {
  path: string;
  exists: boolean;
  isDirectory: boolean;
  readable: boolean;
  writable: boolean;
  /** Owner of the directory (POSIX). */
  uid?: number;
  gid?: number;
  ownerName?: string;
  /** Plain words: what is wrong and what to do; undefined when fine. */
  problem?: string;
}

export interface PortCheck {
  listen: string;
  port: number;
  status: 'free' | 'in-use' | 'needs-privileges' | 'bad-address' | 'error';
  /** Plain words, e.g. 'Port 143 needs administrator rights. Use 1143, or ...'. */
  message: string;
  /** A port to offer instead, when this one cannot be used. */
  suggestion?: number;
}

export interface PostfixImport {
  /** The main.cf read. */
  file: string;
  virtual_mailbox_base?: string;
  virtual_mailbox_maps?: string;
  virtual_uid_maps?: string;
  virtual_gid_maps?: string;
  virtual_mailbox_domains?: string;
  /** Settings proposed from it. */
  proposal: Partial<Pick<AppSettings, 'vmail' | 'mail_home' | 'mail_location' | 'uid' | 'gid'>>;
  /** Map entries (address -> maildir) that the proposed template would put elsewhere. */
  unmatched: { address: string; mapped: string; templateGives: string }[];
  /** Things that could not be read or understood, in plain words. */
  notes: string[];
}

export interface SessionInfo {
  id: string;
  user?: string;
  remote: string;
  /** Connected since (ms). */
  since: number;
  mailbox?: string | null;
}

export interface ActivityEntry {
  kind: 'login' | 'login-failed' | 'delivered';
  time: number;
  user?: string;
  remote?: string;
  /** One line for the dashboard, e.g. 'INBOX: "Hello" from bob@example.com (2.1 KB)'. */
  text: string;
}

/** What to type into a mail client. */
export interface ConnectionInfo {
  server: string;
  port: number;
  /** Plain words: the full address, e.g. 'alice@brokkr.net'. */
  username: string;
  password: string;
  security: 'None';
  /** The same as copyable text. */
  text: string;
}

export interface AppInfo {
  version: string;
  /** 'electron' inside the desktop app, 'browser' through the headless bridge. */
  mode: 'electron' | 'browser';
  platform: string;
  dataDir: string;
  logFile: string;
  /** True until the wizard has been completed once. */
  firstRun: boolean;
  /**
   * Fields whose effective value for this run comes from somewhere other than the saved settings
   * (headless: command-line flags, ROOST_PASSWORD, --config FILE). Saving still writes the saved
   * settings; the override keeps winning until Roost is started without it. Absent or empty: none.
   */
  overrides?: SettingOverride[];
}

/** One field overridden for this run (see AppInfo.overrides). */
export interface SettingOverride {
  field: keyof AppSettings;
  /** Plain words, e.g. 'the --port flag', 'ROOST_PASSWORD', 'the config file /etc/roost.conf'. */
  source: string;
  /** The value in effect, as text ('(hidden)' for the password). */
  value: string;
}

export interface Dashboard {
  status: ServerStatus;
  sessions: SessionInfo[];
  /** Newest first, bounded. */
  activity: ActivityEntry[];
  connection: ConnectionInfo;
}

export interface SaveResult {
  settings: AppSettings;
  /** The running server uses older settings: a restart applies these. */
  restartNeeded: boolean;
}

/** A message in the viewer: the user's login name, the IMAP mailbox name, the UID IMAP clients see. */
export interface ViewerRef {
  user: string;
  mailbox: string;
  uid: number;
}

/** "Send a test message", local drop: written into the user's maildir the Postfix way (tmp, then new). */
export interface LocalDropReport {
  /** The file in new/, its name and the maildir. */
  path: string;
  filename: string;
  maildir: string;
  subject: string;
  token: string;
  messageId: string;
  size: number;
  writtenAt: number;
  /** The server's watcher reported it (running server only): where the viewer finds it. */
  delivered?: ViewerRef & { noticedAt: number };
  /** Plain words when it was written but not (yet) noticed: the server is stopped, or it was slow. */
  note?: string;
}

/** Both sides of the delivery path, shown beside each other when a relayed message does not arrive. */
export interface DeliverySides {
  /** Roost: the vmail base, mail_home and mail_location in effect. */
  vmail: string;
  mailHome: string;
  mailLocation: string;
  /** Postfix's virtual_mailbox_base, from the last Postfix import or given with the request; absent when unknown. */
  postfixBase?: string;
  /** Where Roost expects the recipient's new mail (the maildir's new/). */
  expectedPath?: string;
}

/** "Send a test message" through the relay: the steps that happened, or what failed and what to check. */
export type SendTestReport =
  | {
      ok: true;
      host: string;
      port: number;
      to: string;
      subject: string;
      token: string;
      /** The relay's final reply and Postfix's queue id from it. */
      response: string;
      queueId?: string;
      acceptedAt: number;
      /** The file's time in the maildir, and when Roost noticed it. */
      arrivedAt: number;
      noticedAt: number;
      elapsedMs: number;
      /** Where the viewer finds it. */
      delivered: ViewerRef;
      sides: DeliverySides;
    }
  | {
      ok: false;
      host: string;
      port: number;
      to: string;
      subject: string;
      token: string;
      stage: 'connect' | 'smtp' | 'delivery';
      /** ECONNREFUSED, RELAY_DENIED, USER_UNKNOWN, NOT_DELIVERED, ... */
      code: string;
      explanation: string;
      whatToCheck: string[];
      smtpResponse?: string;
      smtpCode?: number;
      queueId?: string;
      acceptedAt?: number;
      /** Found on disk after all, but Roost did not report it. */
      foundAt?: string;
      sides: DeliverySides;
    };

/** Every method: params (undefined for none) and result. */
export interface ApiMethods {
  appInfo: { params: undefined; result: AppInfo };
  getSettings: { params: undefined; result: AppSettings };
  /** Check a draft without saving: per-field problems, doveconf -n text, path preview. */
  validateSettings: { params: { settings: AppSettings }; result: ValidationResult };
  /** Validate and save (atomically); marks the wizard done. Invalid -> error with code 'INVALID'. */
  saveSettings: { params: { settings: AppSettings }; result: SaveResult };
  generatePassword: { params: undefined; result: { password: string } };
  checkPath: { params: { path: string }; result: PathCheck };
  checkPort: { params: { listen: string; port: number }; result: PortCheck };
  /** Read <dir>/main.cf (default /etc/postfix). */
  importPostfix: { params: { dir: string }; result: PostfixImport };
  /** Electron: a native folder picker; browser: { path: null } (the UI shows a text field). */
  pickDirectory: { params: { title?: string; defaultPath?: string }; result: { path: string | null } };
  dashboard: { params: undefined; result: Dashboard };
  startServer: { params: undefined; result: ServerStatus };
  stopServer: { params: undefined; result: ServerStatus };
  restartServer: { params: undefined; result: ServerStatus };
  /** The newest log records, oldest first. */
  logTail: { params: { limit: number }; result: LogRecord[] };
  /** Electron: copies with the clipboard module ({ copied: true }); browser: { copied: false } (use navigator.clipboard). */
  copyText: { params: { text: string }; result: { copied: boolean } };
  /** Electron: reveals the log file in the file manager; browser: { opened: false }. */
  showLogFile: { params: undefined; result: { opened: boolean } };

  // The mailbox viewer: read through the server's own storage (the worker), so UIDs and flags are the
  // ones IMAP clients see and actions reach them at once. Needs the server running (code NOT_RUNNING).
  /** Domains -> users -> folders with message and unread counts. */
  viewerTree: { params: undefined; result: ViewerTree };
  /** One user's folders with counts. */
  viewerFolders: { params: { user: string }; result: ViewerFolder[] };
  /** A window of the list, newest first; with `query`, of the messages the server's SEARCH matches. */
  viewerPage: { params: { user: string; mailbox: string; offset: number; limit: number; query?: ViewerSearchQuery }; result: ViewerPage };
  /** One message for the message pane; markSeen sets \Seen as opening it in a mail client does. */
  viewerMessage: { params: ViewerRef & { markSeen?: boolean }; result: ViewerMessage };
  /** The raw source (capped at 2 MB; the whole file through viewerSave / the download route). */
  viewerRaw: { params: ViewerRef; result: ViewerRaw };
  /** Mark read/unread, flag, delete (to Trash or expunge), move. */
  viewerAction: { params: { user: string; mailbox: string; uids: number[]; change: ViewerAction }; result: ViewerActionResult };
  /**
   * Electron: saves an attachment (part) or the whole message (no part) through a save dialog.
   * Browser: { saved: false }; the page downloads GET /api/download?user=&mailbox=&uid=[&part=] instead.
   */
  viewerSave: { params: ViewerRef & { part?: string }; result: { saved: boolean; path?: string } };

  // Send a test message.
  /** Writes a generated message into the user's maildir (tmp, then new), as Postfix does. */
  localDrop: { params: { to: string; subject?: string; from?: string }; result: LocalDropReport };
  /**
   * Sends a generated message through an SMTP relay (default 127.0.0.1:25) and waits for its delivery.
   * postfixBase: Postfix's virtual_mailbox_base, if known (else the last importPostfix's is used).
   */
  sendTest: {
    params: { host: string; port: number; to: string; from?: string; timeoutMs: number; postfixBase?: string };
    result: SendTestReport;
  };
}

export type ApiMethod = keyof ApiMethods;
export type ApiParams<M extends ApiMethod> = ApiMethods[M]['params'];
export type ApiResult<M extends ApiMethod> = ApiMethods[M]['result'];

export interface ApiError {
  /** 'INVALID' (bad params or settings), 'UNKNOWN_METHOD', 'FORBIDDEN', 'UNAVAILABLE', 'FAILED', ... */
  code: string;
  message: string;
  /** For INVALID settings: the problems per field. */
  problems?: FieldProblem[];
}

export type ApiReply<M extends ApiMethod = ApiMethod> = { ok: true; result: ApiResult<M> } | { ok: false; error: ApiError };

/** Pushed to the renderer as things happen. */
export type ApiEvent =
  | { type: 'status'; status: ServerStatus }
  /** Every server event (login, delivered, log, ...), passwords already scrubbed. */
  | { type: 'server'; event: ServerEvent }
  | { type: 'settings'; settings: AppSettings }
  /** Electron main asks the window to show a route (tray "Open mailbox viewer", a notification click). */
  | { type: 'navigate'; hash: string };

/** What the Electron preload exposes as window.roost (and what the HTTP client implements). */
export interface RoostBridge {
  call<M extends ApiMethod>(method: M, params: ApiParams<M>): Promise<ApiResult<M>>;
  /** Returns an unsubscribe function. */
  onEvent(listener: (event: ApiEvent) => void): () => void;
}

export const API_METHODS: readonly ApiMethod[] = [
  'appInfo', 'getSettings', 'validateSettings', 'saveSettings', 'generatePassword', 'checkPath', 'checkPort',
  'importPostfix', 'pickDirectory', 'dashboard', 'startServer', 'stopServer', 'restartServer', 'logTail',
  'copyText', 'showLogFile', 'viewerTree', 'viewerFolders', 'viewerPage', 'viewerMessage', 'viewerRaw', 'viewerAction',
  'viewerSave', 'localDrop', 'sendTest',
];

export function isApiMethod(value: unknown): value is ApiMethod {
  return typeof value === 'string' && (API_METHODS as readonly string[]).includes(value);
}
