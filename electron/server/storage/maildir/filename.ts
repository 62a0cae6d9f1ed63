// Maildir message file names, as Dovecot reads and writes them.
//
//   <base>:2,<flags>[,<extra>]
//
// - <base> is the unique part and never changes while the message lives; Roost (like Dovecot)
//   generates `<secs>.M<usecs>P<pid>.<host>,S=<physical size>,W=<CRLF size>`. Everything up
//   to the first ':' is the base; files in new/ often have no ':' at all.
// - <flags> are single letters in ASCII order: D=\Draft F=\Flagged P=passed (no IMAP flag,
//   kept as is) R=\Answered S=\Seen T=\Deleted, then a-z = keyword 0-25 of the mailbox's
//   dovecot-keywords file. Letters Roost does not know are kept when flags change.
// - Anything after a ',' in the flags field is left alone (Dovecot's extension).
// - `,S=<n>` and `,W=<n>` inside the base give the physical and the CRLF size; a value ends at
//   ',', ':' or the end of the name.

import os from 'node:os';

/** IMAP system flag -> maildir letter. */
export const SYSTEM_FLAG_LETTER: Readonly<Record<string, string>> = {
  '\\Draft': 'D',
  '\\Flagged': 'F',
  '\\Answered': 'R',
  '\\Seen': 'S',
  '\\Deleted': 'T',
};

const LETTER_SYSTEM_FLAG: Readonly<Record<string, string>> = {
  D: '\\Draft',
  F: '\\Flagged',
  R: '\\Answered',
  S: '\\Seen',
  T: '\\Deleted',
};

/** Canonical spelling of a system flag given in any case, or undefined. */
const CANONICAL_SYSTEM: ReadonlyMap<string, string> = new Map(
  ['\\Draft', '\\Flagged', '\\Answered', '\\Seen', '\\Deleted', '\\Recent'].map((f) => [f.toLowerCase(), f]),
);
export function canonicalSystemFlag(flag: string): string | undefined {
  return CANONICAL_SYSTEM.get(flag.toLowerCase());
}

export interface SplitName {
  base: string;
  /** Flag letters of a ':2,' info part (without any ',extra'). Empty when there is no info. */
  letters: string;
  /** ',extra' after the flag letters, kept verbatim; '' when absent. */
  extra: string;
  /** True when the name carries a ':2,' info part. */
  hasInfo: boolean;
}

export function baseOf(filename: string): string {
  const colon = filename.indexOf(':');
  return colon < 0 ? filename : filename.slice(0, colon);
}

export function splitFilename(filename: string): SplitName {
  const colon = filename.indexOf(':');
  if (colon < 0) return { base: filename, letters: '', extra: '', hasInfo: false };
  const base = filename.slice(0, colon);
  const info = filename.slice(colon + 1);
  if (!info.startsWith('2,')) return { base, letters: '', extra: '', hasInfo: false };
  const rest = info.slice(2);
  const comma = rest.indexOf(',');
  return comma < 0
    ? { base, letters: rest, extra: '', hasInfo: true }
    : { base, letters: rest.slice(0, comma), extra: rest.slice(comma), hasInfo: true };
}

/** Value of ',S=' or ',W=' in a base name (Dovecot's rules), or undefined. */
export function sizeField(base: string, type: 'S' | 'W'): number | undefined {
  const key = ',' + type + '=';
  let at = base.indexOf(key);
  while (at >= 0) {
    let i = at + 3;
    let value = 0;
    let digits = 0;
    while (i < base.length && base.charCodeAt(i) >= 0x30 && base.charCodeAt(i) <= 0x39) {
      value = value * 10 + (base.charCodeAt(i) - 0x30);
      i++;
      digits++;
    }
    if (digits > 0 && (i === base.length || base[i] === ',' || base[i] === ':')) return value;
    at = base.indexOf(key, at + 1);
  }
  return undefined;
}

/** Sort letters in ASCII order and drop duplicates, as Dovecot writes them. */
export function normalizeLetters(letters: string): string {
  return [...new Set(letters)].sort().join('');
}

export function buildFilename(base: string, letters: string, extra = ''): string {
  return base + ':2,' + normalizeLetters(letters) + extra;
}

/**
 * IMAP flags for the letters of a file name. Keyword letters without an entry in
 * dovecot-keywords are not shown (they are kept in the name, see mergeLetters).
 */
