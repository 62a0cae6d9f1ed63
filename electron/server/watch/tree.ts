// The shape of the vmail tree, from the settings: which directories below the vmail base are
// users' maildirs. With the seed's settings (mail_home = <vmail>/%d/%n, mail_location =
// maildir:~/maildir) a user's maildir is <vmail>/<domain>/<name>/maildir, exactly where Postfix's
// virtual_mailbox_maps (`alice@brokkr.net  brokkr.net/alice/maildir/`) delivers.

import path from 'node:path';
import type { ServerSettings } from '../../shared/settings-types.js';
import { parseMailLocation } from '../../shared/settings.js';

/** One path segment below the vmail base: a fixed name, or a variable of the user name. */
export type Segment = { literal: string } | { variable: 'u' | 'n' | 'd' };

export interface TreePattern {
  vmail: string;
  /** From the vmail base down to a user's maildir root (INBOX). */
  segments: Segment[];
}

const SHORT: Record<string, 'u' | 'n' | 'd'> = { u: 'u', n: 'n', d: 'd', user: 'u', username: 'n', domain: 'd' };

function segmentOf(text: string): Segment | undefined {
  if (!text.includes('%')) return { literal: text };
  const m = /^%[LU]?(?:([und])|\{(user|username|domain)\})$/.exec(text);
  if (!m) return undefined;
  return { variable: SHORT[m[1] ?? m[2]] };
}

/**
 * The tree pattern, or the reason the settings' templates are too unusual to walk (then only
 * users who log in are watched). Supported: mail_home below vmail made of whole-segment
 * variables and fixed names; mail_location ~ or ~/fixed/names.
 */
export function treePattern(settings: ServerSettings): TreePattern | string {
  const vmail = path.resolve(settings.vmail);
  const home = settings.mail_home.replace(/[\\/]+$/, '');
  const rel = home.startsWith(vmail + '/') ? home.slice(vmail.length + 1) : undefined;
  if (rel === undefined) return `mail_home ${settings.mail_home} is not below vmail ${vmail}`;
  const loc = parseMailLocation(settings.mail_location);
  if (typeof loc === 'string') return loc;
  let suffix: string;
  if (loc.path === '~' || loc.path === '%h') suffix = '';
  else if (loc.path.startsWith('~/')) suffix = loc.path.slice(2);
  else if (loc.path.startsWith('%h/')) suffix = loc.path.slice(3);
  else return `mail_location ${settings.mail_location} is not below the home directory`;
  const segments: Segment[] = [];
  const parts = [...rel.split('/').map((p) => ({ p, home: true })), ...suffix.split('/').map((p) => ({ p, home: false }))];
  for (const { p: part, home: inHome } of parts) {
    if (part === '' || part === '.') continue;
    const seg = segmentOf(part);
    // Variables only in mail_home (the maildir below it is a fixed path).
    if (!seg || part === '..' || (!inHome && 'variable' in seg)) return `unsupported path segment '${part}'`;
    segments.push(seg);
  }
  const vars = new Set(segments.flatMap((s) => ('variable' in s ? [s.variable] : [])));
  if (!vars.has('u') && !vars.has('n')) return `mail_home ${settings.mail_home} has no %u or %n`;
  return { vmail, segments };
}

/** The user name a path's variables spell, or undefined when they do not make one. */
export function userOf(captures: ReadonlyMap<'u' | 'n' | 'd', string>): string | undefined {
  const u = captures.get('u');
  if (u !== undefined) return u;
  const n = captures.get('n');
  if (n === undefined) return undefined;
  const d = captures.get('d');
  return d ? `${n}@${d}` : n;
}
