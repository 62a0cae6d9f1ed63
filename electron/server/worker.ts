// Entry point of the mail server worker thread (bundled to out/worker.js). Speaks the request/reply
// protocol of shared/worker-messages.ts with the supervisor and forwards the server's events.
//
// Deliberately no uncaughtException handler: an exception that escapes the server ends this thread, and
// the supervisor reports it and starts a fresh worker. Nothing outside this thread goes down with it.
import { parentPort } from 'node:worker_threads';
import type { ServerEvent } from '../shared/events.js';
import type { ServerSettings } from '../shared/settings-types.js';
import {
  isWorkerRequest, type WorkerErrorInfo, type WorkerOp, type WorkerOps, type WorkerRequest, type WorkerStatus, type WorkerToSupervisor,
} from '../shared/worker-messages.js';
import { MIN_SCRUBBED_SECRET, scrubSecret } from './log.js';
import { startMailServer, type MailServer } from './server.js';
import { Viewer, ViewerError } from './viewer/index.js';

/** What sessions are told when Roost stops (Dovecot's words). */
export const SHUTDOWN_REASON = 'Server shutting down.';

const port = parentPort;
if (!port) throw new Error('worker.js must be started as a worker thread');

let server: MailServer | null = null;
/** The mailbox viewer, with the running server's settings (shares its storage). */
let viewer: Viewer | null = null;
let starting = false;
let secret: string | undefined;
let sawListening = false;

function post(message: WorkerToSupervisor): void {
  port?.postMessage(message);
}

/** Replaces the password in every string field of an event (events are flat, except log's record). */
function scrubEvent(event: ServerEvent): ServerEvent {
  if (!secret || secret.length < MIN_SCRUBBED_SECRET) return event;
  if (event.type === 'log') return { type: 'log', record: scrubSecret(event.record, secret) };
  const pw = secret;
  const fields = Object.entries(event).map(([k, v]) => [k, typeof v === 'string' && v.includes(pw) ? v.split(pw).join('#hidden#') : v]);
  return Object.fromEntries(fields) as ServerEvent;
}

/** Forwards a server event; the configured password is scrubbed from anything textual on the way. */
function emit(event: ServerEvent): void {
  if (event.type === 'listening') sawListening = true;
  post({ kind: 'event', event: scrubEvent(event) });
}

function status(): WorkerStatus {
  if (!server) return { listening: false, connections: 0 };
  return { listening: true, host: server.host, port: server.port, connections: server.connections() };
}

async function start(settings: ServerSettings): Promise<WorkerStatus> {
  if (server || starting) throw Object.assign(new Error('the server is already running'), { code: 'ALREADY_RUNNING' });
  starting = true;
  secret = settings.passdb.password;
  sawListening = false;
  try {
    server = await startMailServer({ settings, events: emit });
  } finally {
    starting = false;
  }
  viewer = new Viewer({
    settings,
    // The server's: what the viewer looks at is reported as 'mailbox-changed' with everything else.
    changes: server.changes,
    log: (level, message) => emit({ type: 'log', record: { level, service: 'viewer', message, time: Date.now() } }),
  });
  // The supervisor and the app rely on one 'listening' event per start; emit it unless the server did.
  if (!sawListening) emit({ type: 'listening', host: server.host, port: server.port });
  return status();
}

async function stop(reason: string | undefined): Promise<WorkerStatus> {
  const s = server;
  server = null;
  const v = viewer;
  viewer = null;
  if (v) await v.close();
  if (s) await s.close(reason ?? SHUTDOWN_REASON);
  return status();
}

async function handle(request: WorkerRequest): Promise<WorkerOps[WorkerOp]['result']> {
  switch (request.op) {
    case 'start': return start(request.params.settings);
    case 'stop': return stop(request.params.reason);
    case 'status': return status();
    case 'viewer':
      if (!viewer) throw new ViewerError('VIEWER_NOT_RUNNING', 'the mail server is not running');
      return viewer.handle(request.params);
  }
}

function errorInfo(e: unknown): WorkerErrorInfo {
  if (e instanceof Error) {
    const code = (e as NodeJS.ErrnoException).code;
    let message = e.message;
    if (secret && secret.length >= MIN_SCRUBBED_SECRET) message = message.split(secret).join('#hidden#');
    return typeof code === 'string' ? { message, code } : { message };
  }
  return { message: String(e) };
}

port.on('message', (message: unknown) => {
  if (!isWorkerRequest(message)) return;
  handle(message).then(
    (result) => post({ kind: 'reply', id: message.id, ok: true, result }),
    (e: unknown) => post({ kind: 'reply', id: message.id, ok: false, error: errorInfo(e) }),
  ).finally(() => {
    if (message.op === 'stop') {
      // Let the reply go out, then end the thread even if something still holds the event loop open.
      port.close();
      setTimeout(() => process.exit(0), 200).unref();
    }
  });
});