export function lettersToFlags(letters: string, keywords: readonly (string | undefined)[]): string[] {
  const flags: string[] = [];
  for (const ch of letters) {
    const sys = LETTER_SYSTEM_FLAG[ch];
    if (sys) {
      flags.push(sys);
      continue;
    }
    const code = ch.charCodeAt(0);
    if (code >= 0x61 && code <= 0x7a) {
      const name = keywords[code - 0x61];
      if (name !== undefined) flags.push(name);
    }
  }
  return [...new Set(flags)].sort();
}

/**
 * Letters for `flags`, keeping the letters of `oldLetters` that no IMAP flag controls
 * (P, unknown letters, keyword letters without a dovecot-keywords entry).
 * `keywordIndex` returns the 0-25 index of a keyword, or -1 if it has none; `keywords` is the
 * dovecot-keywords table (letters of its named entries are the ones flags control).
 */
export function flagsToLetters(
  flags: readonly string[],
  keywordIndex: (name: string) => number,
  oldLetters: string,
  keywords: readonly (string | undefined)[],
): string {
  let letters = '';
  for (const ch of oldLetters) {
    if (LETTER_SYSTEM_FLAG[ch]) continue;
    const code = ch.charCodeAt(0);
    if (code >= 0x61 && code <= 0x7a && keywords[code - 0x61] !== undefined) continue;
    letters += ch;
  }
  for (const flag of flags) {
    if (flag.startsWith('\\')) {
      const letter = SYSTEM_FLAG_LETTER[flag];
      if (letter) letters += letter;
      continue;
    }
    const index = keywordIndex(flag);
    if (index >= 0 && index < 26) letters += String.fromCharCode(0x61 + index);
  }
  return normalizeLetters(letters);
}

/** Host name as it goes into a base name: '/' and ':' escaped as \057 and \072 (maildir spec). */
export function escapedHostname(name = os.hostname()): string {
  return name.replace(/\//g, '\\057').replace(/:/g, '\\072');
}

let lastSecs = 0;
let lastUsecs = -1;

/** A new unique base `<secs>.M<usecs>P<pid>.<host>` (strictly increasing within the process). */
export function generateBase(): string {
  const nowUs = Math.floor((performance.timeOrigin + performance.now()) * 1000);
  let secs = Math.floor(nowUs / 1_000_000);
  let usecs = nowUs % 1_000_000;
  if (secs < lastSecs || (secs === lastSecs && usecs <= lastUsecs)) {
    secs = lastSecs;
    usecs = lastUsecs + 1;
    if (usecs === 1_000_000) {
      secs++;
      usecs = 0;
    }
  }
  lastSecs = secs;
  lastUsecs = usecs;
  return `${secs}.M${usecs}P${process.pid}.${hostnameCache ?? (hostnameCache = escapedHostname())}`;
}
let hostnameCache: string | undefined;

/** Base name with the size fields Dovecot reads. */
export function withSizes(base: string, physical: number, virtual: number): string {
  return `${base},S=${physical},W=${virtual}`;
}

/**
 * Order in which new files get UIDs: by the leading timestamp, then the M<usecs> part, then
 * the base name, like Dovecot (so both assign the same order to a batch of deliveries).
 */
export function compareForUidOrder(a: string, b: string): number {
  const ta = leadingSeconds(a);
  const tb = leadingSeconds(b);
  if (ta.secs !== tb.secs) return ta.secs - tb.secs;
  const ua = usecsOf(a, ta.end);
  const ub = usecsOf(b, tb.end);
  if (ua !== undefined && ub !== undefined && ua !== ub) return ua - ub;
  const ba = baseOf(a.slice(ta.end));
  const bb = baseOf(b.slice(tb.end));
  return ba < bb ? -1 : ba > bb ? 1 : 0;
}

function leadingSeconds(name: string): { secs: number; end: number } {
  let secs = 0;
  let i = 0;
  while (i < name.length && name.charCodeAt(i) >= 0x30 && name.charCodeAt(i) <= 0x39) {
    secs = secs * 10 + (name.charCodeAt(i) - 0x30);
    i++;
  }
  return { secs, end: i };
}

function usecsOf(name: string, at: number): number | undefined {
  if (name[at] !== '.') return undefined;
  let i = at + 1;
  while (i < name.length && name[i] !== '.' && name[i] !== ':') {
    if (name[i++] === 'M') {
      let usecs = 0;
      while (i < name.length && name.charCodeAt(i) >= 0x30 && name.charCodeAt(i) <= 0x39) {
        usecs = usecs * 10 + (name.charCodeAt(i) - 0x30);
        i++;
      }
      return usecs;
    }
  }
  return undefined;
}
