// One IMAP connection's state machine (RFC 3501 section 3): not authenticated ->
// authenticated -> selected -> logout. The dispatcher looks a command up in the table
// (commands/index.ts), checks the state once, runs the handler, maps errors to BAD/NO, and
// announces mailbox changes at the points the RFC allows.

import type { ServerSettings } from '../../shared/settings-types.js';
import type { ServerEvent } from '../../shared/events.js';
import type { MailStore } from '../storage/types.js';
import { StorageError } from '../storage/types.js';
import type { ImapLimits } from './limits.js';
import { ImapSyntaxError, parseCommand, parseTag, type ParsedCommand } from './parser.js';
import { ArgReader } from './args.js';
import { ImapNo, storageErrorToNo } from './errors.js';
import { SelectedMailbox } from './selected.js';
import { COMMANDS } from './commands/index.js';
import { capabilities } from './capabilities.js';
import { isSecuredConnection, plaintextAuthAllowed } from '../auth/index.js';
import {
  createSessionId,
  loginDisconnectMessage,
  logoutMessage,
  mailService,
  authFailedDetail,
  noAuthAttemptsDetail,
  DISALLOWED_PLAINTEXT_DETAIL,
  type ConnectionFields,
} from '../log.js';

export type SessionState = 'notauth' | 'auth' | 'selected' | 'logout';

/** The connection as the session sees it (net/connection.ts implements it over a socket). */
export interface SessionIO {
  /**
   * Queue response bytes: a latin1 binary string, or bytes. `transient` bytes are copied at
   * once (the caller reuses their memory); others must not change until written.
   */
  write(data: string | Uint8Array, transient?: boolean): void;
  /** Resolves once queued output has drained below the high-water mark. */
  drain(): Promise<void>;
  /** The next raw line from the client (AUTHENTICATE continuation, IDLE's DONE); null on disconnect. */
  readLine(): Promise<Buffer | null>;
  /** Flush queued output and close. */
  close(): void;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
}

/** What the server gives every session. */
export interface ServerContext {
  readonly settings: ServerSettings;
  readonly limits: ImapLimits;
  emit(event: ServerEvent): void;
  log(level: 'debug' | 'info' | 'warn' | 'error', service: string, message: string): void;
  /** Check credentials; resolves to the canonical user name or a failure reason for the log. */
  authenticate(username: string, password: string): Promise<{ ok: true; user: string } | { ok: false; reason: string }>;
  /** The user's mail store, created on first login like Dovecot does. */
  openStore(user: string): Promise<MailStore>;
  /** Count a logged-in connection of user from ip; false when mail_max_userip_connections is reached. */
  acquireUserIp(user: string, ip: string): boolean;
  releaseUserIp(user: string, ip: string): void;
  /** Is the server shutting down (new commands get BYE)? */
  readonly closing: boolean;
  /**
   * Optional: the maildir watcher starts watching a mailbox a session selected, so changes other
   * programs make reach it at once (watch/watcher.ts). Returns the function that stops it.
   */
  watchSelected?(session: Session, selected: SelectedMailbox): () => void;
}

export interface CommandContext {
  readonly session: Session;
  readonly tag: string;
  readonly name: string;
  readonly args: ArgReader;
  /** True for UID FETCH/STORE/SEARCH/COPY/MOVE/EXPUNGE. */
  readonly uid: boolean;
}

export interface CommandSpec {
  /** States in which the command is allowed (RFC 3501 section 6). */
  states: readonly SessionState[];
  /**
   * False for commands during which EXPUNGE must not be sent because the client relies on
   * sequence numbers (FETCH, STORE, SEARCH; RFC 3501 7.4.1). UID variants allow it.
   */
  expungeOk?: boolean;
  /** Runs the command; returns the text of the tagged OK (may start with "[CODE] "). */
  run(ctx: CommandContext): Promise<string>;
}

