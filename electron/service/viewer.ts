// The app service's half of the mailbox viewer and of "Send a test message" (issue 5).
//
// Viewer methods go to the mail server's worker (Supervisor.viewer -> electron/server/viewer), which
// reads through the same storage layer as the IMAP sessions: the UIDs and flags shown are the ones
// IMAP clients see, and actions (read/unread, flag, delete, move) reach their sessions at once. This
// file only validates nothing twice (api-validate did), maps errors to plain words, and keeps big
// payloads out of JSON: attachments and whole messages are saved through a native dialog (Electron)
// or streamed by the bridge's GET /api/download route (browser), never sent as JSON arrays.
//
// Test messages run here, in the main/service process (electron/testmail): a local drop writes into
// the maildir the Postfix way; a relay test sends through SMTP and waits for the server's `delivered`
// event. Both report the message's place (user, mailbox, uid) so the UI can open it in the viewer.
import path from 'node:path';
import type { DeliverySides, LocalDropReport, SendTestReport, ViewerRef } from '../shared/api.js';
import { ApiCallError } from '../shared/api-validate.js';
import type { ServerEvent } from '../shared/events.js';
import type { ServerSettings } from '../shared/settings-types.js';
import type { ViewerAttachmentData, ViewerOp, ViewerRequestOf, ViewerResultOf } from '../shared/viewer-types.js';
import { resolveUser } from '../server/auth/user.js';
import { SupervisorError, type Supervisor } from '../supervisor/supervisor.js';
import { localDrop, sendViaRelay, waitForDeliveredEvent, type DeliveredEvent } from '../testmail/index.js';

/** How long a local drop waits for the watcher's `delivered` event before it reports without it. */
const LOCAL_DROP_NOTICE_MS = 5000;
/** The whole raw source for a download is read in one worker answer: bounded to keep memory sane. */
export const DOWNLOAD_MAX_BYTES = 256 * 1024 * 1024;

/** A file to hand to the user: an attachment or a whole message. */
export interface DownloadFile {
  filename: string;
  contentType: string;
  data: Uint8Array;
}

export interface ViewerServiceContext {
  supervisor: Supervisor;
  /** The settings the running server uses (undefined when it is not running): where maildirs are. */
  runningSettings(): ServerSettings | undefined;
  /** The settings in effect otherwise (for a local drop while the server is stopped). */
  effectiveSettings(): ServerSettings;
  /** Server events (delivered) as the supervisor reports them; returns an unsubscribe function. */
  onServerEvent(listener: (event: ServerEvent) => void): () => void;
  /** Electron: a native save dialog; absent in the browser. */
  saveFile?(file: { defaultName: string; data: Uint8Array }): Promise<{ saved: boolean; path?: string }>;
}

/** The viewer's and storage's error codes, as API codes and plain words. */
function viewerFailure(e: unknown): ApiCallError {
  if (e instanceof ApiCallError) return e;
  if (e instanceof SupervisorError) {
    if (e.code === 'NOT_RUNNING') return new ApiCallError('NOT_RUNNING', 'The mail server is not running: start it to browse mail.', undefined, e);
    if (e.code === 'TIMEOUT') return new ApiCallError('TIMEOUT', 'The mail server did not answer in time. Try again.', undefined, e);
    const message = e.message.replace(/^[A-Z_]+: /, '');
    switch (e.causeCode) {
      case 'VIEWER_NOT_RUNNING': return new ApiCallError('NOT_RUNNING', 'The mail server is not running: start it to browse mail.', undefined, e);
      case 'VIEWER_NO_USER': return new ApiCallError('NO_USER', message, undefined, e);
      case 'VIEWER_NO_MESSAGE': return new ApiCallError('NO_MESSAGE', `This message is no longer there (deleted or moved by a mail client?): ${message}`, undefined, e);
      case 'VIEWER_NO_PART': return new ApiCallError('NO_PART', message, undefined, e);
      case 'VIEWER_INVALID': return new ApiCallError('INVALID', message, undefined, e);
      case 'NONEXISTENT': return new ApiCallError('NO_MAILBOX', `That folder does not exist (any more): ${message}`, undefined, e);
      case 'TRYCREATE': return new ApiCallError('NO_MAILBOX', `The target folder does not exist: ${message}`, undefined, e);
      default: return new ApiCallError('FAILED', message, undefined, e);
    }
  }
  return new ApiCallError('FAILED', e instanceof Error ? e.message : String(e), undefined, e);
}

