// The generated password of a fresh install, kept so the next start uses the same one.
//
// File format: <data dir>/password, mode 0600, one line: the password (UTF-8) followed by "\n".
// Written to a temporary name, fsynced, then linked into place (so two first starts agree on one password). Delete the file to get a new password
// on the next start; a password given by --password, ROOST_PASSWORD or a config file takes precedence
// and leaves the file alone.
import { randomInt } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { readTextIfExists, writeFileAtomic, writeSynced } from './files.js';

export const PASSWORD_FILE = 'password';

// No 0/o, 1/l/i: easy to read aloud and to type into a phone's mail app.
const ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789';

/** 16 random characters in four groups (about 79 bits), e.g. "k7mq-x2ab-9fhe-tr4w". */
export function generatePassword(): string {
  const groups: string[] = [];
  for (let g = 0; g < 4; g++) {
    let s = '';
    for (let i = 0; i < 4; i++) s += ALPHABET[randomInt(ALPHABET.length)];
    groups.push(s);
  }
  return groups.join('-');
}

export interface StoredPassword {
  password: string;
  file: string;
  /** True when this call generated it (print it once). */
  created: boolean;
  /** Set when the existing file is readable by other users. */
  warning?: string;
}

export function passwordFile(dataDir: string): string {
  return path.join(dataDir, PASSWORD_FILE);
}

/** The stored password, or undefined when there is none (or the file is empty). */
export function readStoredPassword(dataDir: string): StoredPassword | undefined {
  const file = passwordFile(dataDir);
  const text = readTextIfExists(file);
  if (text === undefined) return undefined;
  const password = text.split(/\r?\n/)[0];
  if (!password) return undefined;
  let warning: string | undefined;
  if (process.platform !== 'win32') {
    const mode = fs.statSync(file).mode & 0o777;
    if (mode & 0o077) warning = `${file} is readable by other users (mode ${mode.toString(8)}); run: chmod 600 ${file}`;
  }
  return { password, file, created: false, warning };
}

/** The stored password; generates and stores one (0600) when there is none. */
export function loadOrCreatePassword(dataDir: string): StoredPassword {
  const existing = readStoredPassword(dataDir);
  if (existing) return existing;
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const password = generatePassword();
  const file = passwordFile(dataDir);
  const tmp = `${file}.tmp-${process.pid}`;
  writeSynced(tmp, password + '\n', 0o600);
  // link() instead of rename(): if another Roost created the file meanwhile, keep theirs (and say that one).
  try {
    fs.linkSync(tmp, file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    const theirs = readStoredPassword(dataDir);
    if (theirs) return theirs;
    fs.renameSync(tmp, file);
    return { password, file, created: true };
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  return { password, file, created: true };
}

/**
 * Replaces the stored password (the app's settings page, or the headless web UI, changed it):
 * temporary file (0600), fsync, rename over the old one, so a crash leaves either password, never half.
 */
export function writeStoredPassword(dataDir: string, password: string): string {
  if (!password || /[\0\r\n]/.test(password)) throw new Error('the password must be one non-empty line');
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = passwordFile(dataDir);
  // writeFileAtomic also sets 0600 after the rename: an old file's looser mode must not survive.
  writeFileAtomic(file, password + '\n', 0o600);
  return file;
}