export class Session {
  state: SessionState = 'notauth';
  readonly id: string;
  readonly startedAt = Date.now();
  user: string | null = null;
  store: MailStore | null = null;
  selected: SelectedMailbox | null = null;
  /** Commands run in this session (for the log's summary). */
  commandCount = 0;
  badCount = 0;
  authAttempts = 0;
  firstAuthAttemptAt = 0;
  lastAuthUser = '';
  lastAuthMethod = '';
  triedDisallowedPlaintext = false;
  /** This session holds one of its user's mail_max_userip_connections slots. */
  countedUserIp = false;
  /** Set while IDLE runs: called when changes are queued, to push them at once. */
  idleNotify: (() => void) | null = null;
  /** Stops the watcher's interest in the selected mailbox (see ServerContext.watchSelected). */
  private unwatchSelected: (() => void) | null = null;
  bytesIn = 0;
  bytesOut = 0;

  constructor(
    readonly io: SessionIO,
    readonly server: ServerContext,
  ) {
    this.id = createSessionId(io.remoteAddress, io.remotePort);
  }

  /** The connection facts of Dovecot's imap-login lines. */
  connectionFields(user?: string, method?: string): ConnectionFields {
    return { user, method, rip: this.io.remoteAddress, lip: this.io.localAddress, secured: this.secure, session: this.id };
  }

  /** Same-host connections (remote IP = local IP, e.g. 127.0.0.1 -> 127.0.0.1) count as secure, as in Dovecot. */
  get secure(): boolean {
    return isSecuredConnection(this.io.remoteAddress, this.io.localAddress);
  }

  get plaintextAllowed(): boolean {
    return plaintextAuthAllowed(this.server.settings, this.secure);
  }

  greeting(): string {
    return `* OK [CAPABILITY ${capabilities(this).join(' ')}] Roost ready.\r\n`;
  }

  write(data: string | Uint8Array, transient = false): void {
    this.bytesOut += data.length;
    this.io.write(data, transient);
  }

  /** Handles one framed command. Never throws. */
  async handle(data: Buffer): Promise<void> {
    this.bytesIn += data.length;
    let cmd: ParsedCommand;
    try {
      cmd = parseCommand(data, this.server.limits);
    } catch (err) {
      const tag = parseTag(data) ?? '*';
      this.bad(tag, err instanceof ImapSyntaxError ? err.message : 'Error in IMAP command received by server.');
      return;
    }
    await this.dispatch(cmd);
  }

  /** Answer a malformed command; too many in a row close the connection (Dovecot: 20). */
  bad(tag: string, message: string): void {
    this.badCount++;
    this.write(`${tag} BAD ${message}\r\n`);
    if (this.badCount >= this.server.limits.maxBadCommands) {
      this.write('* BYE Too many invalid IMAP commands.\r\n');
      this.state = 'logout';
      this.io.close();
    }
  }

  private async dispatch(cmd: ParsedCommand): Promise<void> {
    const spec = COMMANDS.get(cmd.name);
    if (!spec) {
      this.bad(cmd.tag, 'Unknown command.');
      return;
    }
    if (!spec.states.includes(this.state)) {
      this.bad(cmd.tag, stateError(cmd.name, this.state));
      return;
    }
    this.commandCount++;
    const isUid = cmd.name.startsWith('UID ');
    const ctx: CommandContext = {
      session: this,
      tag: cmd.tag,
      name: cmd.name,
      args: new ArgReader(cmd.args, cmd.name),
      uid: isUid,
    };
    let status: string;
    try {
      const text = await spec.run(ctx);
      this.badCount = 0;
      status = `${cmd.tag} OK ${text}\r\n`;
    } catch (err) {
      if (err instanceof ImapSyntaxError) {
        this.flushChanges(false, isUid);
        this.bad(cmd.tag, err.code ? `[${err.code === 'LIMIT' ? 'LIMIT' : err.code}] ${err.message}` : err.message);
        return;
      }
      const no = this.toNo(err, cmd.name);
      status = `${cmd.tag} NO ${no.code ? `[${no.code}] ` : ''}${no.message}\r\n`;
    }
    if (this.state === 'logout') {
      this.write(status);
      return;
    }
    this.flushChanges(spec.expungeOk !== false || isUid, isUid);
    this.write(status);
  }

