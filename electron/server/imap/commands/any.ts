// Commands valid in any state: CAPABILITY, NOOP, LOGOUT (RFC 3501 6.1), ID (RFC 2971),
// and ENABLE (RFC 5161, authenticated states).

import type { CommandSpec } from '../session.js';
import { capabilities } from '../capabilities.js';
import { ImapSyntaxError } from '../parser.js';
import { nstring } from '../format.js';

const ANY = ['notauth', 'auth', 'selected'] as const;

export const CAPABILITY: CommandSpec = {
  states: ANY,
  async run({ session, args }) {
    args.end();
    session.write(`* CAPABILITY ${capabilities(session).join(' ')}\r\n`);
    return session.state === 'notauth' ? 'Pre-login capabilities listed, post-login capabilities have more.' : 'Capability completed.';
  },
};

export const NOOP: CommandSpec = {
  states: ANY,
  async run({ session, args }) {
    args.end();
    // NOOP is the client's way to poll: look at the maildir for outside changes.
    if (session.selected) await session.selected.view.sync();
    return 'NOOP completed.';
  },
};

export const LOGOUT: CommandSpec = {
  states: ANY,
  async run({ session, args }) {
    args.end();
    session.write('* BYE Logging out\r\n');
    // The connection closes after the tagged OK is written (Connection.runCommand).
    session.state = 'logout';
    return 'Logout completed.';
  },
};

export const ID: CommandSpec = {
  states: ANY,
  async run({ session, args }) {
    const t = args.next('ID parameters');
    if (t.type === 'list') {
      if (t.items.length % 2 !== 0 || t.items.length > 60) throw new ImapSyntaxError('Invalid ID parameters');
      const fields: string[] = [];
      for (let i = 0; i < t.items.length; i += 2) {
        const k = t.items[i];
        const v = t.items[i + 1];
        if (k.type !== 'string') throw new ImapSyntaxError('Invalid ID parameters');
        const value = v.type === 'string' ? v.value.toString('utf8') : v.type === 'atom' && v.value.toUpperCase() === 'NIL' ? 'NIL' : null;
        if (value === null) throw new ImapSyntaxError('Invalid ID parameters');
        fields.push(`${k.value.toString('utf8').slice(0, 30)}=${value.slice(0, 1024)}`);
      }
      session.server.log('debug', session.logService(), `ID sent: ${fields.join(', ')}`);
    } else if (!(t.type === 'atom' && t.value.toUpperCase() === 'NIL')) {
      throw new ImapSyntaxError('Invalid ID parameters');
    }
    args.end();
    session.write(`* ID (${nstring('name')} ${nstring('Roost')})\r\n`);
    return 'ID completed.';
  },
};

export const ENABLE: CommandSpec = {
  states: ['auth', 'selected'],
  async run({ session, args }) {
    if (args.remaining === 0) throw new ImapSyntaxError('Missing capability to enable');
    while (args.remaining > 0) args.atom('capability');
    // No ENABLE-able extension (CONDSTORE, QRESYNC, UTF8=ACCEPT) is implemented, so none is enabled.
    session.write('* ENABLED\r\n');
    return 'Enabled.';
  },
};
