// Address lists (RFC 5322 section 3.4, with the obsolete forms of 4.4) as IMAP ENVELOPE
// needs them (RFC 3501 7.4.2): name, source route, mailbox and host, plus group markers.
//
// Broken input is common, and clients show what we return, so we follow Dovecot's repair
// rules: a missing mailbox or host becomes "MISSING_MAILBOX" / "MISSING_DOMAIN", an unusable
// <angle-addr> gets host "SYNTAX_ERROR", a bad route "INVALID_ROUTE"; an addr-spec followed
// by words turns those words into a display name; a comment after an addr-spec is its
// display name; empty list elements become a MISSING_MAILBOX/MISSING_DOMAIN entry.
// RFC 2047 encoded words are kept as they are: ENVELOPE carries undecoded header text.

import { Rfc822Scanner } from './rfc822.js';

/** One ENVELOPE address; group start = mailbox only (the group name), group end = all null. */
export interface Address {
  name: string | null;
  route: string | null;
  mailbox: string | null;
  domain: string | null;
}

function blank(): Address {
  return { name: null, route: null, mailbox: null, domain: null };
}

class AddressParser {
  private readonly s: Rfc822Scanner;
  private readonly d: Buffer;
  readonly list: Address[] = [];
  private a: Address = blank();
  private invalid = false;

  constructor(buf: Buffer, start: number, end: number) {
    this.d = buf;
    this.s = new Rfc822Scanner(buf, start, end, true, true);
  }

  private at(c: number): boolean {
    return this.s.pos < this.s.end && this.d[this.s.pos] === c;
  }

  private add(): void {
    this.list.push(this.a);
    this.a = blank();
    this.invalid = false;
  }

  private addFixed(): void {
    if (this.a.mailbox === null) this.a.mailbox = 'MISSING_MAILBOX';
    if (this.a.domain === null || this.a.domain === '') this.a.domain = 'MISSING_DOMAIN';
    this.add();
  }

  private localPart(): number {
    const s = this.s;
    s.out = '';
    const r = this.at(0x22) ? s.quoted() : s.looseDotAtom();
    if (r < 0) return -1;
    this.a.mailbox = s.out;
    return r;
  }

  private domain(): number {
    this.s.out = '';
    const r = this.s.domain();
    if (r < 0) return -1;
    this.a.domain = this.s.out;
    return r;
  }

  /** obs-route: "@" domain *("," ["@" domain]) before ":" (RFC 5322 4.4). */
  private route(): number {
    const s = this.s;
    s.out = '';
    for (;;) {
      if (s.pos >= s.end) return 0;
      if (this.d[s.pos] !== 0x40) break;
      if (s.out.length > 0) s.out += ',';
      s.out += '@';
      const r = s.domain();
      if (r <= 0) return r;
      while (s.skipLwsp() > 0 && this.d[s.pos] === 0x2c) s.pos++;
    }
    this.a.route = s.out;
    return 1;
  }

  /** angle-addr = "<" [route ":"] addr-spec ">" */
  private angleAddr(): number {
    const s = this.s;
    s.pos++;
    if (s.skipLwsp() <= 0) return -1;
    if (this.at(0x40)) {
      if (this.route() > 0 && this.at(0x3a)) {
        s.pos++;
      } else {
        this.a.route = 'INVALID_ROUTE';
        if (s.pos >= s.end) return -1;
      }
      if (s.skipLwsp() <= 0) return -1;
    }
    if (!this.at(0x3e)) {
      if (this.localPart() <= 0) return -1;
      if (this.at(0x40) && this.domain() <= 0) return -1;
    }
    if (!this.at(0x3e)) return -1;
    s.pos++;
    return s.skipLwsp();
  }

  /** name-addr = [display-name] angle-addr */
  private nameAddr(): number {
    const s = this.s;
    s.out = '';
    if (s.phrase() <= 0 || !this.at(0x3c)) return -1;
    this.a.name = s.out === '' ? null : s.out;
    if (this.angleAddr() < 0) {
      this.a.domain = 'SYNTAX_ERROR';
      this.invalid = true;
    }
    return s.pos < s.end ? 1 : 0;
  }

  /** addr-spec = local-part "@" domain, with the comment/trailing-words repairs. */
  private addrSpec(): number {
    const s = this.s;
    s.comment = '';
    const quoted = this.at(0x22);
    let r = this.localPart();
    let r2 = -2;
    if (r <= 0) this.invalid = true;
    if (r !== 0 && this.at(0x40)) {
      r2 = this.domain();
      if (r2 <= 0) r = r2;
    }
    if (s.comment.length > 0) {
      this.a.name = s.comment;
    } else if (r2 === -2) {
      // "user" alone is a mailbox without host; "some words" are a display name
      s.out += ' ';
      const before = s.out.length;
      s.phrase();
      if (s.out.length !== before) {
        this.a.mailbox = null;
        this.a.name = s.out;
      } else if (!quoted) {
        this.a.domain = '';
      }
      this.invalid = true;
      r = -1;
    }
    return r;
  }

  private mailbox(): number {
    const start = this.s.pos;
    let r = this.nameAddr();
    if (r < 0) {
      this.s.pos = start;
      r = this.addrSpec();
      const a = this.a;
      if (this.invalid && a.name === null && a.mailbox !== null && a.domain === null) {
        a.name = a.mailbox;
        a.mailbox = null;
      }
    }
    this.addFixed();
    return r;
  }

  /** group = display-name ":" [mailbox-list] ";" */
  private group(): number {
    const s = this.s;
    s.out = '';
    if (s.phrase() <= 0 || !this.at(0x3a)) return -1;
    s.pos++;
    let r = s.skipLwsp();
    this.a.mailbox = s.out;
    this.add();
    if (r > 0 && !this.at(0x3b)) {
      for (;;) {
        this.mailbox();
        if (!this.at(0x2c)) break;
        s.pos++;
        if (s.skipLwsp() <= 0) {
          r = -1;
          break;
        }
      }
    }
    if (r >= 0) {
      if (!this.at(0x3b)) r = -1;
      else {
        s.pos++;
        r = s.skipLwsp();
      }
    }
    this.a = blank();
    this.add();
    return r === 0 ? 0 : 1;
  }

  private address(): number {
    const start = this.s.pos;
    const r = this.group();
    if (r >= 0) return r;
    this.s.pos = start;
    return this.mailbox();
  }

  parse(): void {
    const s = this.s;
    if (s.skipLwsp() <= 0) return;
    for (;;) {
      if (this.address() === 0) break;
      if (!this.at(0x2c)) break;
      s.pos++;
      const r = s.skipLwsp();
      if (r <= 0) {
        if (r < 0) this.addFixed(); // ends with garbage
        break;
      }
    }
  }
}

/** Parses an address-list header value (raw bytes, folding allowed). */
export function parseAddressList(buf: Buffer, start = 0, end = buf.length): Address[] {
  const p = new AddressParser(buf, start, end);
  p.parse();
  return p.list;
}