  private toNo(err: unknown, command: string): ImapNo {
    if (err instanceof ImapNo) return err;
    if (err instanceof StorageError) {
      if (err.code === 'SERVERBUG') this.logError(command, err);
      return storageErrorToNo(err);
    }
    this.logError(command, err);
    const stamp = new Date().toISOString().replace('T', ' ').slice(0, 19);
    return new ImapNo(`Internal error occurred. Refer to server log for more information. [${stamp}]`, 'SERVERBUG');
  }

  logError(command: string, err: unknown): void {
    const detail = err instanceof Error ? `${err.message}${err.stack ? `\n${err.stack}` : ''}` : String(err);
    this.server.log('error', this.logService(), `${command} failed: ${detail}`);
    this.server.emit({ type: 'error', message: `${command} failed: ${err instanceof Error ? err.message : String(err)}`, time: Date.now() });
  }

  /** Dovecot's log prefix: 'imap-login' before login, 'imap(user)<session>' after. */
  logService(): string {
    return this.user ? mailService(this.user, process.pid, this.id) : 'imap-login';
  }

  /** Sends queued mailbox changes (EXISTS, RECENT, EXPUNGE, FETCH FLAGS). */
  flushChanges(allowExpunge: boolean, withUid: boolean): void {
    if (!this.selected) return;
    const out = this.selected.flush(allowExpunge, withUid);
    if (out) this.write(out);
  }

  /** Selects a mailbox (SELECT/EXAMINE), replacing any previous selection. */
  async select(view: import('../storage/types.js').MailboxView): Promise<SelectedMailbox> {
    await this.unselect();
    const sel = new SelectedMailbox(view, () => this.idleNotify?.(), `${this.store?.root ?? ''}\0${view.name}`);
    this.selected = sel;
    this.state = 'selected';
    this.unwatchSelected = this.server.watchSelected?.(this, sel) ?? null;
    return sel;
  }

  async unselect(): Promise<void> {
    const sel = this.selected;
    this.selected = null;
    this.unwatchSelected?.();
    this.unwatchSelected = null;
    if (this.state === 'selected') this.state = 'auth';
    if (sel) await sel.view.close();
  }

  /** Called by the connection when the socket closes, whatever the reason. */
  async closed(reason: string): Promise<void> {
    const wasUser = this.user;
    if (wasUser && this.countedUserIp) this.server.releaseUserIp(wasUser, this.io.remoteAddress);
    try {
      await this.unselect();
    } catch (err) {
      this.server.log('warn', this.logService(), `closing mailbox failed: ${String(err)}`);
    }
    const secs = (Date.now() - this.startedAt) / 1000;
    const closedHow = reason === 'logout' ? (wasUser ? 'Logged out' : 'Aborted login by logging out') : reason;
    if (wasUser) {
      this.server.log('info', this.logService(), logoutMessage(closedHow, { in: this.bytesIn, out: this.bytesOut }));
    } else {
      let detail: string;
      let fields: ConnectionFields;
      if (this.triedDisallowedPlaintext) {
        detail = DISALLOWED_PLAINTEXT_DETAIL;
        fields = this.connectionFields(this.lastAuthUser, this.lastAuthMethod || 'PLAIN');
      } else if (this.authAttempts > 0) {
        detail = authFailedDetail(this.authAttempts, (Date.now() - this.firstAuthAttemptAt) / 1000);
        fields = this.connectionFields(this.lastAuthUser, this.lastAuthMethod);
      } else {
        detail = noAuthAttemptsDetail(secs);
        fields = this.connectionFields('');
      }
      this.server.log('info', 'imap-login', loginDisconnectMessage({ ...fields, reason: closedHow, detail }));
    }
    this.server.emit({ type: 'connection-closed', session: this.id, user: wasUser ?? undefined, reason, time: Date.now() });
  }
}

function stateError(name: string, state: SessionState): string {
  if (state === 'notauth') return `Command ${name} not allowed before authentication.`;
  if (state === 'auth' && name !== 'LOGIN' && name !== 'AUTHENTICATE') return 'No mailbox selected.';
  if (name === 'LOGIN' || name === 'AUTHENTICATE') return 'Already logged in.';
  return `Command ${name} not allowed in this state.`;
}
