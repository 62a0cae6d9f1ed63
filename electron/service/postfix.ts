// "Import from Postfix": read main.cf, find where Postfix's virtual delivery puts mail, and propose
// the Dovecot-style settings (mail_home / mail_location templates, uid/gid) that serve the same tree.
//
// Facts about Postfix's formats used here (postconf(5), virtual(8), postmap(1)):
//  - main.cf: `name = value`; a line starting with whitespace continues the previous one; a line whose
//    first non-blank character is '#' is a comment; `$name` and `${name}` refer to other parameters.
//  - virtual_mailbox_maps: a list of lookup tables `type:name` (hash:/etc/postfix/vmailbox). For the
//    indexed types (hash, btree, lmdb, cdb, dbm) the source text postmap reads is the file `name`
//    itself, and the .db next to it is derived: Roost reads the text file.
//  - Map file: `key  value`, comments and continuation lines as in main.cf; the value is a path
//    relative to virtual_mailbox_base; a trailing '/' means maildir, otherwise an mbox file.
//  - virtual_uid_maps / virtual_gid_maps: usually `static:5000`.
import fs from 'node:fs';
import path from 'node:path';
import type { PostfixImport } from '../shared/api.js';
import { expandTemplate } from '../shared/settings.js';

/** Parses main.cf text into name -> raw value (references not expanded yet). */
export function parseMainCf(text: string): Map<string, string> {
  const params = new Map<string, string>();
  let current: string | null = null;
  for (const line of text.split(/\r?\n/)) {
    if (/^\s*#/.test(line) || !line.trim()) {
      // Postfix: a comment or blank line ends nothing by itself, but a continuation must follow directly.
      if (!line.trim()) current = null;
      continue;
    }
    if (/^\s/.test(line)) {
      if (current) params.set(current, `${params.get(current) ?? ''} ${line.trim()}`.trim());
      continue;
    }
    const m = /^([A-Za-z0-9_.-]+)\s*=\s*(.*)$/.exec(line);
    if (!m) { current = null; continue; }
    current = m[1];
    params.set(current, m[2].trim());
  }
  return params;
}

/** Expands $name, ${name} and $(name) from `params` (recursively, unknown names become ''). */
export function expandPostfix(value: string, params: Map<string, string>, depth = 0): string {
  if (depth > 20) return value;
  return value.replace(/\$(?:\{([A-Za-z0-9_]+)\}|\(([A-Za-z0-9_]+)\)|([A-Za-z0-9_]+))/g, (_m, a?: string, b?: string, c?: string) => {
    const name = a ?? b ?? c ?? '';
    const v = params.get(name);
    return v === undefined ? '' : expandPostfix(v, params, depth + 1);
  });
}

/** Splits a lookup-table list ("hash:/a, hash:/b") into its tables. */
function tables(value: string): string[] {
  return value.split(/[\s,]+/).filter(Boolean);
}

const INDEXED = new Set(['hash', 'btree', 'lmdb', 'cdb', 'dbm', 'sdbm', 'texthash']);

/** Reads a map's source text; a path under /etc/postfix is also tried in `dir` (a copied config directory). */
function readMapSource(file: string, dir: string): { text: string; file: string } | string {
  const candidates = [path.isAbsolute(file) ? file : path.join(dir, file)];
  const fallback = path.join(dir, path.basename(file));
  if (!candidates.includes(fallback)) candidates.push(fallback);
  for (const c of candidates) {
    try {
      return { text: fs.readFileSync(c, 'utf8'), file: c };
    } catch {
      // try the next
    }
  }
  return `cannot read ${file} (the text file postmap builds ${file}.db from)`;
}