/** A file name that is safe in a Content-Disposition header and on any file system. */
export function safeFilename(name: string, fallback: string): string {
  // eslint-disable-next-line no-control-regex
  const cleaned = name.replace(/[\x00-\x1f\x7f/\\:*?"<>|]+/g, '_').replace(/^\.+/, '').trim().slice(0, 180);
  return cleaned || fallback;
}

export class ViewerService {
  /** Postfix's side, remembered from the last importPostfix (wizard or settings). */
  private postfix: { virtual_mailbox_base?: string; virtual_mailbox_maps?: string } = {};

  constructor(private readonly ctx: ViewerServiceContext) {}

  rememberPostfix(imported: { virtual_mailbox_base?: string; virtual_mailbox_maps?: string }): void {
    if (imported.virtual_mailbox_base) this.postfix = { virtual_mailbox_base: imported.virtual_mailbox_base, virtual_mailbox_maps: imported.virtual_mailbox_maps };
  }

  /** One viewer request to the worker, errors in plain words. */
  async request<K extends ViewerOp>(req: ViewerRequestOf<K>): Promise<ViewerResultOf<K>> {
    try {
      return await this.ctx.supervisor.viewer(req);
    } catch (e) {
      throw viewerFailure(e);
    }
  }

  /** An attachment (part) or the whole message (no part), for the download route and the save dialog. */
  async download(ref: ViewerRef & { part?: string }): Promise<DownloadFile> {
    if (ref.part) {
      const a: ViewerAttachmentData = await this.request({ op: 'attachment', user: ref.user, mailbox: ref.mailbox, uid: ref.uid, part: ref.part });
      return { filename: safeFilename(a.filename, `part-${ref.part}`), contentType: a.contentType, data: a.data };
    }
    const raw = await this.request({ op: 'raw', user: ref.user, mailbox: ref.mailbox, uid: ref.uid, maxBytes: DOWNLOAD_MAX_BYTES });
    if (raw.truncated) throw new ApiCallError('TOO_LARGE', `The message is larger than ${DOWNLOAD_MAX_BYTES / 1024 / 1024} MB; copy it from ${ref.mailbox} on disk instead.`);
    // The worker returns text (UTF-8 or latin1, whichever reproduces the bytes); latin1 round-trips
    // any byte, UTF-8 round-trips valid UTF-8, so re-encoding as the worker decoded gives the file.
    const utf8 = Buffer.from(raw.source, 'utf8');
    const data = utf8.length === raw.returnedBytes ? utf8 : Buffer.from(raw.source, 'latin1');
    return { filename: `message-${ref.uid}.eml`, contentType: 'message/rfc822', data };
  }

  async save(ref: ViewerRef & { part?: string }): Promise<{ saved: boolean; path?: string }> {
    if (!this.ctx.saveFile) return { saved: false };
    const file = await this.download(ref);
    return this.ctx.saveFile({ defaultName: file.filename, data: file.data });
  }

  /** Writes a generated message into the user's maildir, then waits briefly for the watcher to report it. */
  async localDrop(p: { to: string; subject?: string; from?: string }): Promise<LocalDropReport> {
    const running = this.ctx.runningSettings();
    const settings = running ?? this.ctx.effectiveSettings();
    const abort = new AbortController();
    let token = '';
    // Subscribe before writing: the watcher may report within a millisecond of the rename.
    const seen: DeliveredEvent[] = [];
    let wake: (() => void) | undefined;
    const off = this.ctx.onServerEvent((e) => {
      if (e.type === 'delivered') {
        seen.push(e);
        wake?.();
      }
    });
    try {
      let result;
      try {
        result = await localDrop({ settings, address: p.to, ...(p.subject ? { subject: p.subject } : {}), ...(p.from ? { from: p.from } : {}) });
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        const why = err.code === 'EACCES' ? `Roost may not write there (permission denied): ${err.message}` : err.message;
        throw new ApiCallError('FAILED', `Could not write the test message for ${p.to}: ${why}`, undefined, e);
      }
      token = result.token;
      const report: LocalDropReport = {
        path: result.path, filename: result.filename, maildir: result.maildir, subject: result.subject, token: result.token,
        messageId: result.messageId, size: result.size, writtenAt: Date.now(),
      };
      if (!running) {
        report.note = 'The mail server is not running: the message is in the maildir, and mail clients (and the viewer) see it once you start the server.';
        return report;
      }
      const user = resolveUser(settings, p.to).user;
      const match = (e: DeliveredEvent): boolean => e.user.toLowerCase() === user && e.subject.includes(token);
      const until = Date.now() + LOCAL_DROP_NOTICE_MS;
      for (;;) {
        const hit = seen.find(match);
        if (hit) {
          report.delivered = { user: hit.user, mailbox: hit.mailbox, uid: hit.uid, noticedAt: hit.noticedAt };
          return report;
        }
        const left = until - Date.now();
        if (left <= 0 || abort.signal.aborted) break;
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, left);
          wake = () => { clearTimeout(t); resolve(); };
        });
      }
      report.note = `The message is in ${path.join(result.maildir, 'new')}, but the server did not report it within ${LOCAL_DROP_NOTICE_MS / 1000} seconds. Mail clients see it when they next open INBOX; the log says whether the watcher had trouble.`;
      return report;
    } finally {
      off();
      abort.abort();
    }
  }

  /** Sends through the relay and waits for the delivery; failures come back as reports, not errors. */
  async sendTest(p: { host: string; port: number; to: string; from?: string; timeoutMs: number; postfixBase?: string }): Promise<SendTestReport> {
    const settings = this.ctx.runningSettings();
    if (!settings) {
      throw new ApiCallError('NOT_RUNNING', 'Start the mail server first: the test waits for Roost to see the message arrive, which only a running server does.');
    }
    const postfix = { ...this.postfix, ...(p.postfixBase ? { virtual_mailbox_base: p.postfixBase } : {}) };
    let expectedPath: string | undefined;
    try {
      expectedPath = path.join(resolveUser(settings, p.to).maildir, 'new') + path.sep;
    } catch {
      expectedPath = undefined;
    }
    const sides: DeliverySides = {
      vmail: settings.vmail, mailHome: settings.mail_home, mailLocation: settings.mail_location,
      ...(postfix.virtual_mailbox_base ? { postfixBase: postfix.virtual_mailbox_base } : {}),
      ...(expectedPath ? { expectedPath } : {}),
    };
    const r = await sendViaRelay({
      host: p.host, port: p.port, to: p.to, ...(p.from ? { from: p.from } : {}), timeoutMs: p.timeoutMs,
      // A relay that never greets must not hold the form for the full default of 10 s plus the wait.
      connectTimeoutMs: Math.min(10_000, p.timeoutMs),
      settings, postfix,
      waitForDelivery: (match) => waitForDeliveredEvent((l) => this.ctx.onServerEvent(l), match),
    });
    const common = { host: p.host, port: p.port, to: p.to, subject: r.subject, token: r.token, sides };
    if (r.ok) {
      return {
        ok: true, ...common, response: r.response, ...(r.queueId ? { queueId: r.queueId } : {}), acceptedAt: r.acceptedAt,
        arrivedAt: r.arrivedAt, noticedAt: r.noticedAt, elapsedMs: r.elapsedMs,
        delivered: { user: r.delivered.user, mailbox: r.delivered.mailbox, uid: r.delivered.uid },
      };
    }
    return {
      ok: false, ...common, stage: r.stage, code: r.code, explanation: r.explanation, whatToCheck: r.whatToCheck,
      ...(r.smtpResponse ? { smtpResponse: r.smtpResponse } : {}), ...(r.smtpCode ? { smtpCode: r.smtpCode } : {}),
      ...(r.queueId ? { queueId: r.queueId } : {}), ...(r.acceptedAt ? { acceptedAt: r.acceptedAt } : {}),
      ...(r.foundAt ? { foundAt: r.foundAt } : {}),
    };
  }
}
