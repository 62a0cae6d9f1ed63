// "Send a test message" through the relay: hands a generated message to an SMTP server (Postfix on
// 127.0.0.1:25 by default) with nodemailer, then waits for Roost's `delivered` event for it, and
// reports: accepted by the relay (with Postfix's queue id), arrived in the maildir, the time between,
// and the event. Every failure is explained in plain words with what to check (explain.ts).
//
// Matching: the message carries a random token in its Subject, its Message-ID and an X-Roost-Test
// header; `delivered` events carry the decoded subject and the user, so a delivery is this message
// when the user is the recipient and the subject holds the token.
//
// Runs in the main/service process; the caller supplies waitForDelivery, typically on top of the
// supervisor's event stream (see waitForDeliveredEvent). It is called BEFORE the message is sent,
// because Postfix may deliver before its "250 queued" reply reaches us; it must start listening at
// once and resolve with the event, or null when match.timeoutMs has passed or match.signal aborts.

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ServerEvent } from '../shared/events.js';
import type { ServerSettings } from '../shared/settings-types.js';
import { resolveUser } from '../server/auth/user.js';
import { DEFAULT_TEST_FROM, newToken } from './local-drop.js';
import { explainDeliveryTimeout, explainSendError, type RelayFailure } from './explain.js';

export type DeliveredEvent = Extract<ServerEvent, { type: 'delivered' }>;

export interface DeliveryMatch {
  /** The recipient as given, and as Roost names the user (lowercased, like the IMAP login). */
  to: string;
  user: string;
  token: string;
  subject: string;
  messageId: string;
  /** How long the relay test waits for the delivery. */
  timeoutMs: number;
  /** Aborted when the wait is over (the send failed, or the test gave up): stop listening. */
  signal: AbortSignal;
  /** True for the `delivered` event of this message. */
  test(event: ServerEvent): event is DeliveredEvent;
}

export interface RelayOptions {
  /** SMTP server (default 127.0.0.1) and port (default 25). */
  host?: string;
  port?: number;
  from?: string;
  to: string;
  subject?: string;
  body?: string;
  /** How long to wait for the delivery after the relay accepted the message (default 30 s). */
  timeoutMs?: number;
  /** How long to wait for the connection and the greeting (default 10 s). */
  connectTimeoutMs?: number;
  waitForDelivery: (match: DeliveryMatch) => Promise<DeliveredEvent | null>;
  /** Roost's settings: to say where the message was expected when it does not arrive. */
  settings?: ServerSettings;
  /** Postfix's side, from the Postfix import: virtual_mailbox_base (and the map file, if known). */
  postfix?: { virtual_mailbox_base?: string; virtual_mailbox_maps?: string };
}

export interface RelaySuccess {
  ok: true;
  /** Recipients the relay accepted, and its final reply ("250 2.0.0 Ok: queued as 4Xyz"). */
  accepted: string[];
  response: string;
  /** Postfix's queue id from that reply, for grepping the mail log. */
  queueId?: string;
  /** When the relay said 250 (ms), when the file was written into the maildir, when Roost noticed it. */
  acceptedAt: number;
  arrivedAt: number;
  noticedAt: number;
  /** arrivedAt - acceptedAt (0 when the file's time is a hair earlier than the reply's). */
  elapsedMs: number;
  delivered: DeliveredEvent;
  messageId: string;
  token: string;
  subject: string;
}

export type RelayResult = RelaySuccess | (RelayFailure & { messageId: string; token: string; subject: string });

/** Postfix's reply to the end of DATA: "250 2.0.0 Ok: queued as 4Xyz1234"; other MTAs say other things. */
export function parseQueueId(response: string | undefined): string | undefined {
  if (!response) return undefined;
  const m = /queued as ([A-Za-z0-9]+)/i.exec(response) ?? /\b(?:id|queue id)[= ]([A-Za-z0-9.-]+)/i.exec(response);
  return m ? m[1] : undefined;
}

function matcher(to: string, user: string, token: string, subject: string, messageId: string, timeoutMs: number, signal: AbortSignal): DeliveryMatch {
  return {
    to, user, token, subject, messageId, timeoutMs, signal,
    test: (event: ServerEvent): event is DeliveredEvent =>
      event.type === 'delivered' && event.user.toLowerCase() === user && event.subject.includes(token),
  };
}

/**
 * waitForDelivery on top of an event subscription (Supervisor.onEvent returns its unsubscribe):
 * resolves with the first matching `delivered` event, or null on timeout or abort.
 */
