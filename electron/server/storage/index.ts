// The storage backend the server uses: Dovecot-compatible maildir (see storage/maildir/).
export { openMailStore } from './maildir/store.js';
export type { MailStoreOptions } from './maildir/store.js';
export * from './types.js';
export { encodeMutf7, decodeMutf7 } from './mutf7.js';
