// FETCH ENVELOPE (RFC 3501 section 7.4.2), rendered like Dovecot 2.3:
//   (date subject from sender reply-to to cc bcc in-reply-to message-id)
// Strings are the raw header text, not RFC 2047-decoded. Date, In-Reply-To and Message-ID
// are unfolded (CR/LF removed); the subject and display names are whitespace-normalized
// text for humans (see quote.ts). When a field repeats, the last date/subject/id wins and
// the address lists of all occurrences are joined. Sender and Reply-To default to From.

import { parseAddressList, type Address } from './address.js';
import { FieldNames, fieldValue, scanNamedFields } from './header.js';
import { NUL_REPLACEMENT, humanStr, nolf, nstr } from './quote.js';

const enum F {
  Date,
  Subject,
  From,
  Sender,
  ReplyTo,
  To,
  Cc,
  Bcc,
  InReplyTo,
  MessageId,
}

const FIELDS = new Map<string, F>([
  ['date', F.Date],
  ['subject', F.Subject],
  ['from', F.From],
  ['sender', F.Sender],
  ['reply-to', F.ReplyTo],
  ['to', F.To],
  ['cc', F.Cc],
  ['bcc', F.Bcc],
  ['in-reply-to', F.InReplyTo],
  ['message-id', F.MessageId],
]);

/** Lowercased names of the header fields ENVELOPE uses. */
export const ENVELOPE_FIELDS: ReadonlySet<string> = new Set(FIELDS.keys());
/** The same names, matched on raw bytes; index = F. */
const FIELD_NAMES = new FieldNames([...FIELDS.keys()]);

function addresses(list: Address[] | null): string {
  if (list === null || list.length === 0) return 'NIL';
  let out = '(';
  for (const a of list) {
    out += '(' + (a.name === null ? 'NIL' : humanStr(a.name)) + ' ' + nstr(a.route) + ' ' + nstr(a.mailbox) + ' ' + nstr(a.domain) + ')';
  }
  return out + ')';
}

function text(buf: Buffer): string {
  const s = buf.toString('latin1');
  return s.indexOf('\0') >= 0 ? s.replace(/\0/g, NUL_REPLACEMENT) : s;
}

/** The ENVELOPE list "(...)" of a message header block (raw bytes, LF or CRLF). */
export function envelope(header: Buffer): string {
  const strings: (string | null)[] = [null, null, null, null, null, null, null, null, null, null];
  const lists: (Address[] | null)[] = [null, null, null, null, null, null, null, null, null, null];
  const { fields, ids } = scanNamedFields(header, FIELD_NAMES);
  for (let k = 0; k < fields.length; k++) {
    const field = ids[k] as F;
    const value = fieldValue(header, fields[k]);
    if (field === F.Date || field === F.Subject || field === F.InReplyTo || field === F.MessageId) {
      strings[field] = text(value);
    } else {
      const found = parseAddressList(value);
      if (found.length > 0) lists[field] = lists[field] === null ? found : lists[field]!.concat(found);
    }
  }
  const str = (s: string | null): string => (s === null ? 'NIL' : nstr(nolf(s)));
  const subject = strings[F.Subject];
  return (
    '(' +
    str(strings[F.Date]) +
    ' ' +
    (subject === null ? 'NIL' : humanStr(subject)) +
    ' ' +
    addresses(lists[F.From]) +
    ' ' +
    addresses(lists[F.Sender] ?? lists[F.From]) +
    ' ' +
    addresses(lists[F.ReplyTo] ?? lists[F.From]) +
    ' ' +
    addresses(lists[F.To]) +
    ' ' +
    addresses(lists[F.Cc]) +
    ' ' +
    addresses(lists[F.Bcc]) +
    ' ' +
    str(strings[F.InReplyTo]) +
    ' ' +
    str(strings[F.MessageId]) +
    ')'
  );
}
