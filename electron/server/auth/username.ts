// Username rules. A username becomes part of a path (mail_home '/var/vmail/%d/%n'), so besides Dovecot's
// auth_username_chars check Roost refuses anything that could lead outside the vmail base, whatever
// auth_username_chars allows: path separators, NUL and control characters, '.' and '..' as a user or
// domain part, empty parts ('@x', 'a@'), more than one '@', and names over 255 bytes.
// (Dovecot 2.3 itself accepts 'a@..' with the default auth_username_chars and then tries to mkdir
// /var/vmail/../a/maildir; Roost refuses it.)
//
// Usernames without a domain: Dovecot leaves %d empty, so 'alice' gets home /var/vmail//alice, i.e.
// /var/vmail/alice, which sits beside the domain directories. A mail client set up with a bare name would
// then show an empty mailbox instead of the mail Postfix delivered for alice@example.org. Roost refuses a
// bare name when mail_home (or mail_location) uses %d, telling the user to log in with the full address;
// when the templates do not use %d, bare names are fine.
//
// Case: Dovecot's default auth_username_format is %Lu, so 'Alice@Example.ORG' logs in as
// 'alice@example.org' and uses that home. normalizeUsername does the same.
import type { ServerSettings } from '../../shared/settings-types.js';
import { parseMailLocation, templateUsesDomain } from '../../shared/settings.js';
import { sanitizeLogValue } from '../log.js';

export const MAX_USERNAME_BYTES = 255;

// Names Windows reserves in every directory (with or without an extension).
const WINDOWS_RESERVED = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])(\..*)?$/i;

function hexByte(ch: string): string {
  return '0x' + Buffer.from(ch, 'utf8')[0].toString(16).padStart(2, '0');
}

/** Dovecot's default auth_username_format %Lu: usernames are lowercased before anything else uses them. */
export function normalizeUsername(username: string): string {
  return username.toLowerCase();
}

/**
 * Null when `username` may log in; otherwise the reason, for the log (never shown to the client, who gets
 * `NO [AUTHENTICATIONFAILED] Authentication failed.`). Dovecot's wording where Dovecot has the check.
 */
export function checkUsername(settings: ServerSettings, username: string, platform: NodeJS.Platform = process.platform): string | null {
  if (username === '') return 'Empty username';
  const bytes = Buffer.byteLength(username, 'utf8');
  if (bytes > MAX_USERNAME_BYTES) return `Username too long (${bytes} bytes, at most ${MAX_USERNAME_BYTES})`;
  const allowed = settings.auth_username_chars;
  for (const ch of username) {
    const code = ch.codePointAt(0) ?? 0;
    if (code < 0x20 || code === 0x7f) return `Username character disallowed: ${hexByte(ch)} (username: ${sanitizeLogValue(username)})`;
    // An empty auth_username_chars allows every character (Dovecot), but never the checks below.
    if (allowed && !allowed.includes(ch)) {
      return `Username character disallowed by auth_username_chars: ${hexByte(ch)} (username: ${sanitizeLogValue(username)})`;
    }
  }
  if (/[/\\]/.test(username)) return `Username contains a path separator (username: ${sanitizeLogValue(username)})`;
  if (platform === 'win32' && /[:*?"<>|]/.test(username)) return `Username contains a character Windows does not allow in file names (username: ${sanitizeLogValue(username)})`;
  const at = username.indexOf('@');
  if (at >= 0 && username.indexOf('@', at + 1) >= 0) return `Username has more than one '@' (username: ${sanitizeLogValue(username)})`;
  const parts = at < 0 ? [username] : [username.slice(0, at), username.slice(at + 1)];
  if (parts.some((p) => p === '')) return `Username has an empty ${parts[0] === '' ? 'user' : 'domain'} part (username: ${sanitizeLogValue(username)})`;
  for (const p of parts) {
    if (p === '.' || p === '..') return `Username part '${p}' is not allowed (username: ${sanitizeLogValue(username)})`;
    if (platform === 'win32' && (WINDOWS_RESERVED.test(p) || /[. ]$/.test(p))) {
      return `Username part '${sanitizeLogValue(p)}' is not a valid Windows file name`;
    }
  }
  if (at < 0) {
    const loc = parseMailLocation(settings.mail_location);
    const usesDomain = templateUsesDomain(settings.mail_home) || (typeof loc !== 'string' && templateUsesDomain(loc.path));
    if (usesDomain) {
      return `Username has no @domain, but mail_home uses %d: log in with the full address, e.g. ${sanitizeLogValue(username)}@example.org`;
    }
  }
  return null;
}
