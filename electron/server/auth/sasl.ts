// SASL for IMAP AUTHENTICATE (RFC 3501 6.2.2, SASL-IR RFC 4959): PLAIN (RFC 4616) and LOGIN
// (draft-murchison-sasl-login: the server prompts "Username:" then "Password:", base64-encoded).
// Everything here is pure: the IMAP layer sends challenges as `+ <challenge>`, handles the client's "*"
// (cancel) itself, and checks the credentials with checkUsername/verifyPassword.

/** base64("Username:") and base64("Password:"), the prompts Dovecot sends for AUTH=LOGIN. */
export const SASL_LOGIN_USERNAME_CHALLENGE = 'VXNlcm5hbWU6';
export const SASL_LOGIN_PASSWORD_CHALLENGE = 'UGFzc3dvcmQ6';

export interface SaslCredentials {
  /** Authorization identity: '' or equal to authcid (Roost has no master users). */
  authzid: string;
  /** Authentication identity: the username. */
  authcid: string;
  password: string;
}

export type SaslStep =
  | { type: 'challenge'; challenge: string }
  | { type: 'done'; credentials: SaslCredentials }
  | { type: 'error'; error: string };

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Strict base64 (RFC 4648, padded) to bytes; null when malformed. "=" alone is SASL-IR's empty response. */
export function decodeSaslBase64(text: string): Buffer | null {
  const t = text.trim();
  if (t === '=') return Buffer.alloc(0);
  if (!BASE64.test(t)) return null;
  return Buffer.from(t, 'base64');
}

function decodeText(bytes: Uint8Array): string | null {
  try {
    return utf8.decode(bytes);
  } catch {
    return null;
  }
}

/** Decodes a PLAIN response: base64("authzid\0authcid\0password"). */
export function decodeSaslPlain(b64: string): SaslCredentials | { error: string } {
  const bytes = decodeSaslBase64(b64);
  if (!bytes) return { error: 'invalid base64 data' };
  const parts: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === 0) { parts.push(bytes.subarray(start, i)); start = i + 1; }
  }
  parts.push(bytes.subarray(start));
  if (parts.length !== 3) return { error: 'invalid input (expected authzid NUL authcid NUL password)' };
  const [authzid, authcid, password] = parts.map(decodeText);
  if (authzid === null || authcid === null || password === null) return { error: 'invalid UTF-8 in input' };
  if (!authcid) return { error: 'empty authcid' };
  if (!password) return { error: 'empty password' };
  if (authzid && authzid !== authcid) return { error: 'authzid differs from authcid (master user logins are not supported)' };
  return { authzid, authcid, password };
}

export interface SaslExchange {
  readonly mechanism: 'PLAIN' | 'LOGIN';
  /** First step: with the SASL-IR initial response if the client sent one. */
  start(initialResponse?: string): SaslStep;
  /** Each later client line (base64), after the IMAP layer has ruled out "*". */
  next(response: string): SaslStep;
}

class PlainExchange implements SaslExchange {
  readonly mechanism = 'PLAIN' as const;
  private finished = false;
  start(initialResponse?: string): SaslStep {
    // No initial response: an empty challenge asks for the credentials ("+ ").
    return initialResponse === undefined ? { type: 'challenge', challenge: '' } : this.next(initialResponse);
  }
  next(response: string): SaslStep {
    if (this.finished) return { type: 'error', error: 'unexpected response after the exchange ended' };
    this.finished = true;
    const r = decodeSaslPlain(response);
    return 'error' in r ? { type: 'error', error: `plain: ${r.error}` } : { type: 'done', credentials: r };
  }
}

class LoginExchange implements SaslExchange {
  readonly mechanism = 'LOGIN' as const;
  private username: string | undefined;
  private finished = false;
  start(initialResponse?: string): SaslStep {
    return initialResponse === undefined ? { type: 'challenge', challenge: SASL_LOGIN_USERNAME_CHALLENGE } : this.next(initialResponse);
  }
  next(response: string): SaslStep {
    if (this.finished) return { type: 'error', error: 'unexpected response after the exchange ended' };
    const bytes = decodeSaslBase64(response);
    const text = bytes ? decodeText(bytes) : null;
    if (text === null) { this.finished = true; return { type: 'error', error: 'login: invalid base64 or UTF-8 data' }; }
    if (this.username === undefined) {
      if (!text || text.includes('\0')) { this.finished = true; return { type: 'error', error: 'login: invalid username' }; }
      this.username = text;
      return { type: 'challenge', challenge: SASL_LOGIN_PASSWORD_CHALLENGE };
    }
    this.finished = true;
    if (!text || text.includes('\0')) return { type: 'error', error: 'login: invalid password' };
    return { type: 'done', credentials: { authzid: '', authcid: this.username, password: text } };
  }
}

/** A fresh exchange for the mechanism named in AUTHENTICATE (case-insensitive); null for unknown names. */
export function createSaslExchange(mechanism: string): SaslExchange | null {
  switch (mechanism.toUpperCase()) {
    case 'PLAIN': return new PlainExchange();
    case 'LOGIN': return new LoginExchange();
    default: return null;
  }
}
