// The command table: one entry per command name, with the states it is allowed in
// (checked once, in Session.dispatch) and its handler.

import type { CommandSpec } from '../session.js';
import { CAPABILITY, NOOP, LOGOUT, ID, ENABLE } from './any.js';
import { LOGIN, AUTHENTICATE } from './auth.js';
import { SELECT, EXAMINE, CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, LIST, LSUB, STATUS, NAMESPACE } from './mailboxes.js';
import { APPEND, CHECK, CLOSE, UNSELECT, EXPUNGE, UID_EXPUNGE, STORE, COPY, MOVE } from './messages.js';
import { FETCH, UID_FETCH } from './fetch.js';
import { SEARCH, UID_SEARCH } from './search.js';
import { IDLE } from './idle.js';

export const COMMANDS = new Map<string, CommandSpec>([
  // any state (RFC 3501 6.1)
  ['CAPABILITY', CAPABILITY],
  ['NOOP', NOOP],
  ['LOGOUT', LOGOUT],
  ['ID', ID],
  // not authenticated (6.2)
  ['LOGIN', LOGIN],
  ['AUTHENTICATE', AUTHENTICATE],
  // authenticated (6.3)
  ['ENABLE', ENABLE],
  ['SELECT', SELECT],
  ['EXAMINE', EXAMINE],
  ['CREATE', CREATE],
  ['DELETE', DELETE],
  ['RENAME', RENAME],
  ['SUBSCRIBE', SUBSCRIBE],
  ['UNSUBSCRIBE', UNSUBSCRIBE],
  ['LIST', LIST],
  ['LSUB', LSUB],
  ['STATUS', STATUS],
  ['APPEND', APPEND],
  ['NAMESPACE', NAMESPACE],
  ['IDLE', IDLE],
  // selected (6.4)
  ['CHECK', CHECK],
  ['CLOSE', CLOSE],
  ['UNSELECT', UNSELECT],
  ['EXPUNGE', EXPUNGE],
  ['SEARCH', SEARCH],
  ['FETCH', FETCH],
  ['STORE', { ...STORE }],
  ['COPY', COPY],
  ['MOVE', MOVE],
  ['UID SEARCH', UID_SEARCH],
  ['UID FETCH', UID_FETCH],
  ['UID STORE', { ...STORE, expungeOk: true }],
  ['UID COPY', COPY],
  ['UID MOVE', MOVE],
  ['UID EXPUNGE', UID_EXPUNGE],
]);
