// Small conveniences on top of ImapWire shared by interop tests: logged-in connections,
// running command scripts, and snapshots of a whole account for on-disk compatibility checks.
import { ImapWire, normalize, normalizeUntagged, parseFetch, parseValues, type ImapResponse, type NormalizeOptions, type NormalizedResponse } from './imap-wire.js';

export interface Endpoint {
  host: string;
  port: number;
}

/** Connect and LOGIN; throws with the transcript if either fails. */
export async function login(ep: Endpoint, user: string, password: string, timeoutMs = 10_000): Promise<ImapWire> {
  const w = await ImapWire.connect(ep.host, ep.port, { timeoutMs });
  const r = await w.run(`LOGIN ${quoteArg(user)} ${quoteArg(password)}`);
  if (r.status !== 'OK') throw w.fail(`LOGIN failed: ${r.tagged}`);
  return w;
}

function quoteArg(s: string): string {
  return /^[A-Za-z0-9._@+-]+$/.test(s) ? s : `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** One step of a script: a command (without tag) and how to normalize its answer. */
export type Step = string | { cmd: string; opts?: NormalizeOptions };

/** Run steps in order (each tagged automatically) and return every normalized answer. */
export async function runScript(w: ImapWire, steps: Step[], defaults: NormalizeOptions = {}): Promise<NormalizedResponse[]> {
  const out: NormalizedResponse[] = [];
  for (const s of steps) {
    const cmd = typeof s === 'string' ? s : s.cmd;
    const opts = { ...defaults, ...(typeof s === 'string' ? {} : s.opts) };
    const r = await w.run(cmd);
    const n = normalize(r, opts);
    // Make the command text tag-independent so answers from two servers line up.
    n.command = cmd.split('\r\n')[0]!;
    out.push(n);
  }
  return out;
}

export interface MailboxSnapshot {
  uidValidity: string;
  uidNext: string;
  exists: number;
  /** `UID <n> FLAGS (...) RFC822.SIZE <n> INTERNALDATE <utc> MESSAGE-ID <id>` per message, by UID. */
  messages: string[];
}

export interface AccountSnapshot {
  /** Mailbox names (modified UTF-7), sorted; `name (\Noselect)` for placeholders. */
  list: string[];
  /** Subscribed names, sorted. */
  lsub: string[];
  mailboxes: Record<string, MailboxSnapshot>;
}

/**
 * What the vmail tree stores, as a client sees it, for checks that must survive switching
 * servers on the same tree: folders and subscriptions (names only: attributes such as
 * special-use or \HasChildren are server behaviour, compared by the differential tests), per
 * folder UIDVALIDITY/UIDNEXT and per message UID, flags and keywords (without the
 * session-dependent \Recent), size, INTERNALDATE and Message-ID. Read-only (EXAMINE,
 * BODY.PEEK), so taking a snapshot does not change what it measures.
 */
export async function snapshotAccount(w: ImapWire): Promise<AccountSnapshot> {
  const names = (lines: string[]) =>
    lines
      .map((l) => /^\* (?:LIST|LSUB) \(([^)]*)\) (.*)$/i.exec(l))
      .filter((m): m is RegExpExecArray => !!m)
      .map((m) => `${parseValues(m[2]!)[1] as string}${/\\Noselect/i.test(m[1]!) ? ' (\\Noselect)' : ''}`)
      .sort();
  const listLines = (await w.ok('LIST "" "*"')).untagged;
  const list = names(listLines);
  const lsub = names((await w.ok('LSUB "" "*"')).untagged).map((n) => n.replace(/ \(\\Noselect\)$/, ''));
  const mailboxes: Record<string, MailboxSnapshot> = {};
  for (const line of listLines) {
    const m = /^\* LIST \(([^)]*)\) (.*)$/i.exec(line);
    if (!m || /\\Noselect|\\NonExistent/i.test(m[1]!)) continue;
    const name = parseValues(m[2]!)[1] as string;
    const ex = await w.ok(`EXAMINE ${imapString(name)}`);
    const codeValue = (code: string) => {
      for (const l of ex.untagged) {
        const c = new RegExp(`\\[${code} (\\S+)\\]`, 'i').exec(l);
        if (c) return c[1]!;
      }
      return '';
    };
    const exists = Number(/^\* (\d+) EXISTS/im.exec(ex.untagged.join('\n'))?.[1] ?? 0);
    const messages: string[] = [];
    if (exists > 0) {
      const f = await w.ok('UID FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])');
      const rows = f.untagged.map(parseFetch).filter((x): x is NonNullable<typeof x> => !!x);
      rows.sort((a, b) => Number(a.items.UID) - Number(b.items.UID));
      for (const r of rows) {
        const flags = ((r.items.FLAGS as string[]) ?? []).filter((x) => x.toLowerCase() !== '\\recent').sort();
        const mid = String(r.items['BODY[HEADER.FIELDS (MESSAGE-ID)]'] ?? '').replace(/^Message-ID:\s*/i, '').trim();
        const date = normalizeUntagged(`* 1 FETCH (INTERNALDATE "${String(r.items.INTERNALDATE)}")`);
        messages.push(`UID ${r.items.UID} FLAGS (${flags.join(' ')}) RFC822.SIZE ${r.items['RFC822.SIZE']} ${date.slice('* 1 FETCH ('.length, -1)} MESSAGE-ID ${mid}`);
      }
    }
    mailboxes[name] = { uidValidity: codeValue('UIDVALIDITY'), uidNext: codeValue('UIDNEXT'), exists, messages };
  }
  return { list, lsub, mailboxes };
}

/** Quote a mailbox name for a command (already in modified UTF-7). */
export function imapString(s: string): string {
  return /^[A-Za-z0-9.&,_-]+$/.test(s) && s.toUpperCase() !== 'NIL' ? s : `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

export type { ImapResponse };
