// Authenticated-state mailbox commands (RFC 3501 6.3): SELECT, EXAMINE, CREATE, DELETE,
// RENAME, SUBSCRIBE, UNSUBSCRIBE, LIST, LSUB, STATUS; NAMESPACE (RFC 2342).
// Names travel in modified UTF-7 (RFC 3501 5.1.3) and are UTF-8 inside Roost; the hierarchy
// separator is '.', as in a Dovecot Maildir++ namespace.

import type { CommandContext, CommandSpec, Session } from '../session.js';
import type { MailboxListEntry, MailStore } from '../../storage/types.js';
import { StorageError } from '../../storage/types.js';
import { ImapNo } from '../errors.js';
import { ImapSyntaxError } from '../parser.js';
import { astring, list } from '../format.js';
import { encodeMutf7 } from '../../storage/mutf7.js';
import { mailboxName } from '../args.js';

export const SEP = '.';
const AUTHED = ['auth', 'selected'] as const;

function store(session: Session): MailStore {
  if (!session.store) throw new ImapNo('Not logged in.');
  return session.store;
}

/** A mailbox name as it goes on the wire: mUTF-7, quoted when needed. */
export function wireName(name: string): string {
  return astring(encodeMutf7(name));
}

function checkName(name: string): string {
  if (name === '') throw new ImapNo('Invalid mailbox name: empty', 'CANNOT');
  if (name.length > 255) throw new ImapNo('Mailbox name too long', 'CANNOT');
  return name;
}

async function openSelected(ctx: CommandContext, readOnly: boolean): Promise<string> {
  const { session, args } = ctx;
  const name = checkName(args.mailbox());
  args.end();
  // A failed SELECT leaves no mailbox selected (RFC 3501 6.3.1).
  await session.unselect();
  const view = await store(session).open(name, { readOnly });
  const sel = await session.select(view);
  // Like Dovecot, FLAGS names the keywords messages carry, not every name ever defined.
  const flags = ['\\Answered', '\\Flagged', '\\Deleted', '\\Seen', '\\Draft', ...sel.announcedKeywords];
  let out = `* FLAGS ${list(flags)}\r\n`;
  if (readOnly) {
    out += '* OK [PERMANENTFLAGS ()] Read-only mailbox.\r\n';
  } else {
    out += `* OK [PERMANENTFLAGS ${list([...flags, '\\*'])}] Flags permitted.\r\n`;
  }
  out += `* ${sel.exists} EXISTS\r\n* ${sel.recent} RECENT\r\n`;
  for (let i = 0; i < sel.exists; i++) {
    const meta = sel.metaAt(i);
    if (meta && !meta.flags.includes('\\Seen')) {
      out += `* OK [UNSEEN ${i + 1}] First unseen.\r\n`;
      break;
    }
  }
  out += `* OK [UIDVALIDITY ${view.uidValidity}] UIDs valid\r\n`;
  out += `* OK [UIDNEXT ${view.uidNext()}] Predicted next UID\r\n`;
  session.write(out);
  session.server.emit({ type: 'mailbox-selected', session: session.id, user: session.user ?? '', mailbox: name, time: Date.now() });
  return readOnly ? '[READ-ONLY] Examine completed.' : '[READ-WRITE] Select completed.';
}

export const SELECT: CommandSpec = { states: AUTHED, run: (ctx) => openSelected(ctx, false) };
export const EXAMINE: CommandSpec = { states: AUTHED, run: (ctx) => openSelected(ctx, true) };

export const CREATE: CommandSpec = {
  states: AUTHED,
  async run({ session, args }) {
    let name = args.mailbox();
    args.end();
    // RFC 3501 6.3.3: a trailing separator means the client intends to create children.
    if (name.endsWith(SEP)) name = name.slice(0, -1);
    checkName(name);
    if (name === 'INBOX') throw new ImapNo('Mailbox already exists', 'ALREADYEXISTS');
    await store(session).create(name);
    return 'Create completed.';
  },
};

