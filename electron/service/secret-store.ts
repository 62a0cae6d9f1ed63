// Where the static password is kept. The settings file never holds it: the desktop app keeps it
// encrypted with Electron's safeStorage (electron/main/safe-storage-store.ts), the headless CLI in the
// 0600 password file it has always used (electron/supervisor/password-store.ts). Both implement this.
import { readStoredPassword, writeStoredPassword } from '../supervisor/password-store.js';

export interface SecretStore {
  /** In words, for logs and notes: e.g. '/home/me/.local/share/roost/password (mode 0600)'. */
  readonly description: string;
  /** The stored password, or undefined when there is none yet. */
  read(): string | undefined;
  /** Replaces the stored password (atomically). */
  write(secret: string): void;
}

/** The headless store: <data dir>/password, mode 0600 (format documented in password-store.ts). */
export class PasswordFileStore implements SecretStore {
  readonly description: string;
  constructor(private readonly dataDir: string) {
    this.description = `${dataDir}/password (mode 0600)`;
  }

  read(): string | undefined {
    return readStoredPassword(this.dataDir)?.password;
  }

  write(secret: string): void {
    writeStoredPassword(this.dataDir, secret);
  }
}

/** Keeps the password in memory only (tests). */
export class MemorySecretStore implements SecretStore {
  readonly description = 'memory';
  constructor(private secret?: string) {}
  read(): string | undefined {
    return this.secret;
  }
  write(secret: string): void {
    this.secret = secret;
  }
}
