// Commands that add, change or remove messages: APPEND (RFC 3501 6.3.11, UIDPLUS RFC 4315),
// CHECK, CLOSE, EXPUNGE, STORE, COPY (6.4), UNSELECT (RFC 3691), MOVE (RFC 6851),
// UID EXPUNGE (RFC 4315).

import type { CommandContext, CommandSpec, Session } from '../session.js';
import type { SelectedMailbox } from '../selected.js';
import type { StoreMode } from '../../storage/types.js';
import { StorageError } from '../../storage/types.js';
import { ImapNo, storageErrorToNo } from '../errors.js';
import { ImapSyntaxError } from '../parser.js';
import { flagToken, parseDateTime } from '../args.js';
import { resolveSeqNumbers, resolveUidIndexes, formatSet, type SequenceSet } from '../sequence.js';

export function selected(session: Session): SelectedMailbox {
  if (!session.selected) throw new ImapNo('No mailbox selected.');
  return session.selected;
}

/** The uids a sequence set names, in ascending order, for FETCH/STORE/COPY/MOVE/SEARCH. */
export function targetUids(sel: SelectedMailbox, set: SequenceSet, byUid: boolean): number[] {
  if (byUid) return resolveUidIndexes(set, sel).map((i) => sel.uidAt(i));
  const seqs = resolveSeqNumbers(set, sel.exists);
  if (!seqs) throw new ImapSyntaxError('Invalid messageset');
  return seqs.map((n) => sel.uidAt(n - 1));
}

export const APPEND: CommandSpec = {
  states: ['auth', 'selected'],
  async run({ session, args }) {
    const name = args.mailbox();
    let flags: string[] = [];
    let internalDate: number | undefined;
    if (args.peek()?.type === 'list') {
      flags = args.list('flags').map(flagToken);
      if (flags.includes('\\Recent')) throw new ImapSyntaxError('\\Recent flag cannot be set');
    }
    const next = args.peek();
    if (next && next.type === 'string' && !next.literal) {
      args.next('date-time');
      internalDate = parseDateTime(next);
    }
    const msg = args.next('message literal');
    if (msg.type !== 'string' || !msg.literal) throw new ImapSyntaxError('Message must be sent as a literal');
    args.end();
    if (msg.value.length === 0) throw new ImapNo('Can\'t save a zero byte message.');
    if (!session.store) throw new ImapNo('Not logged in.');
    let result;
    try {
      result = await session.store.append(name, [{ data: msg.value, flags: dedupe(flags), internalDate }]);
    } catch (err) {
      if (err instanceof StorageError && err.code === 'NONEXISTENT') {
        throw new ImapNo(`Mailbox doesn't exist: ${name}`, 'TRYCREATE');
      }
      throw err;
    }
    // If the target is the selected mailbox, its EXISTS goes out before the tagged OK.
    if (session.selected && session.selected.view.name === name) await session.selected.view.sync();
    return `[APPENDUID ${result.uidValidity} ${formatSet(result.uids)}] Append completed.`;
  },
};

function dedupe(flags: string[]): string[] {
  return [...new Set(flags)];
}

export const CHECK: CommandSpec = {
  states: ['selected'],
  async run({ session, args }) {
    args.end();
    await selected(session).view.sync();
    return 'Check completed.';
  },
};

export const CLOSE: CommandSpec = {
  states: ['selected'],
  async run({ session, args }) {
    args.end();
    const sel = selected(session);
    // RFC 3501 6.4.2: silently expunge \Deleted messages, unless the mailbox is read-only.
    if (!sel.view.readOnly) await sel.view.expunge();
    await session.unselect();
    return 'Close completed.';
  },
};

export const UNSELECT: CommandSpec = {
  states: ['selected'],
  async run({ session, args }) {
    args.end();
    await session.unselect();
    return 'Unselect completed.';
  },
};

export const EXPUNGE: CommandSpec = {
  states: ['selected'],
  async run({ session, args }) {
    args.end();
    const sel = selected(session);
    if (sel.view.readOnly) throw new ImapNo('Mailbox is read-only.', 'READ-ONLY');
    await sel.view.expunge();
    return 'Expunge completed.';
  },
};

