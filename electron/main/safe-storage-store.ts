// The desktop app's password store: the password encrypted with Electron's safeStorage (Keychain on
// macOS, DPAPI on Windows, the Secret Service / KWallet on Linux) in <data dir>/password.safe.
//
// File format: <data dir>/password.safe, mode 0600: the bytes safeStorage.encryptString() returned.
// Where safeStorage offers no real protection (no keyring on Linux: backend 'basic_text', or encryption
// unavailable) the headless CLI's 0600 plaintext password file is used instead, so the two stay in step.
// A password already in the plaintext file (from `npm run serve`) is read, and moved into password.safe on
// the next save.
import fs from 'node:fs';
import path from 'node:path';
import { PasswordFileStore, type SecretStore } from '../service/secret-store.js';
import { writeFileAtomic } from '../supervisor/files.js';
import { passwordFile } from '../supervisor/password-store.js';
import type { SafeStorageLike } from './electron-api.js';

export const SAFE_PASSWORD_FILE = 'password.safe';

export class SafeStorageSecretStore implements SecretStore {
  private readonly file: string;
  private readonly plain: PasswordFileStore;

  constructor(private readonly safe: SafeStorageLike, private readonly dataDir: string) {
    this.file = path.join(dataDir, SAFE_PASSWORD_FILE);
    this.plain = new PasswordFileStore(dataDir);
  }

  /** True when safeStorage really encrypts (not Linux's 'basic_text' fallback). */
  get encrypted(): boolean {
    try {
      if (!this.safe.isEncryptionAvailable()) return false;
      return this.safe.getSelectedStorageBackend?.() !== 'basic_text';
    } catch {
      return false;
    }
  }

  get description(): string {
    return this.encrypted ? `${this.file} (encrypted with the system keychain)` : this.plain.description;
  }

  read(): string | undefined {
    if (fs.existsSync(this.file) && this.encrypted) {
      try {
        const text = this.safe.decryptString(fs.readFileSync(this.file));
        if (text) return text;
      } catch {
        // Keychain changed or the file is damaged: fall back to the plaintext store, else "no password".
      }
    }
    return this.plain.read();
  }

  write(secret: string): void {
    if (!this.encrypted) {
      this.plain.write(secret);
      return;
    }
    writeFileAtomic(this.file, this.safe.encryptString(secret));
    // The plaintext copy would defeat the point.
    fs.rmSync(passwordFile(this.dataDir), { force: true });
  }
}
