// The renderer's one door to the app: a RoostBridge (electron/shared/api.ts) chosen at boot.
// - Inside Electron the preload exposes window.roost; we use it as is.
// - In a browser (headless `npm run serve`) we speak the same contract over HTTP:
//   POST /api/<method> with JSON params, reply { ok, result } | { ok: false, error }, and events
//   over a WebSocket at /api/events that reconnects with backoff.
// Pages never see the transport: they call api.call(...) and subscribe with api.onEvent(...).
import type { ApiError, ApiEvent, ApiMethod, ApiParams, ApiReply, ApiResult, FieldProblem, RoostBridge } from '../../../electron/shared/api';

declare global {
  interface Window {
    roost?: RoostBridge;
  }
}

/** An API failure with the contract's code, in plain words. */
export class ApiCallError extends Error {
  readonly code: string;
  readonly problems: FieldProblem[];
  constructor(error: ApiError) {
    super(error.message);
    this.name = 'ApiCallError';
    this.code = error.code;
    this.problems = error.problems ?? [];
  }
}

/** Whatever was thrown, as a sentence a user can read. */
export function errorText(e: unknown): string {
  if (e instanceof Error) return e.message || e.name;
  return String(e);
}

/** 'open': events flowing; 'connecting': first attempt; 'lost': was open (or never opened) and is retrying. */
export type LinkState = 'open' | 'connecting' | 'lost';

export interface Transport extends RoostBridge {
  readonly kind: 'electron' | 'http';
  /** Connection state of the event channel (always 'open' for Electron IPC). */
  linkState(): LinkState;
  onLinkState(listener: (state: LinkState) => void): () => void;
}

function toApiCallError(e: unknown): ApiCallError {
  if (e instanceof ApiCallError) return e;
  // Electron's ipcRenderer.invoke rejects with "Error invoking remote method 'roost:call': Error: <msg>";
  // the preload may pass the ApiError object through as well.
  if (e && typeof e === 'object' && 'code' in e && 'message' in e && typeof (e as ApiError).message === 'string') {
    return new ApiCallError(e as ApiError);
  }
  const raw = errorText(e).replace(/^Error invoking remote method '[^']*': (Error: )?/, '');
  return new ApiCallError({ code: 'FAILED', message: raw });
}

function electronTransport(bridge: RoostBridge): Transport {
  return {
    kind: 'electron',
    async call(method, params) {
      try {
        return await bridge.call(method, params);
      } catch (e) {
        throw toApiCallError(e);
      }
    },
    onEvent: (listener) => bridge.onEvent(listener),
    linkState: () => 'open',
    onLinkState: () => () => undefined,
  };
}

const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 8000;

function httpTransport(): Transport {
  const listeners = new Set<(event: ApiEvent) => void>();
  const linkListeners = new Set<(state: LinkState) => void>();
  let state: LinkState = 'connecting';
  let socket: WebSocket | null = null;
  let delay = BACKOFF_FIRST_MS;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const setState = (next: LinkState): void => {
    if (next === state) return;
    state = next;
    for (const l of linkListeners) l(state);
  };

  const connect = (): void => {
    timer = undefined;
    const url = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/api/events`;
    let ws: WebSocket;
    try {
      ws = new WebSocket(url);
    } catch {
      retry();
      return;
    }
    socket = ws;
    ws.onopen = () => {
      delay = BACKOFF_FIRST_MS;
      setState('open');
    };
    ws.onmessage = (message) => {
      if (typeof message.data !== 'string') return;
      let event: ApiEvent;
      try {
        event = JSON.parse(message.data) as ApiEvent;
      } catch {
        return; // not ours to crash on: one bad frame must not stop the others
      }
      for (const l of listeners) l(event);
    };
    ws.onclose = () => {
      if (socket !== ws) return;
      socket = null;
      retry();
    };
    // onerror is always followed by onclose, which retries.
  };

  const retry = (): void => {
    setState('lost');
    if (timer !== undefined) return;
    timer = setTimeout(connect, delay);
    delay = Math.min(delay * 2, BACKOFF_MAX_MS);
  };

  connect();
  // Reconnect at once when the user comes back to the tab or the network returns.
  const nudge = (): void => {
    if (state !== 'open' && timer !== undefined) {
      clearTimeout(timer);
      delay = BACKOFF_FIRST_MS;
      connect();
    }
  };
  addEventListener('online', nudge);
  document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'visible') nudge(); });

  return {
    kind: 'http',
    async call<M extends ApiMethod>(method: M, params: ApiParams<M>): Promise<ApiResult<M>> {
      let response: Response;
      try {
        response = await fetch(`/api/${method}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: params === undefined ? '' : JSON.stringify(params),
          credentials: 'same-origin',
        });
      } catch {
        throw new ApiCallError({ code: 'UNAVAILABLE', message: 'Roost is not answering. Is it still running?' });
      }
      let reply: ApiReply<M>;
      try {
        reply = (await response.json()) as ApiReply<M>;
      } catch {
        const message = response.status === 403
          ? 'This page is no longer signed in to Roost. Open the address Roost printed when it started (it ends in ?token=...).'
          : `Roost answered with an error (HTTP ${response.status}).`;
        throw new ApiCallError({ code: response.status === 403 ? 'FORBIDDEN' : 'FAILED', message });
      }
      if (!reply || typeof reply !== 'object') throw new ApiCallError({ code: 'FAILED', message: 'Roost sent an answer the page does not understand.' });
      if (reply.ok) return reply.result;
      throw new ApiCallError(reply.error ?? { code: 'FAILED', message: `Roost answered with an error (HTTP ${response.status}).` });
    },
    onEvent(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    linkState: () => state,
    onLinkState(listener) {
      linkListeners.add(listener);
      return () => linkListeners.delete(listener);
    },
  };
}

let chosen: Transport | undefined;

/** The transport for this page, created on first use. */
export function api(): Transport {
  chosen ??= window.roost ? electronTransport(window.roost) : httpTransport();
  return chosen;
}