/** Entries `key value` of a Postfix map source (comments, blank lines, continuation lines handled). */
export function parseMapEntries(text: string): Array<{ key: string; value: string }> {
  const out: Array<{ key: string; value: string }> = [];
  for (const line of text.split(/\r?\n/)) {
    if (/^\s*#/.test(line) || !line.trim()) continue;
    if (/^\s/.test(line) && out.length) {
      out[out.length - 1].value = `${out[out.length - 1].value} ${line.trim()}`.trim();
      continue;
    }
    // A key alone on its line takes its value from the continuation lines that follow.
    const m = /^(\S+)(?:\s+(.*))?$/.exec(line.trim());
    if (m) out.push({ key: m[1], value: (m[2] ?? '').trim() });
  }
  return out;
}

/** The value of a static:N map, or a note. */
function staticId(value: string | undefined, what: string, notes: string[]): string | undefined {
  if (!value) return undefined;
  const m = /^static:\s*(\d+)$/.exec(value.trim());
  if (m) return m[1];
  notes.push(`${what} = ${value}: Roost uses one owner for all mail (userdb static uid/gid); set it by hand.`);
  return undefined;
}

/**
 * The template, in segments, that one map entry follows: 'brokkr.net/alice/maildir/' for alice@brokkr.net
 * becomes ['%d', '%n', 'maildir']. Segment-wise, so a user called 'net' in 'net.net' cannot confuse it.
 */
function entryPattern(address: string, mapped: string): string[] {
  const at = address.lastIndexOf('@');
  const local = at < 0 ? address : address.slice(0, at);
  const domain = at < 0 ? '' : address.slice(at + 1);
  return mapped.split('/').filter(Boolean).map((seg) => {
    const s = seg.toLowerCase();
    if (s === address.toLowerCase()) return '%u';
    if (domain && s === domain.toLowerCase()) return '%d';
    if (s === local.toLowerCase()) return '%n';
    return seg.replace(/%/g, '%%');
  });
}

/** Splits a pattern into mail_home (up to the last variable segment) and mail_location (the rest). */
function templatesFor(base: string, pattern: string[]): { mail_home: string; mail_location: string } | undefined {
  let last = -1;
  pattern.forEach((seg, i) => { if (/^%[udn]$/.test(seg)) last = i; });
  if (last < 0) return undefined; // every user in one place: not a per-user template
  const home = [base.replace(/[\\/]+$/, '').replace(/%/g, '%%'), ...pattern.slice(0, last + 1)].join('/');
  const rest = pattern.slice(last + 1);
  return { mail_home: home, mail_location: rest.length ? `maildir:~/${rest.join('/')}` : 'maildir:~' };
}

/** Where the templates put `address`'s maildir (absolute, trailing '/'). */
function templateGives(t: { mail_home: string; mail_location: string }, address: string): string {
  const home = expandTemplate(t.mail_home, address.toLowerCase());
  const loc = t.mail_location.slice('maildir:'.length);
  const p = loc === '~' ? home : loc.startsWith('~/') ? path.join(home, expandTemplate(loc.slice(2), address.toLowerCase(), { home })) : loc;
  return path.resolve(p) + '/';
}

/** Reads <dir>/main.cf and proposes settings. Never throws for a missing or odd file: notes say what went wrong. */
export function importPostfix(dir: string): PostfixImport {
  const file = path.join(dir, 'main.cf');
  const result: PostfixImport = { file, proposal: {}, unmatched: [], notes: [] };
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    result.notes.push(code === 'ENOENT' ? `${file} does not exist: is Postfix installed here, or is its configuration elsewhere?`
      : code === 'EACCES' ? `${file} cannot be read by this user (Permission denied).`
        : `${file} cannot be read: ${(e as Error).message}`);
    return result;
  }
  const params = parseMainCf(text);
  // Postfix's own default for $config_directory is where main.cf lives.
  if (!params.has('config_directory')) params.set('config_directory', dir);
  const get = (name: string): string | undefined => {
    const v = params.get(name);
    return v === undefined ? undefined : expandPostfix(v, params).trim() || undefined;
  };
  result.virtual_mailbox_base = get('virtual_mailbox_base');
  result.virtual_mailbox_maps = get('virtual_mailbox_maps');
  result.virtual_uid_maps = get('virtual_uid_maps');
  result.virtual_gid_maps = get('virtual_gid_maps');
  result.virtual_mailbox_domains = get('virtual_mailbox_domains');

  const base = result.virtual_mailbox_base;
  if (!base) {
    result.notes.push(`${file} has no virtual_mailbox_base: Postfix does not deliver to virtual mailboxes here, so there is nothing to import.`);
    return result;
  }
  if (!path.isAbsolute(base)) {
    result.notes.push(`virtual_mailbox_base = ${base} is not an absolute path.`);
    return result;
  }
  result.proposal.vmail = base;
  const uid = staticId(result.virtual_uid_maps, 'virtual_uid_maps', result.notes);
  const gid = staticId(result.virtual_gid_maps, 'virtual_gid_maps', result.notes);
  if (uid !== undefined) result.proposal.uid = uid;
  if (gid !== undefined) result.proposal.gid = gid;

  // Collect address -> maildir entries from every readable map.
  const entries: Array<{ address: string; mapped: string }> = [];
  for (const table of tables(result.virtual_mailbox_maps ?? '')) {
    const colon = table.indexOf(':');
    const type = colon < 0 ? '' : table.slice(0, colon);
    const name = colon < 0 ? table : table.slice(colon + 1);
    if (!INDEXED.has(type)) {
      result.notes.push(`virtual_mailbox_maps: ${table} is a ${type || 'plain'} table; Roost reads only file-based maps (hash:, btree:, lmdb:, cdb:, texthash:).`);
      continue;
    }
    const src = readMapSource(name, dir);
    if (typeof src === 'string') { result.notes.push(src); continue; }
    for (const { key, value } of parseMapEntries(src.text)) {
      if (!value) continue;
      if (key.startsWith('@')) {
        result.notes.push(`${key} -> ${value}: a catch-all for a whole domain; Roost serves whatever user names clients log in with, so it needs no entry.`);
        continue;
      }
      if (!value.endsWith('/')) {
        result.notes.push(`${key} -> ${value}: an mbox file (no trailing '/'); Roost serves maildirs only.`);
        continue;
      }
      entries.push({ address: key, mapped: value });
    }
  }

  // The most common pattern wins; the seed's layout when there is nothing to learn from.
  const counts = new Map<string, number>();
  for (const e of entries) {
    const key = entryPattern(e.address, e.mapped).join('/');
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  let best: string[] = ['%d', '%n', 'maildir'];
  let bestCount = 0;
  for (const [key, n] of counts) {
    if (n > bestCount && templatesFor(base, key.split('/'))) { best = key.split('/'); bestCount = n; }
  }
  if (!entries.length) result.notes.push('No maildir entries found in virtual_mailbox_maps: proposing the usual layout <base>/<domain>/<user>/maildir/.');
  const t = templatesFor(base, best) ?? { mail_home: `${base}/%d/%n`, mail_location: 'maildir:~/maildir' };
  result.proposal.mail_home = t.mail_home;
  result.proposal.mail_location = t.mail_location;
  for (const e of entries) {
    const mapped = path.resolve(base, e.mapped) + '/';
    let gives: string;
    try {
      gives = templateGives(t, e.address);
    } catch {
      gives = '(no path)';
    }
    if (gives !== mapped) result.unmatched.push({ address: e.address, mapped, templateGives: gives });
  }
  return result;
}
