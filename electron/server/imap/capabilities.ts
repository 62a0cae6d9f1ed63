// CAPABILITY lists, shaped like Dovecot's for the seed's setup. Only what is implemented
// is advertised: each name here has its command or behaviour in commands/.

import type { Session } from './session.js';

/** Before login: what a client needs to log in (RFC 3501 6.1.1, RFC 4959 SASL-IR, RFC 7888 LITERAL+). */
export function capabilities(session: Session): string[] {
  const caps = ['IMAP4rev1', 'SASL-IR', 'ID', 'ENABLE', 'IDLE', 'LITERAL+'];
  if (session.state === 'notauth') {
    if (!session.plaintextAllowed) {
      // RFC 3501 6.2.3: LOGIN is refused, so say so; PLAIN/LOGIN would send the password in clear.
      caps.push('LOGINDISABLED');
    } else {
      for (const mech of session.server.settings.auth_mechanisms) caps.push(`AUTH=${mech.toUpperCase()}`);
    }
    return caps;
  }
  return [...caps, 'NAMESPACE', 'UNSELECT', 'UIDPLUS', 'MOVE', 'CHILDREN', 'SPECIAL-USE'];
}
