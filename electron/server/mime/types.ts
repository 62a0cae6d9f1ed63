// MIME structure of a message as stored in a maildir file.
//
// Files may use LF or CRLF line endings (Postfix and Dovecot write LF). IMAP sizes and
// FETCH output are always in CRLF form, as Dovecot reports them, so every part carries
// both physical offsets (into the file) and virtual sizes (CRLF-counted).
// This tree is stored in the message cache as JSON: keep it plain data.

export interface MimeParam {
  /** Lowercased attribute name as it appears (RFC 2231 continuations kept as sent). */
  name: string;
  value: string;
}

export interface MimePart {
  /** Physical offset of the first header byte of this part (for the root: 0). */
  headerStart: number;
  /** Physical offset of the first body byte (just after the empty line ending the header). */
  bodyStart: number;
  /** Physical offset just past the last body byte. */
  bodyEnd: number;
  /** Virtual (CRLF) size of the header including the terminating empty line. */
  headerSize: number;
  /** Virtual (CRLF) size of the body. */
  bodySize: number;
  /** Number of lines in the body (for text/* and message/rfc822 in BODYSTRUCTURE). */
  bodyLines: number;

  /** Lowercased media type and subtype; defaults per RFC 2045 (text/plain, or message/rfc822 in multipart/digest). */
  type: string;
  subtype: string;
  params: MimeParam[];
  /** Content-Transfer-Encoding as sent (default '7bit'). */
  encoding: string;
  id?: string;
  description?: string;
  md5?: string;
  disposition?: { type: string; params: MimeParam[] };
  language?: string[];
  location?: string;
  /** True when the part has no Content-Type header (the default was applied). */
  defaulted?: boolean;

  /** Children of a multipart/* part, in order. */
  parts?: MimePart[];
  /** The encapsulated message of a message/rfc822 (or message/global) part. Its headerStart == this.bodyStart. */
  message?: MimePart;
  /** For message/rfc822 parts: the IMAP ENVELOPE of the encapsulated message, pre-rendered. */
  envelope?: string;
  /**
   * Root only: this message's own IMAP ENVELOPE, pre-rendered while parsing (so FETCH ENVELOPE
   * needs no header parsing). Absent in trees cached before it existed, or when the header
   * had lines too long to keep whole: then render it from MessageInfo.header.
   */
  headerEnvelope?: string;

  // Optional fields added by the MIME module (absent in the common case, to keep the cache small).
  // String values above (params, id, description, ...) are latin1 "binary" strings: raw header bytes.

  /**
   * Spelling as sent, when it differs from the lowercased type/subtype/parameter names
   * (Dovecot echoes it in BODYSTRUCTURE): asSent.params[i] is the sent name of params[i],
   * asSent.dispositionParams[i] that of disposition.params[i].
   */
  asSent?: { type?: string; subtype?: string; params?: string[]; dispositionParams?: string[] };
  /** A multipart or message/rfc822 beyond the nesting/part limits, kept as an opaque leaf. */
  overflow?: boolean;
  /** Virtual (CRLF) offset of headerStart, when it differs from headerStart (LF files). */
  virtualStart?: number;
  /** Root only, LF files over 256 KiB: [physical, virtual, ...] offset pairs at line starts, for seeking. */
  crlfMap?: number[];
}
