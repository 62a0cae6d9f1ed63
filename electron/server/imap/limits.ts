// Every size, count and nesting limit of the IMAP engine lives here, so no code path can
// bypass one. Settings may override the first two (imap_max_line_length, max_literal_size).

export interface ImapLimits {
  /** Longest command line between literals, bytes (Dovecot: imap_max_line_length = 64k). */
  maxLineLength: number;
  /** Largest single literal, bytes (an APPENDed message). */
  maxLiteralSize: number;
  /** Largest whole command including its literals, bytes. */
  maxCommandSize: number;
  /** Deepest parenthesis nesting in one command (SEARCH, FETCH, APPEND lists). */
  maxNestingDepth: number;
  /** Most arguments/tokens in one command. */
  maxTokens: number;
  /** Consecutive invalid commands before the connection is closed (Dovecot: 20). */
  maxBadCommands: number;
  /** Commands received but not yet run; beyond this the server stops reading the socket. */
  maxPipelinedCommands: number;
  /** Unauthenticated connections are closed after this long idle, ms (Dovecot: 1 min). */
  loginTimeoutMs: number;
  /** Authenticated connections are closed after this long idle, ms (RFC 3501: at least 30 min). */
  idleTimeoutMs: number;
  /** Largest non-synchronizing literal skipped over after a refusal; bigger ones close the connection. */
  maxDiscardLiteral: number;
}

export const DEFAULT_LIMITS: ImapLimits = {
  maxLineLength: 64 * 1024,
  maxLiteralSize: 64 * 1024 * 1024,
  maxCommandSize: 80 * 1024 * 1024,
  maxNestingDepth: 64,
  maxTokens: 100_000,
  maxBadCommands: 20,
  maxPipelinedCommands: 200,
  loginTimeoutMs: 60_000,
  idleTimeoutMs: 30 * 60_000,
  maxDiscardLiteral: 1024 * 1024,
};
