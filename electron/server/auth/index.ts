// Authentication for the IMAP layer: username rules, the static passdb/userdb, SASL, plaintext policy.
export { checkUsername, normalizeUsername, MAX_USERNAME_BYTES } from './username.js';
export { verifyPassword } from './password.js';
export { resolveUser, isInsideOrEqual, AuthError, type AuthErrorCode, type ResolvedUser } from './user.js';
export {
  decodeSaslPlain, decodeSaslBase64, createSaslExchange, SASL_LOGIN_USERNAME_CHALLENGE, SASL_LOGIN_PASSWORD_CHALLENGE,
  type SaslCredentials, type SaslExchange, type SaslStep,
} from './sasl.js';
export { isSecuredConnection, plaintextAuthAllowed, AUTH_REPLIES } from './policy.js';