export const DELETE: CommandSpec = {
  states: AUTHED,
  async run({ session, args }) {
    const name = checkName(args.mailbox());
    args.end();
    if (name === 'INBOX') throw new ImapNo('INBOX can\'t be deleted.', 'NOPERM');
    if (session.selected && session.selected.view.name === name) {
      // Deleting the selected mailbox: deselect first, as Dovecot does.
      await session.unselect();
    }
    await store(session).delete(name);
    return 'Delete completed.';
  },
};

export const RENAME: CommandSpec = {
  states: AUTHED,
  async run({ session, args }) {
    const from = checkName(args.mailbox('existing mailbox name'));
    let to = args.mailbox('new mailbox name');
    args.end();
    if (to.endsWith(SEP)) to = to.slice(0, -1);
    checkName(to);
    if (to === 'INBOX') throw new ImapNo('Mailbox already exists', 'ALREADYEXISTS');
    await store(session).rename(from, to);
    return 'Rename completed.';
  },
};

export const SUBSCRIBE: CommandSpec = {
  states: AUTHED,
  async run({ session, args }) {
    const name = checkName(args.mailbox());
    args.end();
    await store(session).subscribe(name);
    return 'Subscribe completed.';
  },
};

export const UNSUBSCRIBE: CommandSpec = {
  states: AUTHED,
  async run({ session, args }) {
    const name = checkName(args.mailbox());
    args.end();
    await store(session).unsubscribe(name);
    return 'Unsubscribe completed.';
  },
};

export const NAMESPACE: CommandSpec = {
  states: AUTHED,
  async run({ session, args }) {
    args.end();
    session.write(`* NAMESPACE (("" "${SEP}")) NIL NIL\r\n`);
    return 'Namespace completed.';
  },
};

/** list-mailbox pattern -> RegExp: '*' matches anything, '%' anything but the separator. */
export function patternToRegExp(pattern: string): RegExp {
  let re = '';
  for (const ch of pattern) {
    if (ch === '*') re += '.*';
    else if (ch === '%') re += '[^.]*';
    else re += ch.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  // INBOX is case-insensitive (RFC 3501 5.1): match "inbox" patterns too.
  return new RegExp(`^${re}$`, 's');
}

function listPattern(ref: string, pattern: string): RegExp {
  let full = ref + pattern;
  if (/^inbox(?=$|\.)/i.test(full)) full = 'INBOX' + full.slice(5);
  return patternToRegExp(full);
}

/** Reads the LIST/LSUB reference and pattern (both list-mailbox strings, mUTF-7). */
function readRefPattern(ctx: CommandContext): { ref: string; pattern: string } {
  const ref = mailboxName(ctx.args.astringBytes('reference name'));
  const t = ctx.args.next('mailbox pattern');
  let raw: Buffer;
  if (t.type === 'string') raw = t.value;
  else if (t.type === 'atom' && !t.section) raw = Buffer.from(t.value, 'latin1');
  else throw new ImapSyntaxError('Invalid mailbox pattern');
  const pattern = raw.length === 0 ? '' : mailboxName(raw);
  return { ref, pattern };
}

/** All names plus the parents they imply (a parent without a maildir is \Noselect). */
function withParents(entries: MailboxListEntry[]): Map<string, MailboxListEntry> {
  const byName = new Map<string, MailboxListEntry>();
  for (const e of entries) byName.set(e.name, e);
  for (const e of entries) {
    const parts = e.name.split(SEP);
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join(SEP);
      const known = byName.get(parent);
      if (!known) byName.set(parent, { name: parent, hasChildren: true, noSelect: true });
      else if (!known.hasChildren) byName.set(parent, { ...known, hasChildren: true });
    }
  }
  return byName;
}

function attributes(e: MailboxListEntry): string[] {
  const attrs: string[] = [];
  if (e.noSelect) attrs.push('\\Noselect');
  attrs.push(e.hasChildren ? '\\HasChildren' : '\\HasNoChildren');
  if (e.specialUse) attrs.push(e.specialUse);
  return attrs;
}

