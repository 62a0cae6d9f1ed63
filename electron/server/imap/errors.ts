// The three kinds of failure a command can end in, caught in one place (session.ts):
// - ImapSyntaxError (parser.ts): the client sent something malformed -> `tag BAD text`.
// - ImapNo: a user-level refusal -> `tag NO [CODE] text`. StorageError maps to this.
// - anything else: a server bug -> `tag NO` with a generic text, and the details in the log.

import { StorageError } from '../storage/types.js';

export class ImapNo extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'ImapNo';
  }
}

/** Storage error -> IMAP response code and text (RFC 5530 codes, Dovecot's wording). */
export function storageErrorToNo(err: StorageError, mailbox?: string): ImapNo {
  const name = mailbox ?? '';
  switch (err.code) {
    case 'NONEXISTENT':
      return new ImapNo(err.message || `Mailbox doesn't exist: ${name}`, 'NONEXISTENT');
    case 'TRYCREATE':
      return new ImapNo(err.message || `Mailbox doesn't exist: ${name}`, 'TRYCREATE');
    case 'ALREADYEXISTS':
      return new ImapNo(err.message || 'Mailbox already exists', 'ALREADYEXISTS');
    case 'NOPERM':
      return new ImapNo(err.message || 'Permission denied', 'NOPERM');
    case 'CANNOT':
      return new ImapNo(err.message || 'Operation not possible', 'CANNOT');
    case 'LIMIT':
      return new ImapNo(err.message || 'Limit reached', 'LIMIT');
    case 'INUSE':
      return new ImapNo(err.message || 'Mailbox is busy, try again later', 'INUSE');
    case 'EXPUNGEISSUED':
      return new ImapNo(err.message || 'Some of the requested messages no longer exist.', 'EXPUNGEISSUED');
    case 'SERVERBUG':
    default:
      return new ImapNo('Internal error occurred. Refer to server log for more information.', 'SERVERBUG');
  }
}
