// When plaintext authentication is allowed, and Dovecot's replies when it is not.
// Dovecot treats a connection as secured when it uses TLS or when the remote IP equals the local IP
// (client on the same machine, e.g. 127.0.0.1 -> 127.0.0.1). disable_plaintext_auth = yes only blocks
// LOGIN / AUTHENTICATE PLAIN on connections that are not secured. Observed with Dovecot 2.3.19.1: a
// client at 127.0.0.2 talking to 127.0.0.1 is not secured; 127.0.0.1 -> 127.0.0.1 is.
import type { ServerSettings } from '../../shared/settings-types.js';
import { formatIp } from '../log.js';

export function isSecuredConnection(remoteAddress: string, localAddress: string, tls = false): boolean {
  if (tls) return true;
  const r = formatIp(remoteAddress);
  return r !== '' && r === formatIp(localAddress);
}

/** True when LOGIN and the PLAIN/LOGIN mechanisms may be used on this connection. */
export function plaintextAuthAllowed(settings: ServerSettings, secured: boolean): boolean {
  return !settings.disable_plaintext_auth || secured;
}

/** Dovecot 2.3's replies (observed), for the IMAP layer. */
export const AUTH_REPLIES = {
  /** Tagged reply to any failed LOGIN/AUTHENTICATE, whatever the reason. */
  failed: 'NO [AUTHENTICATIONFAILED] Authentication failed.',
  /** Untagged, before the tagged NO, when a LOGIN command arrives on an unsecured connection with plaintext disabled. */
  plaintextAlert: '* BAD [ALERT] Plaintext authentication not allowed without SSL/TLS, but your client did it anyway. If anyone was listening, the password was exposed.',
  /** Tagged reply to LOGIN when plaintext is disabled. */
  loginDisallowed: 'NO [PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.',
  /** Tagged reply to AUTHENTICATE PLAIN/LOGIN when plaintext is disabled. */
  authenticateDisallowed: 'NO [PRIVACYREQUIRED] Plaintext authentication disabled.',
  /** Capability replacing AUTH=... when plaintext is disabled. */
  loginDisabledCapability: 'LOGINDISABLED',
} as const;
