// Not-authenticated state: LOGIN (RFC 3501 6.2.3) and AUTHENTICATE (6.2.2) with the PLAIN
// (RFC 4616) and LOGIN mechanisms, SASL-IR (RFC 4959).

import type { CommandContext, CommandSpec, Session } from '../session.js';
import { ImapNo } from '../errors.js';
import { ImapSyntaxError } from '../parser.js';
import { capabilities } from '../capabilities.js';
import { loginMessage, sanitizeLogValue } from '../../log.js';
import { AUTH_REPLIES, decodeSaslBase64, decodeSaslPlain, SASL_LOGIN_PASSWORD_CHALLENGE, SASL_LOGIN_USERNAME_CHALLENGE } from '../../auth/index.js';

const FAILED = 'Authentication failed.';

async function finishLogin(session: Session, username: string, password: string, method: string): Promise<string> {
  const { server } = session;
  if (session.authAttempts === 0) session.firstAuthAttemptAt = Date.now();
  session.authAttempts++;
  session.lastAuthUser = username;
  session.lastAuthMethod = method;
  const remote = session.io.remoteAddress;
  const result = await server.authenticate(username, password);
  if (!result.ok) {
    server.log('info', 'auth', `static(${sanitizeLogValue(username)},${remote},<${session.id}>): ${result.reason}`);
    server.emit({
      type: 'login-failed',
      session: session.id,
      user: username,
      method,
      remote,
      reason: result.reason,
      time: Date.now(),
    });
    // Dovecot delays every failed answer (auth_failure_delay) to slow down guessing.
    await delay(server.settings.auth_failure_delay * 1000);
    throw new ImapNo(FAILED, 'AUTHENTICATIONFAILED');
  }
  if (!server.acquireUserIp(result.user, remote)) {
    const max = server.settings.mail_max_userip_connections;
    server.log('info', `imap(${result.user})<${session.id}>`, `Disconnected: Maximum number of connections from user+IP exceeded (mail_max_userip_connections=${max})`);
    session.write(`* BYE Maximum number of connections from user+IP exceeded (mail_max_userip_connections=${max})\r\n`);
    session.state = 'logout';
    session.io.close();
    throw new ImapNo('Too many connections.', 'LIMIT');
  }
  let store;
  try {
    store = await server.openStore(result.user);
  } catch (err) {
    server.releaseUserIp(result.user, remote);
    server.log('error', `imap(${result.user})`, `Failed to open mail storage: ${err instanceof Error ? err.message : String(err)}`);
    throw new ImapNo('Temporary authentication failure, try again later.', 'UNAVAILABLE');
  }
  session.user = result.user;
  session.store = store;
  session.countedUserIp = true;
  session.state = 'auth';
  server.log('info', 'imap-login', loginMessage({ ...session.connectionFields(result.user, method), user: result.user, method, mpid: process.pid }));
  server.emit({ type: 'login', session: session.id, user: result.user, method, remote, time: Date.now() });
  return `[CAPABILITY ${capabilities(session).join(' ')}] Logged in`;
}

/** disable_plaintext_auth on a connection that is not secure: refuse as Dovecot does (its exact texts). */
function refusePlaintext(session: Session, username: string, command: 'LOGIN' | 'AUTHENTICATE'): never {
  session.triedDisallowedPlaintext = true;
  session.lastAuthUser = username;
  if (command === 'LOGIN') {
    // The password already crossed the network in clear: tell the user, loudly.
    session.write(`${AUTH_REPLIES.plaintextAlert}\r\n`);
    throw new ImapNo('Plaintext authentication disallowed on non-secure (SSL/TLS) connections.', 'PRIVACYREQUIRED');
  }
  throw new ImapNo('Plaintext authentication disabled.', 'PRIVACYREQUIRED');
}

export const LOGIN: CommandSpec = {
  states: ['notauth'],
  async run({ session, args }: CommandContext) {
    const username = args.astring('user name');
    const password = args.astring('password');
    args.end();
    if (!session.plaintextAllowed) refusePlaintext(session, username, 'LOGIN');
    return finishLogin(session, username, password, 'PLAIN');
  },
};

export const AUTHENTICATE: CommandSpec = {
  states: ['notauth'],
  async run({ session, args }: CommandContext) {
    const mech = args.atom('authentication mechanism').toUpperCase();
    const initial = args.remaining > 0 ? args.astring('initial response') : null;
    args.end();
    const enabled = session.server.settings.auth_mechanisms.map((m) => m.toUpperCase());
    if (!enabled.includes(mech)) throw new ImapNo('Unsupported authentication mechanism.');
    if (!session.plaintextAllowed) refusePlaintext(session, '', 'AUTHENTICATE');
    if (mech === 'PLAIN') {
      const response = initial === null ? await challenge(session, '') : initial;
      const creds = decodeSaslPlain(response);
      // Malformed PLAIN data (or a master-user authzid) is a failed authentication, not a syntax error.
      if ('error' in creds) throw new ImapNo(FAILED, 'AUTHENTICATIONFAILED');
      return finishLogin(session, creds.authcid, creds.password, 'PLAIN');
    }
    // LOGIN: the server asks "Username:" then "Password:", each base64.
    const userB64 = initial === null ? await challenge(session, SASL_LOGIN_USERNAME_CHALLENGE) : initial;
    const user = base64(userB64).toString('utf8');
    const password = base64(await challenge(session, SASL_LOGIN_PASSWORD_CHALLENGE)).toString('utf8');
    return finishLogin(session, user, password, 'LOGIN');
  },
};

/** Sends a continuation and reads the client's base64 line; '*' cancels (RFC 3501 6.2.2). */
async function challenge(session: Session, text: string): Promise<string> {
  session.write(`+ ${text}\r\n`);
  const line = await session.io.readLine();
  if (line === null) throw new ImapNo('Connection closed during authentication.');
  const value = line.toString('latin1');
  if (value === '*') throw new ImapSyntaxError('Authentication aborted by client.');
  return value;
}

function base64(value: string): Buffer {
  const bytes = decodeSaslBase64(value);
  if (!bytes) throw new ImapSyntaxError('Invalid base64 data in continued response');
  return bytes;
}

function delay(ms: number): Promise<void> {
  return ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve();
}
