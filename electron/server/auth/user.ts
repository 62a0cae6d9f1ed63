// userdb static: where a user's mail lives and who owns it.
import path from 'node:path';
import type { ServerSettings } from '../../shared/settings-types.js';
import {
  SettingsError, expandTemplate, fileOwner, parseMailLocation, templateHasVariables, templateStaticPrefix, uidGidProblem,
  type OwnerContext,
} from '../../shared/settings.js';
import { checkUsername, normalizeUsername } from './username.js';

export type AuthErrorCode =
  /** The username breaks the username rules (checkUsername). */
  | 'USERNAME_REFUSED'
  /** The expanded home or maildir would lie outside its base directory. */
  | 'PATH_OUTSIDE_BASE'
  /** userdb uid/gid outside first/last_valid_uid/gid (Dovecot's wording in the message). */
  | 'UID_NOT_PERMITTED'
  /** The configured owner cannot be used by this process, or mail_location is unusable. */
  | 'USERDB_UNUSABLE';

export class AuthError extends Error {
  readonly code: AuthErrorCode;
  constructor(code: AuthErrorCode, message: string) {
    super(message);
    this.name = 'AuthError';
    this.code = code;
  }
}

export interface ResolvedUser {
  /** The username after auth_username_format %Lu (lowercased): use it in logs and events. */
  user: string;
  /** Absolute home directory (mail_home expanded). */
  home: string;
  /** Absolute maildir root (mail_location expanded, ~ = home). */
  maildir: string;
  /** chown target for files Roost creates; undefined = leave the process's own (see fileOwner). */
  uid?: number;
  gid?: number;
}

/** True when `p` is `base` itself or below it. Both absolute and resolved. */
export function isInsideOrEqual(base: string, p: string): boolean {
  const rel = path.relative(base, p);
  return rel === '' || (rel !== '..' && !rel.startsWith('..' + path.sep) && !path.isAbsolute(rel));
}

/** The directory every expansion of `template` must stay under: vmail when the template lives there, else its fixed prefix. */
function baseFor(template: string, vmail: string): string {
  const prefix = path.resolve(templateStaticPrefix(template));
  const base = path.resolve(vmail);
  return isInsideOrEqual(base, prefix) ? base : prefix;
}

function contained(what: string, template: string, expanded: string, vmail: string): void {
  const base = baseFor(template, vmail);
  // A template with variables must give each user a directory strictly below the base; one without
  // variables (a single shared home) is the base itself.
  const ok = templateHasVariables(template) ? isInsideOrEqual(base, expanded) && path.relative(base, expanded) !== '' : isInsideOrEqual(base, expanded);
  if (!ok) throw new AuthError('PATH_OUTSIDE_BASE', `${what} ${expanded} is outside ${base}`);
}

/**
 * Resolves a username to its home, maildir and file owner. Throws AuthError (code says why; message is for
 * the log) for a refused username, a path outside the vmail base, or a uid/gid Dovecot would refuse.
 */
export function resolveUser(settings: ServerSettings, username: string, ctx: OwnerContext & { platform?: NodeJS.Platform } = {}): ResolvedUser {
  const reason = checkUsername(settings, username, ctx.platform);
  if (reason) throw new AuthError('USERNAME_REFUSED', reason);
  const user = normalizeUsername(username);

  const home = path.resolve(expandTemplate(settings.mail_home, user));
  contained('home', settings.mail_home, home, settings.vmail);

  const loc = parseMailLocation(settings.mail_location);
  if (typeof loc === 'string') throw new AuthError('USERDB_UNUSABLE', `mail_location: ${loc}`);
  let expanded = expandTemplate(loc.path, user, { home });
  if (expanded === '~') expanded = home;
  else if (expanded.startsWith('~/') || expanded.startsWith('~\\')) expanded = path.join(home, expanded.slice(2));
  const maildir = path.resolve(expanded);
  if (/^(~|%h|%\{home\})/.test(loc.path)) {
    if (!isInsideOrEqual(home, maildir)) throw new AuthError('PATH_OUTSIDE_BASE', `maildir ${maildir} is outside home ${home}`);
  } else {
    contained('maildir', loc.path, maildir, settings.vmail);
  }

  const problem = uidGidProblem(settings, settings.userdb.uid, settings.userdb.gid);
  if (problem) throw new AuthError('UID_NOT_PERMITTED', problem);
  let owner: { uid?: number; gid?: number };
  try {
    owner = fileOwner(settings, ctx);
  } catch (e) {
    if (e instanceof SettingsError) throw new AuthError('USERDB_UNUSABLE', e.message);
    throw e;
  }
  return { user, home, maildir, ...(owner.uid !== undefined ? { uid: owner.uid } : {}), ...(owner.gid !== undefined ? { gid: owner.gid } : {}) };
}
