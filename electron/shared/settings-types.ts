// The effective, validated settings the mail server runs with.
// Names follow Dovecot's where Dovecot has one (doveconf -n prints them back).
// Parsing, defaults and validation live in settings.ts; this file is types only so the
// renderer can share it without pulling in Node modules.

export type AuthMechanism = 'plain' | 'login';

export interface ServerSettings {
  /** Roost's own: the vmail base directory every user's mail lives under (Postfix's virtual_mailbox_base). */
  vmail: string;
  /** Dovecot mail_home template, e.g. '/var/vmail/%d/%n'. Variables: %u %n %d %Lu %Ln %Ld %%. */
  mail_home: string;
  /** Dovecot mail_location, e.g. 'maildir:~/maildir'. Only the maildir driver is supported. */
  mail_location: string;
  /** passdb { driver = static, args = password=... }: one password for every user. */
  passdb: { driver: 'static'; password: string };
  /**
   * userdb { driver = static, args = uid=vmail gid=vmail }: resolved numeric owner of files Roost creates.
   * Undefined means: the owner of the vmail base directory.
   */
  userdb: { driver: 'static'; uid?: number; gid?: number; uidName?: string; gidName?: string };
  first_valid_uid: number;
  last_valid_uid: number;
  first_valid_gid: number;
  last_valid_gid: number;
  auth_mechanisms: AuthMechanism[];
  disable_plaintext_auth: boolean;
  auth_username_chars: string;
  /** Seconds to wait before answering a failed authentication. */
  auth_failure_delay: number;
  /** Address to listen on (Dovecot: listen). */
  listen: string;
  /** service imap-login { inet_listener imap { port } } */
  port: number;
  /** Dovecot imap_max_line_length (bytes). */
  imap_max_line_length: number;
  /** Roost's own: largest literal (APPEND size) accepted, bytes. */
  max_literal_size: number;
  /** Dovecot mail_max_userip_connections. */
  mail_max_userip_connections: number;
  /** Roost's own: directory for the disposable message cache; default is inside each maildir. */
  cache_dir?: string;
}
