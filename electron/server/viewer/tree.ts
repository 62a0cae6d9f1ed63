// Finds the users that have mail: walks the directories the mail_home template can expand to
// ('/var/vmail/%d/%n' -> every <domain>/<user> under /var/vmail) and keeps those whose maildir (per
// mail_location) exists. Each candidate is checked by expanding the template again for the user name
// it implies, through the same resolveUser() the IMAP login uses, so the viewer never lists a
// directory that no login would reach (and never one outside the vmail base).

import fs from 'node:fs/promises';
import path from 'node:path';
import type { ServerSettings } from '../../shared/settings-types.js';
import { resolveUser } from '../auth/index.js';

export interface FoundUser {
  user: string;
  domain: string;
  home: string;
  maildir: string;
}

interface Segment {
  /** Matches one directory name; capture groups bind `vars` in order. */
  re: RegExp;
  vars: string[];
}

/** One path segment of a template as a regular expression ('%d' -> one captured name). */
function segmentPattern(segment: string): Segment | string {
  let re = '^';
  const vars: string[] = [];
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i];
    if (c !== '%') {
      re += c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      continue;
    }
    i++;
    if (segment[i] === '%') {
      re += '%';
      continue;
    }
    if (segment[i] === 'L' || segment[i] === 'U') i++;
    let v = segment[i];
    if (v === '{') {
      const end = segment.indexOf('}', i);
      const long = segment.slice(i + 1, end);
      v = ({ user: 'u', username: 'n', domain: 'd' } as Record<string, string>)[long] ?? '?';
      i = end;
    }
    if (!'und'.includes(v)) return `unsupported variable in mail_home segment '${segment}'`;
    vars.push(v);
    re += '(.+?)';
  }
  return { re: new RegExp(re + '$'), vars };
}

/** The user name a set of bound variables implies, or null when they do not name one. */
function userOf(bound: Map<string, string>): { user: string; domain: string } | null {
  const u = bound.get('u');
  if (u !== undefined) {
    const at = u.indexOf('@');
    return { user: u, domain: at < 0 ? '' : u.slice(at + 1) };
  }
  const n = bound.get('n');
  if (n === undefined) return null;
  const d = bound.get('d');
  return d ? { user: `${n}@${d}`, domain: d } : { user: n, domain: '' };
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await fs.stat(p)).isDirectory();
  } catch {
    return false;
  }
}

async function subdirs(dir: string): Promise<string[]> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  // Dot directories are never users (and a maildir's own folders start with '.').
  return entries.filter((e) => (e.isDirectory() || e.isSymbolicLink()) && !e.name.startsWith('.')).map((e) => e.name).sort();
}

/** Users with a maildir, sorted by domain then user. A template without user variables has none to list. */
export async function findUsers(settings: ServerSettings): Promise<FoundUser[]> {
  // The directories before the first segment with a variable are fixed ('%%' is a literal '%').
  const all = settings.mail_home.split(/[\\/]+/);
  const hasVariable = (seg: string) => seg.replace(/%%/g, '').includes('%');
  const firstVar = all.findIndex(hasVariable);
  if (firstVar < 0) return [];
  const prefix = path.resolve(all.slice(0, firstVar).join('/').replace(/%%/g, '%') || '/');
  const rest = all.slice(firstVar).filter(Boolean);
  const segments: Segment[] = [];
  for (const s of rest) {
    const seg = segmentPattern(s);
    if (typeof seg === 'string') return [];
    segments.push(seg);
  }
  if (!segments.some((s) => s.vars.length > 0)) return [];
  const found: FoundUser[] = [];
  const walk = async (dir: string, depth: number, bound: Map<string, string>): Promise<void> => {
    if (depth === segments.length) {
      const who = userOf(bound);
      if (!who) return;
      let loc: ReturnType<typeof resolveUser>;
      try {
        loc = resolveUser(settings, who.user);
      } catch {
        return; // a directory name no login could use
      }
      if (path.resolve(loc.home) !== path.resolve(dir)) return;
      if (!(await isDir(path.join(loc.maildir, 'cur'))) && !(await isDir(path.join(loc.maildir, 'new')))) return;
      found.push({ user: loc.user, domain: who.domain.toLowerCase(), home: loc.home, maildir: loc.maildir });
      return;
    }
    const seg = segments[depth];
    for (const name of await subdirs(dir)) {
      const m = seg.re.exec(name);
      if (!m) continue;
      const next = new Map(bound);
      let consistent = true;
      seg.vars.forEach((v, k) => {
        const value = m[k + 1];
        const had = next.get(v);
        if (had !== undefined && had.toLowerCase() !== value.toLowerCase()) consistent = false;
        next.set(v, value);
      });
      if (consistent) await walk(path.join(dir, name), depth + 1, next);
    }
  };
  await walk(prefix, 0, new Map());
  const seen = new Set<string>();
  return found
    .filter((f) => (seen.has(f.user) ? false : (seen.add(f.user), true)))
    .sort((a, b) => a.domain.localeCompare(b.domain) || a.user.localeCompare(b.user));
}
