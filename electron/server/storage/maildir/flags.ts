// IMAP flag arguments: canonical spelling, validation, and STORE modes.

import type { StoreMode } from '../types.js';
import { StorageError } from '../types.js';
import { canonicalSystemFlag } from './filename.js';
import { validKeyword } from './keywords.js';

export interface ParsedFlags {
  /** Canonical system flags (without \Recent) and keywords as given, deduplicated case-insensitively. */
  flags: string[];
  keywords: string[];
}

/** Check and canonicalize flags from a client; \Recent is dropped, unknown system flags refused. */
export function parseFlagArgs(input: readonly string[]): ParsedFlags {
  const flags: string[] = [];
  const keywords: string[] = [];
  const seen = new Set<string>();
  for (const raw of input) {
    let flag = raw;
    if (flag.startsWith('\\')) {
      const canonical = canonicalSystemFlag(flag);
      if (!canonical) throw new StorageError('CANNOT', `Invalid system flag ${flag}`);
      if (canonical === '\\Recent') continue;
      flag = canonical;
    } else if (!validKeyword(flag)) {
      throw new StorageError('CANNOT', `Invalid keyword ${JSON.stringify(flag)}`);
    }
    const key = flag.toLowerCase();
    if (seen.has(key)) continue;
    seen.add(key);
    flags.push(flag);
    if (!flag.startsWith('\\')) keywords.push(flag);
  }
  return { flags, keywords };
}

/** The flags a message should have after STORE (case-insensitive for keywords). */
export function applyStoreMode(mode: StoreMode, current: readonly string[], flags: readonly string[]): string[] {
  if (mode === 'set') return [...flags];
  const lower = new Set(flags.map((f) => f.toLowerCase()));
  if (mode === 'remove') return current.filter((f) => !lower.has(f.toLowerCase()));
  const have = new Set(current.map((f) => f.toLowerCase()));
  return [...current, ...flags.filter((f) => !have.has(f.toLowerCase()))];
}
