// The headless bridge: the same UI as the desktop app, in a browser. Serves the renderer build and
// carries the typed API (electron/shared/api.ts) over HTTP, with live events over a WebSocket:
//
//   GET  /?token=T        sets the cookie roost_token=T (HttpOnly, SameSite=Strict, Path=/), redirects to /
//   GET  /...             the renderer build (out/renderer/), index.html for unknown paths without an extension
//   POST /api/<method>    body: JSON params (or empty) -> 200 { ok: true, result } | 4xx/5xx { ok: false, error }
//   GET  /api/events      WebSocket; each text frame is one JSON ApiEvent; the first is the current status
//   GET  /api/download?user=&mailbox=&uid=[&part=]
//                         the mailbox viewer's "Save": an attachment (part) or the whole message, as
//                         Content-Disposition: attachment, application/octet-stream (never rendered here)
//
// Listens on 127.0.0.1 only. Anyone on this computer can reach that port, and any web page in a browser
// here can make the browser send requests to it, so every request must pass, in this order:
//  1. Host is 127.0.0.1:<port> or localhost:<port>: a page on evil.example whose name was re-pointed to
//     127.0.0.1 (DNS rebinding) sends Host: evil.example and is refused.
//  2. Origin, when present, is http://127.0.0.1:<port> or http://localhost:<port>: other pages' fetches
//     and WebSocket handshakes carry their own Origin and are refused.
//  3. The token: the cookie (set from the printed URL) or ?token=. Other local users and pages that never
//     saw the printed URL cannot guess it (32 random bytes).
// Refusals are 403 with a short plain-text reason. POST bodies are JSON only (so a cross-site form
// cannot post), at most MAX_BODY bytes.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import path from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import type { ApiEvent } from '../shared/api.js';
import { ApiCallError, toApiError, validateParams } from '../shared/api-validate.js';
import type { RoostService } from '../service/service.js';

export const TOKEN_COOKIE = 'roost_token';
const MAX_BODY = 1024 * 1024;

export interface WebBridgeOptions {
  service: RoostService;
  /** 0 = any free port. */
  port: number;
  /** The renderer build directory (index.html and assets). */
  rendererDir: string;
  /** Fixed token (tests); default: 32 random bytes, base64url. */
  token?: string;
}

export interface WebBridge {
  port: number;
  token: string;
  /** http://127.0.0.1:<port>/?token=<token> */
  url: string;
  close(): Promise<void>;
}

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.json': 'application/json; charset=utf-8', '.svg': 'image/svg+xml', '.png': 'image/png',
  '.ico': 'image/x-icon', '.woff2': 'font/woff2', '.woff': 'font/woff', '.txt': 'text/plain; charset=utf-8', '.map': 'application/json',
  '.webp': 'image/webp', '.jpg': 'image/jpeg',
};