export function waitForDeliveredEvent(subscribe: (listener: (e: ServerEvent) => void) => () => void, match: DeliveryMatch): Promise<DeliveredEvent | null> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (value: DeliveredEvent | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      unsubscribe();
      match.signal.removeEventListener('abort', onAbort);
      resolve(value);
    };
    const onAbort = () => finish(null);
    const unsubscribe = subscribe((e) => {
      if (match.test(e)) finish(e);
    });
    const timer = setTimeout(() => finish(null), match.timeoutMs);
    if (match.signal.aborted) finish(null);
    else match.signal.addEventListener('abort', onAbort);
  });
}

/**
 * Looks in the maildir for the test message (new/ and cur/, files written since `since`): tells
 * "delivered but Roost did not notice" apart from "not delivered here".
 */
export async function findInMaildir(maildir: string, token: string, since: number): Promise<string | null> {
  for (const sub of ['new', 'cur']) {
    let names: string[];
    try {
      names = await fs.readdir(path.join(maildir, sub));
    } catch {
      continue;
    }
    for (const name of names) {
      const file = path.join(maildir, sub, name);
      try {
        const st = await fs.stat(file);
        if (st.mtimeMs < since - 5000 || st.size > 1024 * 1024) continue;
        const head = await fs.readFile(file);
        if (head.includes(token)) return file;
      } catch {
        // moved or gone meanwhile
      }
    }
  }
  return null;
}

/** Sends the test message and waits for its delivery (see the top of the file). Never throws for mail trouble. */
export async function sendViaRelay(options: RelayOptions): Promise<RelayResult> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 25;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
  const from = options.from ?? DEFAULT_TEST_FROM;
  const to = options.to.trim();
  const token = newToken();
  const subject = `${options.subject ?? 'Roost relay test'} [${token}]`;
  const messageId = `<roost-test-${token}@${os.hostname() || 'localhost'}>`;
  const user = to.toLowerCase();
  const ids = { messageId, token, subject };

  const abort = new AbortController();
  const match = matcher(to, user, token, subject, messageId, timeoutMs, abort.signal);
  // Listening starts now: Postfix may deliver before its reply to DATA reaches us.
  const arrival = options.waitForDelivery(match).catch(() => null);

  // nodemailer is loaded on first use: a server that never sends a test message keeps it out of memory.
  const { default: nodemailer } = await import('nodemailer');
  const transport = nodemailer.createTransport({
    host,
    port,
    secure: false,
    // A local Postfix offers STARTTLS with a self-signed certificate: use it, do not verify it.
    tls: { rejectUnauthorized: false },
    connectionTimeout: connectTimeoutMs,
    greetingTimeout: connectTimeoutMs,
    socketTimeout: Math.max(connectTimeoutMs, 30_000),
    name: os.hostname() || 'localhost',
  });
  let info: { accepted: (string | { address: string })[]; response: string };
  let acceptedAt: number;
  try {
    info = await transport.sendMail({
      from,
      to,
      subject,
      messageId,
      headers: { 'X-Roost-Test': token },
      text: options.body ?? `This is a test message Roost sent through ${host}:${port} to ${to} (token ${token}).\n`,
    });
    acceptedAt = Date.now();
  } catch (err) {
    // Tell the waiter to stop listening; not awaited, so a waiter that ignores the signal cannot hang us.
    abort.abort();
    return { ...explainSendError(err, { host, port, to, connectTimeoutMs }), ...ids };
  } finally {
    transport.close();
  }
  const queueId = parseQueueId(info.response);
  const accepted = info.accepted.map((a) => (typeof a === 'string' ? a : a.address));

  // The caller's wait should end by itself; this timer makes sure a misbehaving one cannot hang us.
  let guard: NodeJS.Timeout | undefined;
  const delivered = await Promise.race([
    arrival,
    new Promise<null>((resolve) => (guard = setTimeout(() => resolve(null), timeoutMs + 1000))),
  ]);
  clearTimeout(guard);
  abort.abort();

  if (!delivered) {
    let expectedMaildir: string | undefined;
    try {
      if (options.settings) expectedMaildir = resolveUser(options.settings, to).maildir;
    } catch {
      expectedMaildir = undefined;
    }
    const foundAt = expectedMaildir ? await findInMaildir(expectedMaildir, token, acceptedAt) : null;
    return {
      ...explainDeliveryTimeout({ host, port, to, timeoutMs, queueId, response: info.response, acceptedAt, settings: options.settings, postfix: options.postfix, expectedMaildir, foundAt }),
      ...ids,
    };
  }
  return {
    ok: true,
    accepted,
    response: info.response,
    ...(queueId ? { queueId } : {}),
    acceptedAt,
    arrivedAt: delivered.deliveredAt,
    noticedAt: delivered.noticedAt,
    elapsedMs: Math.max(0, delivered.deliveredAt - acceptedAt),
    delivered,
    ...ids,
  };
}
