// passdb static: one password for every user. The comparison takes the same time whatever the input,
// including its length: both sides go through HMAC-SHA-256 with a per-process random key first, so
// timingSafeEqual always compares 32 bytes and nothing about the stored password leaks through timing.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ServerSettings } from '../../shared/settings-types.js';

const KEY = randomBytes(32);

function digest(value: string | Uint8Array): Buffer {
  return createHmac('sha256', KEY).update(typeof value === 'string' ? Buffer.from(value, 'utf8') : value).digest();
}

/**
 * True when `password` is the passdb password. A string is compared as UTF-8 text; pass the raw bytes
 * (a Buffer) when the password came off the wire and may not be valid UTF-8.
 */
export function verifyPassword(settings: ServerSettings, password: string | Uint8Array): boolean {
  const expected = settings.passdb.password;
  const ok = timingSafeEqual(digest(expected), digest(password));
  // An empty configured password never matches (settings refuse it; this guards hand-built settings).
  return ok && expected.length > 0;
}