function sameToken(a: string | undefined, b: string): boolean {
  if (!a) return false;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && crypto.timingSafeEqual(x, y);
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** The page shown when the renderer has not been built. */
const NOT_BUILT = `<!doctype html><meta charset="utf-8"><title>Roost</title>
<h1>Roost</h1><p>The mail server is running, but the web interface has not been built.</p>
<p>Build it with <code>npm run build</code> (or start with <code>npm run serve</code>, which builds first), then reload this page.</p>`;

export async function startWebBridge(options: WebBridgeOptions): Promise<WebBridge> {
  const { service } = options;
  const token = options.token ?? crypto.randomBytes(32).toString('base64url');
  const rendererDir = path.resolve(options.rendererDir);
  let port = 0;

  const allowedHosts = (): string[] => [`127.0.0.1:${port}`, `localhost:${port}`];
  const allowedOrigins = (): string[] => [`http://127.0.0.1:${port}`, `http://localhost:${port}`];

  const securityHeaders = (): Record<string, string> => ({
    // Scripts and styles only from this server (the renderer has no inline ones); the WebSocket
    // is named explicitly because not every browser lets 'self' cover ws:.
    'Content-Security-Policy': [
      // The mail viewer's sandboxed srcdoc frame inherits this policy (CSP Level 3) on top of its own,
      // which blocks remote loads until the user asks: so inline styles and http(s) images are allowed
      // here for the frame's sake. Scripts stay 'self' only; the app's markup never holds mail HTML.
      "default-src 'self'", "script-src 'self'", "style-src 'self' 'unsafe-inline'", "img-src 'self' data: http: https:",
     
      `connect-src 'self' ws://127.0.0.1:${port} ws://localhost:${port}`, "font-src 'self'", "object-src 'none'",
      "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
    ].join('; '),
    'X-Content-Type-Options': 'nosniff',
    'X-Frame-Options': 'DENY',
    'Referrer-Policy': 'no-referrer',
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Resource-Policy': 'same-origin',
  });

  /** Why a request (or WebSocket handshake) is refused, or null when it may pass. */
  const refusal = (req: http.IncomingMessage, url: URL, cookieCounts = true): string | null => {
    const host = req.headers.host;
    if (!host || !allowedHosts().includes(host.toLowerCase())) return 'Forbidden: unexpected Host header (open the address Roost printed).\n';
    const origin = req.headers.origin;
    if (origin !== undefined && !allowedOrigins().includes(origin.toLowerCase())) return 'Forbidden: requests from other web pages are not allowed.\n';
    // Either may carry it: a stale cookie from an earlier run must not hide a good ?token=.
    const ok = (cookieCounts && sameToken(cookieValue(req.headers.cookie, TOKEN_COOKIE), token)) || sameToken(url.searchParams.get('token') ?? undefined, token);
    if (!ok) return 'Forbidden: missing or wrong access token. Open the address with ?token=... that Roost printed when it started.\n';
    return null;
  };

  const send = (res: http.ServerResponse, status: number, type: string, body: string | Buffer, extra: Record<string, string> = {}): void => {
    res.writeHead(status, { ...securityHeaders(), 'Content-Type': type, 'Content-Length': String(Buffer.byteLength(body)), ...extra });
    res.end(body);
  };

  const sendJson = (res: http.ServerResponse, status: number, value: unknown): void => {
    send(res, status, 'application/json; charset=utf-8', JSON.stringify(value), { 'Cache-Control': 'no-store' });
  };

  const readBody = (req: http.IncomingMessage): Promise<Buffer> => new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > MAX_BODY) { reject(new ApiCallError('TOO_LARGE', `request body larger than ${MAX_BODY} bytes`)); return; }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new ApiCallError('TOO_LARGE', `request body larger than ${MAX_BODY} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });

  const statusFor = (code: string): number => {
    switch (code) {
      case 'INVALID': return 400;
      case 'UNKNOWN_METHOD': return 404;
      case 'TOO_LARGE': return 413;
      case 'UNSUPPORTED_MEDIA_TYPE': return 415;
      case 'UNAVAILABLE': return 503;
      case 'START_FAILED': return 409;
      default: return 500;
    }
  };

  const handleApi = async (req: http.IncomingMessage, res: http.ServerResponse, method: string): Promise<void> => {
    try {
      if (req.method !== 'POST') {
        res.setHeader('Allow', 'POST');
        sendJson(res, 405, { ok: false, error: { code: 'METHOD_NOT_ALLOWED', message: 'use POST' } });
        return;
      }
      const body = await readBody(req);
      let params: unknown;
      if (body.length && body.toString('utf8').trim()) {
        // JSON only: a cross-site HTML form can send only form encodings and text/plain.
        const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
        if (type !== 'application/json') throw new ApiCallError('UNSUPPORTED_MEDIA_TYPE', 'the body must be JSON (Content-Type: application/json)');
        try {
          params = JSON.parse(body.toString('utf8'));
        } catch {
          throw new ApiCallError('INVALID', 'the body is not valid JSON');
        }
      }
      const result = await service.call(method, params);
      sendJson(res, 200, { ok: true, result });
    } catch (e) {
      const error = toApiError(e);
      sendJson(res, statusFor(error.code), { ok: false, error });
    }
  };

  /** The viewer's downloads: bytes, not JSON (a 25 MB attachment as a JSON array would be ~100 MB). */
  const handleDownload = async (res: http.ServerResponse, url: URL): Promise<void> => {
    try {
      const q = url.searchParams;
      const params: Record<string, unknown> = { user: q.get('user') ?? '', mailbox: q.get('mailbox') ?? '', uid: Number(q.get('uid')) };
      if (q.has('part')) params.part = q.get('part');
      const ref = validateParams('viewerSave', params);
      const file = await service.viewer.download(ref);
      const ascii = file.filename.replace(/[^\x20-\x7e]/g, '_').replace(/["\\]/g, '_');
      res.writeHead(200, {
        ...securityHeaders(),
        // Octet-stream whatever the part claims: hostile HTML or SVG must never render on this origin.
        'Content-Type': 'application/octet-stream',
        'Content-Disposition': `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(file.filename)}`,
        'Content-Length': String(file.data.byteLength),
        'Cache-Control': 'no-store',
      });
      res.end(Buffer.from(file.data.buffer, file.data.byteOffset, file.data.byteLength));
    } catch (e) {
      const error = toApiError(e);
      send(res, error.code === 'INVALID' ? 400 : error.code === 'NO_MESSAGE' || error.code === 'NO_PART' ? 404 : 500,
        'text/plain; charset=utf-8', `${error.message}\n`, { 'Cache-Control': 'no-store' });
    }
  };

  const serveStatic = (res: http.ServerResponse, pathname: string): void => {
    let decoded: string;
    try {
      decoded = decodeURIComponent(pathname);
    } catch {
      send(res, 400, 'text/plain; charset=utf-8', 'Bad request\n');
      return;
    }
    const index = path.join(rendererDir, 'index.html');
    if (!fs.existsSync(index)) {
      send(res, 200, 'text/html; charset=utf-8', NOT_BUILT, { 'Cache-Control': 'no-store' });
      return;
    }
    let file = path.resolve(rendererDir, '.' + path.posix.normalize('/' + decoded));
    // Never outside the build directory, whatever the path says.
    if (file !== rendererDir && !file.startsWith(rendererDir + path.sep)) {
      send(res, 403, 'text/plain; charset=utf-8', 'Forbidden\n');
      return;
    }
    let st: fs.Stats | undefined;
    try { st = fs.statSync(file); } catch { st = undefined; }
    if (st?.isDirectory()) {
      file = path.join(file, 'index.html');
      try { st = fs.statSync(file); } catch { st = undefined; }
    }
    if (!st || !st.isFile()) {
      // Client-side routes (/settings) get the app; missing assets (/x.js) a plain 404.
      if (path.extname(decoded)) { send(res, 404, 'text/plain; charset=utf-8', 'Not found\n'); return; }
      file = index;
    }
    const type = MIME[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
    // Hashed assets may be cached; index.html must not (it names the current assets).
    const cache = file === index || file.endsWith('.html') ? 'no-store' : 'private, max-age=3600';
    send(res, 200, type, fs.readFileSync(file), { 'Cache-Control': cache });
  };

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    // The printed address: trade the token in the URL for a cookie and drop it from the address bar.
    if (req.method === 'GET' && url.pathname === '/' && url.searchParams.has('token')) {
      const bad = refusal(req, url, false);
      if (bad) { send(res, 403, 'text/plain; charset=utf-8', bad); return; }
      res.writeHead(302, {
        ...securityHeaders(),
        'Set-Cookie': `${TOKEN_COOKIE}=${token}; HttpOnly; SameSite=Strict; Path=/`,
        Location: '/',
        'Cache-Control': 'no-store',
        'Content-Length': '0',
      });
      res.end();
      return;
    }
    const why = refusal(req, url);
    if (why) { send(res, 403, 'text/plain; charset=utf-8', why); return; }
    if (url.pathname === '/api/events') {
      send(res, 426, 'text/plain; charset=utf-8', 'This address is a WebSocket.\n', { Upgrade: 'websocket' });
      return;
    }
    if (url.pathname === '/api/download' && req.method === 'GET') {
      void handleDownload(res, url);
      return;
    }
    if (url.pathname.startsWith('/api/')) {
      void handleApi(req, res, url.pathname.slice('/api/'.length));
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, 405, 'text/plain; charset=utf-8', 'Method not allowed\n', { Allow: 'GET' });
      return;
    }
    serveStatic(res, url.pathname);
  });
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;

  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  const clients = new Set<WebSocket>();
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const why = url.pathname !== '/api/events' ? 'Not found\n' : refusal(req, url);
    if (why) {
      const status = why === 'Not found\n' ? '404 Not Found' : '403 Forbidden';
      socket.end(`HTTP/1.1 ${status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(why)}\r\nConnection: close\r\n\r\n${why}`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      clients.add(ws);
      const sendEvent = (event: ApiEvent): void => {
        if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(event));
      };
      sendEvent({ type: 'status', status: service.status() });
      const off = service.onEvent(sendEvent);
      // The socket is one-way (server -> page); anything the page sends is ignored.
      ws.on('close', () => { off(); clients.delete(ws); });
      ws.on('error', () => { off(); clients.delete(ws); });
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  port = (server.address() as net.AddressInfo).port;

  let closed: Promise<void> | undefined;
  return {
    port,
    token,
    url: `http://127.0.0.1:${port}/?token=${token}`,
    close(): Promise<void> {
      closed ??= new Promise<void>((resolve) => {
        for (const ws of clients) ws.terminate();
        wss.close();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
  };
}
