// The `delivered` event and its log line, for messages that arrived in a mailbox from outside
// Roost (see storage/maildir/mailbox.ts onArrivals).
//
// From and Subject are decoded for display (RFC 2047 words, raw UTF-8) with the mime module's
// header decoding; size is RFC822.SIZE (what FETCH reports), deliveredAt the file's mtime
// (INTERNALDATE: when the MTA wrote it), noticedAt when the watcher's sync found it.

import type { ServerEvent } from '../../shared/events.js';
import { decodeHeaderValue, parseHeader } from '../mime/header.js';
import { sanitizeLogValue } from '../log.js';

/** Enough of the file for From/Subject/Message-ID behind a long Received: chain. */
export const HEADER_PEEK_BYTES = 32 * 1024;

export interface HeaderFacts {
  from: string;
  subject: string;
  messageId: string;
}

/** From, Subject and Message-ID of a message's first bytes (a cut-off header is fine). */
export function headerFacts(head: Buffer): HeaderFacts {
  // The header ends at the first empty line; what follows is body.
  let end = head.length;
  const lf = head.indexOf('\n\n');
  const crlf = head.indexOf('\r\n\r\n');
  if (lf >= 0) end = lf + 1;
  if (crlf >= 0 && crlf + 2 < end) end = crlf + 2;
  const facts: HeaderFacts = { from: '', subject: '', messageId: '' };
  for (const f of parseHeader(head.subarray(0, end), true)) {
    const name = f.name.trim().toLowerCase();
    if (name === 'from' && !facts.from) facts.from = display(f.value);
    else if (name === 'subject' && !facts.subject) facts.subject = display(f.value);
    else if (name === 'message-id' && !facts.messageId) facts.messageId = f.value.toString('latin1').trim();
  }
  return facts;
}

/** One line for a notification: decoded, folding and runs of blanks collapsed to one space. */
function display(value: Buffer): string {
  return decodeHeaderValue(value).replace(/\s+/g, ' ').trim();
}

export interface Delivery {
  user: string;
  mailbox: string;
  uid: number;
  size: number;
  deliveredAt: number;
  noticedAt: number;
  facts: HeaderFacts;
}

export function deliveredEvent(d: Delivery): ServerEvent {
  return {
    type: 'delivered',
    user: d.user,
    mailbox: d.mailbox,
    uid: d.uid,
    from: d.facts.from,
    subject: d.facts.subject,
    size: d.size,
    deliveredAt: d.deliveredAt,
    noticedAt: d.noticedAt,
  };
}

/**
 * In the style of Dovecot's mail_log plugin (`box=INBOX, uid=5, msgid=<..>, size=.., from=.., subject=..`),
 * introduced like its delivery lines (`msgid=<..>: saved mail to INBOX`).
 */
export function deliveryLogLine(d: Delivery): string {
  const id = d.facts.messageId ? sanitizeLogValue(d.facts.messageId, 200) : '(none)';
  const latency = Math.max(0, d.noticedAt - d.deliveredAt);
  return (
    `msgid=${id}: new mail in ${sanitizeLogValue(d.mailbox, 200)}: box=${sanitizeLogValue(d.mailbox, 200)}, uid=${d.uid}, size=${d.size}, ` +
    `from=${sanitizeLogValue(d.facts.from, 200)}, subject=${sanitizeLogValue(d.facts.subject, 200)}, noticed after ${latency} ms`
  );
}