function sortNames(a: string, b: string): number {
  if (a === 'INBOX') return -1;
  if (b === 'INBOX') return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

export const LIST: CommandSpec = {
  states: AUTHED,
  async run(ctx) {
    const { session, args } = ctx;
    // LIST-EXTENDED selection options are not advertised; a leading list is refused clearly.
    if (args.peek()?.type === 'list') throw new ImapSyntaxError('LIST selection options are not supported');
    const { ref, pattern } = readRefPattern(ctx);
    args.end();
    if (pattern === '') {
      // RFC 3501 6.3.8: an empty pattern asks for the hierarchy delimiter.
      session.write(`* LIST (\\Noselect) "${SEP}" ""\r\n`);
      return 'List completed.';
    }
    const re = listPattern(ref, pattern);
    const all = withParents(await store(session).list());
    const names = [...all.keys()].filter((n) => re.test(n)).sort(sortNames);
    let out = '';
    for (const name of names) {
      out += `* LIST ${list(attributes(all.get(name)!))} "${SEP}" ${wireName(name)}\r\n`;
    }
    session.write(out);
    return 'List completed.';
  },
};

export const LSUB: CommandSpec = {
  states: AUTHED,
  async run(ctx) {
    const { session, args } = ctx;
    const { ref, pattern } = readRefPattern(ctx);
    args.end();
    if (pattern === '') {
      session.write(`* LSUB () "${SEP}" ""\r\n`);
      return 'Lsub completed.';
    }
    const re = listPattern(ref, pattern);
    const st = store(session);
    const subscribed = await st.subscriptions();
    const special = new Map((await st.list()).map((e) => [e.name, e.specialUse]));
    const out: string[] = [];
    const seen = new Set<string>();
    for (const name of subscribed.slice().sort(sortNames)) {
      if (re.test(name)) {
        if (seen.has(name)) continue;
        seen.add(name);
        // Dovecot shows special-use here too, and no \Noselect for a subscribed name that is gone.
        const use = special.get(name);
        out.push(`* LSUB (${use ?? ''}) "${SEP}" ${wireName(name)}\r\n`);
        continue;
      }
      // RFC 3501 6.3.9: with '%', a subscribed child implies its unsubscribed parent as \Noselect.
      const parts = name.split(SEP);
      for (let i = parts.length - 1; i >= 1; i--) {
        const parent = parts.slice(0, i).join(SEP);
        if (re.test(parent) && !seen.has(parent)) {
          seen.add(parent);
          out.push(`* LSUB (\\Noselect) "${SEP}" ${wireName(parent)}\r\n`);
          break;
        }
      }
    }
    session.write(out.join(''));
    return 'Lsub completed.';
  },
};

const STATUS_ITEMS = ['MESSAGES', 'RECENT', 'UIDNEXT', 'UIDVALIDITY', 'UNSEEN'] as const;

export const STATUS: CommandSpec = {
  states: AUTHED,
  async run({ session, args }) {
    const name = checkName(args.mailbox());
    const items = args.list('status data items').map((t) => {
      const v = t.type === 'atom' ? t.value.toUpperCase() : '';
      if (!(STATUS_ITEMS as readonly string[]).includes(v)) throw new ImapSyntaxError(`Invalid status item ${t.type === 'atom' ? t.value : ''}`);
      return v as (typeof STATUS_ITEMS)[number];
    });
    args.end();
    if (items.length === 0) throw new ImapSyntaxError('Empty status item list');
    let st;
    try {
      st = await store(session).status(name);
    } catch (err) {
      // Dovecot answers a missing mailbox in STATUS with a plain NO (no response code).
      if (err instanceof StorageError && err.code === 'NONEXISTENT') throw new ImapNo(`Mailbox doesn't exist: ${name}`);
      throw err;
    }
    const values: Record<(typeof STATUS_ITEMS)[number], number> = {
      MESSAGES: st.messages,
      RECENT: st.recent,
      UIDNEXT: st.uidNext,
      UIDVALIDITY: st.uidValidity,
      UNSEEN: st.unseen,
    };
    session.write(`* STATUS ${wireName(name)} (${items.map((i) => `${i} ${values[i]}`).join(' ')})\r\n`);
    return 'Status completed.';
  },
};
