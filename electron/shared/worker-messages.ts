// Messages between the supervisor and the mail server worker (worker_threads MessagePort).
// Plain data only (structured clone). Requests carry an id; the worker answers each with exactly one
// reply carrying the same id. Events flow from the worker at any time.
//
//   supervisor -> worker: { kind: 'request', id, op: 'start', params: { settings } }
//   worker -> supervisor: { kind: 'reply', id, ok: true, result: { listening: true, host, port, connections } }
//                         { kind: 'reply', id, ok: false, error: { message, code } }
//                         { kind: 'event', event: ServerEvent }
//
// To add an operation: add it to WorkerOps, handle it in electron/server/worker.ts, call it with
// Supervisor.request().
import type { ServerEvent } from './events.js';
import type { ServerSettings } from './settings-types.js';
import type { ViewerRequest, ViewerResult } from './viewer-types.js';

export interface WorkerStatus {
  listening: boolean;
  host?: string;
  port?: number;
  connections: number;
}

export interface WorkerOps {
  /** Start listening with these settings. Fails (ok: false) when the server cannot start, e.g. EADDRINUSE. */
  start: { params: { settings: ServerSettings }; result: WorkerStatus };
  /** Close the server gracefully: sessions get `* BYE <reason>`. The worker exits after replying. */
  stop: { params: { reason?: string }; result: WorkerStatus };
  status: { params: Record<string, never>; result: WorkerStatus };
  /** The mailbox viewer (shared/viewer-types.ts); fails with code VIEWER_NOT_RUNNING while the server is stopped. */
  viewer: { params: ViewerRequest; result: ViewerResult };
}

export type WorkerOp = keyof WorkerOps;

export type WorkerRequest = {
  [K in WorkerOp]: { kind: 'request'; id: number; op: K; params: WorkerOps[K]['params'] };
}[WorkerOp];

export interface WorkerErrorInfo {
  message: string;
  /** Node's errno code (EADDRINUSE, EACCES, ...) or a Roost error code. */
  code?: string;
}

export type WorkerReply =
  | { kind: 'reply'; id: number; ok: true; result: WorkerOps[WorkerOp]['result'] }
  | { kind: 'reply'; id: number; ok: false; error: WorkerErrorInfo };

export type WorkerToSupervisor = WorkerReply | { kind: 'event'; event: ServerEvent };

export function isWorkerToSupervisor(value: unknown): value is WorkerToSupervisor {
  if (typeof value !== 'object' || value === null) return false;
  const kind = (value as { kind?: unknown }).kind;
  if (kind === 'event') return typeof (value as { event?: unknown }).event === 'object';
  if (kind === 'reply') return typeof (value as { id?: unknown }).id === 'number';
  return false;
}

export function isWorkerRequest(value: unknown): value is WorkerRequest {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as { kind?: unknown; id?: unknown; op?: unknown };
  return v.kind === 'request' && typeof v.id === 'number' && (v.op === 'start' || v.op === 'stop' || v.op === 'status' || v.op === 'viewer');
}