export const UID_EXPUNGE: CommandSpec = {
  states: ['selected'],
  async run({ session, args }) {
    const set = args.sequenceSet();
    args.end();
    const sel = selected(session);
    if (sel.view.readOnly) throw new ImapNo('Mailbox is read-only.', 'READ-ONLY');
    await sel.view.expunge(targetUids(sel, set, true));
    return 'Expunge completed.';
  },
};

/** STORE / UID STORE: STORE set (+|-)FLAGS[.SILENT] flags (RFC 3501 6.4.6). */
export const STORE: CommandSpec = {
  states: ['selected'],
  expungeOk: false,
  async run(ctx: CommandContext) {
    const { session, args, uid } = ctx;
    const set = args.sequenceSet();
    const item = args.atom('store data item').toUpperCase();
    const m = /^([+-]?)FLAGS(\.SILENT)?$/.exec(item);
    if (!m) throw new ImapSyntaxError(`Invalid STORE data item ${item}`);
    const flags = args.flags(true);
    args.end();
    const sel = selected(session);
    const uids = targetUids(sel, set, uid);
    if (sel.view.readOnly) throw new ImapNo('Mailbox is read-only.', 'READ-ONLY');
    const mode: StoreMode = m[1] === '+' ? 'add' : m[1] === '-' ? 'remove' : 'set';
    // \Recent is a session property: it can be neither set nor cleared (RFC 3501 2.3.2).
    if (flags.includes('\\Recent')) throw new ImapSyntaxError('Cannot store \\Recent flag');
    const storable = dedupe(flags);
    const mark = sel.pendingMark();
    const changed = await sel.view.store(uids, mode, storable);
    // This session reports its own changes below; drop the echo of them from its queue.
    sel.dropPendingFlags(mark, new Set(uids));
    if (m[2]) session.write(sel.announceKeywords([...changed.values()]));
    if (!m[2]) {
      let out = sel.announceKeywords([...changed.values()]);
      for (const u of uids) {
        const i = sel.indexOf(u);
        const meta = changed.get(u) ?? sel.meta(u)?.flags;
        if (i < 0 || !meta) continue;
        out += `* ${i + 1} FETCH (${uid ? `UID ${u} ` : ''}FLAGS ${sel.flagsOf(u, meta)})\r\n`;
      }
      session.write(out);
    }
    const missing = uids.some((u) => !changed.has(u));
    if (missing && !uid) throw new ImapNo('Some of the requested messages no longer exist.', 'EXPUNGEISSUED');
    return 'Store completed.';
  },
};

async function copyOrMove(ctx: CommandContext, move: boolean): Promise<string> {
  const { session, args, uid } = ctx;
  const set = args.sequenceSet();
  const target = args.mailbox();
  args.end();
  const sel = selected(session);
  const uids = targetUids(sel, set, uid);
  if (move && sel.view.readOnly) throw new ImapNo('Mailbox is read-only.', 'READ-ONLY');
  if (uids.length === 0) {
    if (!uid) throw new ImapSyntaxError('Invalid messageset');
    return 'No messages found.';
  }
  let result;
  try {
    result = move ? await sel.view.moveTo(uids, target) : await sel.view.copyTo(uids, target);
  } catch (err) {
    if (err instanceof StorageError && (err.code === 'NONEXISTENT' || err.code === 'TRYCREATE')) {
      throw new ImapNo(`Mailbox doesn't exist: ${target}`, 'TRYCREATE');
    }
    if (err instanceof StorageError) throw storageErrorToNo(err, target);
    throw err;
  }
  if (result.pairs.length === 0) throw new ImapNo('Some of the requested messages no longer exist.', 'EXPUNGEISSUED');
  const code = `COPYUID ${result.uidValidity} ${formatSet(result.pairs.map((p) => p[0]))} ${formatSet(result.pairs.map((p) => p[1]))}`;
  if (move) {
    // RFC 6851 section 4.3: COPYUID goes in an untagged OK before the EXPUNGEs.
    session.write(`* OK [${code}] Moved UIDs.\r\n`);
    return 'Move completed.';
  }
  return `[${code}] Copy completed.`;
}

export const COPY: CommandSpec = { states: ['selected'], run: (ctx) => copyOrMove(ctx, false) };
export const MOVE: CommandSpec = { states: ['selected'], run: (ctx) => copyOrMove(ctx, true) };

