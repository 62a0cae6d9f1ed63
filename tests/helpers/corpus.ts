// Builds a small but varied vmail tree the way Postfix and Dovecot leave it on disk, for
// interop and differential tests: Maildir++ folders (`.Name`, `maildirfolder` file), flags in
// filenames (`:2,` + letters in ASCII order, keywords as a..z per `dovecot-keywords`),
// `,S=`/`,W=` sizes, file mtime as INTERNALDATE, a folder with a pre-existing
// `dovecot-uidlist` (UID gaps), a non-ASCII folder in modified UTF-7, and a `subscriptions`
// file. Messages use LF line endings like Postfix's maildir delivery, except one with CRLF.
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { encodeMailboxName } from './imap-wire.js';

export const TEST_USER = 'alice@example.org';
export const TEST_PASSWORD = 'ThisIsABadPassword';

export interface CorpusMessage {
  /** Folder as seen over IMAP ('INBOX', 'Work', 'Work.Projects', 'Entwürfe'). */
  folder: string;
  /** Raw message with LF or CRLF line endings (exactly the file's bytes). */
  raw: Buffer;
  /** Maildir info letters for system flags: D F P R S T. */
  flags: string;
  keywords: string[];
  /** INTERNALDATE = file mtime. */
  date: Date;
  /** Delivered to new/ (not yet seen by any IMAP server -> \Recent). */
  isNew?: boolean;
  /** Fixed UID in a pre-existing dovecot-uidlist (only for folders listed in uidlistFolders). */
  uid?: number;
  /** Write ,S= and ,W= into the filename (Dovecot does for files it saves). */
  sizesInName?: boolean;
}

/** Keywords in dovecot-keywords order: index = letter a + i. */
export const KEYWORDS = ['$Forwarded', 'Important', '$Label1'];

/** Folders holding a pre-existing dovecot-uidlist: UIDVALIDITY and next UID. */
const UIDLIST_FOLDERS: Record<string, { uidValidity: number; nextUid: number }> = {
  Work: { uidValidity: 1700000000, nextUid: 15 },
};

const lf = (s: string) => Buffer.from(s.replace(/\r?\n/g, '\n'), 'utf8');
const crlf = (s: string) => Buffer.from(s.replace(/\r?\n/g, '\r\n'), 'utf8');
const day = (iso: string) => new Date(iso);

const PDF = Buffer.from('%PDF-1.4\n% fake but binary: \x00\x01\x02\xff\xfe\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n', 'latin1');
const b64 = (b: Buffer) => b.toString('base64').replace(/.{1,76}/g, '$&\n');

/** The corpus. Dates are at midday UTC so that the calendar date is the same in any zone within ±11h. */
export function corpusMessages(): CorpusMessage[] {
  return [
    {
      folder: 'INBOX', flags: 'S', keywords: [], date: day('2024-01-10T12:00:00Z'),
      raw: lf(`Return-Path: <bob@example.com>
Delivered-To: alice@example.org
Received: from mx.example.com (mx.example.com [192.0.2.1])
\tby mail.example.org (Postfix) with ESMTP id 4ABCD
\tfor <alice@example.org>; Wed, 10 Jan 2024 12:00:00 +0000 (UTC)
From: Bob Example <bob@example.com>
To: Alice <alice@example.org>
Subject: Plain hello
Date: Wed, 10 Jan 2024 12:00:00 +0000
Message-ID: <plain-1@example.com>
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii

Hello Alice,

this is a plain text message with a needle in it.

Bob
`),
    },
    {
      folder: 'INBOX', flags: 'FS', keywords: [], date: day('2024-01-12T12:00:00Z'), sizesInName: true,
      raw: lf(`From: "Carol, the Sender" <carol@example.net>
To: alice@example.org, "Dave D." <dave@example.org>
Cc: team@example.org
Reply-To: replies@example.net
Subject: Multipart alternative
Date: Fri, 12 Jan 2024 13:14:15 +0100
Message-ID: <alt-2@example.net>
In-Reply-To: <plain-1@example.com>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="alt-boundary"

This is a multi-part message in MIME format.

--alt-boundary
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Grüße aus Köln – plain part.

--alt-boundary
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: quoted-printable

<html><body><p>Gr=C3=BC=C3=9Fe aus <b>K=C3=B6ln</b> =E2=80=93 html part.</p></body></html>

--alt-boundary--
`),
    },
    {
      folder: 'INBOX', flags: '', keywords: ['Important'], date: day('2024-02-01T12:00:00Z'),
      raw: lf(`From: newsletter@example.com
To: alice@example.org
Subject: =?ISO-8859-1?Q?Caf=E9_newsletter?=
Date: Thu, 1 Feb 2024 09:00:00 -0500
Message-ID: <html-3@example.com>
MIME-Version: 1.0
Content-Type: text/html; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

<html><body><h1>Caf=E9</h1><p>Fresh coffee and a needle.</p></body></html>
`),
    },
    {
      folder: 'INBOX', flags: 'RS', keywords: ['$Forwarded'], date: day('2024-02-15T12:00:00Z'), sizesInName: true,
      raw: lf(`From: Erin <erin@example.com>
To: alice@example.org
Subject: Report with attachment
Date: Thu, 15 Feb 2024 10:00:00 +0000
Message-ID: <attach-4@example.com>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="mixed-4"

--mixed-4
Content-Type: text/plain; charset=us-ascii

Please find the report attached.

--mixed-4
Content-Type: application/pdf; name="report.pdf"
Content-Disposition: attachment; filename="report.pdf"
Content-Transfer-Encoding: base64
Content-Description: Quarterly report

${b64(PDF)}
--mixed-4
Content-Type: text/plain; charset=utf-8; name="=?UTF-8?B?bm90aXrDqC50eHQ=?="
Content-Disposition: attachment; filename*=UTF-8''notiz%C3%A9.txt
Content-Transfer-Encoding: 8bit

Notizé
--mixed-4--
`),
    },
    {
      folder: 'INBOX', flags: 'S', keywords: ['Important', '$Label1'], date: day('2024-03-01T12:00:00Z'),
      raw: lf(`From: Frank <frank@example.com>
To: alice@example.org
Subject: Fwd: Original message
Date: Fri, 1 Mar 2024 08:30:00 +0000
Message-ID: <fwd-5@example.com>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="fwd-5"

--fwd-5
Content-Type: text/plain

See below.

--fwd-5
Content-Type: message/rfc822

From: Grace <grace@example.org>
To: frank@example.com
Subject: Original message
Date: Thu, 29 Feb 2024 18:00:00 +0000
Message-ID: <orig@example.org>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="inner"

--inner
Content-Type: text/plain; charset=us-ascii

Inner plain with needle.

--inner
Content-Type: text/html; charset=us-ascii

<p>Inner html</p>

--inner--

--fwd-5--
`),
    },
    {
      folder: 'INBOX', flags: 'S', keywords: [], date: day('2024-03-05T12:00:00Z'),
      raw: lf(`From: =?UTF-8?B?SsO8cmdlbiBNw7xsbGVy?= <juergen@example.de>
To: =?UTF-8?Q?Al=C3=AFce?= <alice@example.org>, undisclosed-recipients:;
Subject: =?UTF-8?B?w5xiZXJwcsO8ZnVuZyBkZXIgS29uZmlndXJhdGlvbg==?=
 =?UTF-8?Q?_=E2=9C=93?=
Date: Tue, 5 Mar 2024 11:00:00 +0100
Message-ID: <rfc2047-6@example.de>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

Die Konfiguration wurde gepr=C3=BCft.
`),
    },
    {
      folder: 'INBOX', flags: 'DT', keywords: [], date: day('2024-03-10T12:00:00Z'),
      raw: lf(`From: alice@example.org
To: nobody@example.com
Subject: Deleted draft
Date: Sun, 10 Mar 2024 12:00:00 +0000
Message-ID: <draft-7@example.org>

A deleted draft.
`),
    },
    {
      // CRLF line endings, no MIME headers at all, 8-bit body.
      folder: 'INBOX', flags: '', keywords: [], date: day('2024-04-01T12:00:00Z'), isNew: true,
      raw: crlf(`From: Heidi <heidi@example.com>
To: alice@example.org
Subject: New CRLF message
Date: Mon, 1 Apr 2024 12:00:00 +0000
Message-ID: <new-8@example.com>

Unseen and recent, with a needle and 8-bit: naïve.
`),
    },
    {
      folder: 'INBOX', flags: '', keywords: [], date: day('2024-04-02T12:00:00Z'), isNew: true,
      raw: lf(`From: Ivan <ivan@example.com>
To: alice@example.org
Subject: Second new one
Date: Tue, 2 Apr 2024 12:00:00 +0000
Message-ID: <new-9@example.com>
Content-Type: text/plain; charset=us-ascii; format=flowed

A large-ish body line repeated.
${'Lorem ipsum dolor sit amet, consectetur adipiscing elit. '.repeat(40)}
`),
    },
    {
      folder: 'Sent', flags: 'S', keywords: [], date: day('2024-01-11T12:00:00Z'),
      raw: lf(`From: Alice <alice@example.org>
To: Bob Example <bob@example.com>
Subject: Re: Plain hello
Date: Thu, 11 Jan 2024 12:00:00 +0000
Message-ID: <sent-1@example.org>
In-Reply-To: <plain-1@example.com>
References: <plain-1@example.com>

Hi Bob, thanks!
`),
    },
    {
      folder: 'Work', flags: 'S', keywords: [], date: day('2023-11-01T12:00:00Z'), uid: 3,
      raw: lf(`From: boss@example.com
To: alice@example.org
Subject: Project kickoff
Date: Wed, 1 Nov 2023 12:00:00 +0000
Message-ID: <work-3@example.com>

Kickoff on Monday.
`),
    },
    {
      folder: 'Work', flags: 'FS', keywords: ['Important'], date: day('2023-11-02T12:00:00Z'), uid: 7,
      raw: lf(`From: boss@example.com
To: alice@example.org
Subject: Budget
Date: Thu, 2 Nov 2023 12:00:00 +0000
Message-ID: <work-7@example.com>

Budget numbers.
`),
    },
    {
      folder: 'Work', flags: '', keywords: [], date: day('2023-11-03T12:00:00Z'), uid: 10,
      raw: lf(`From: hr@example.com
To: alice@example.org
Subject: Holidays
Date: Fri, 3 Nov 2023 12:00:00 +0000
Message-ID: <work-10@example.com>

Holiday plan.
`),
    },
    {
      folder: 'Work.Projects', flags: '', keywords: [], date: day('2023-12-01T12:00:00Z'),
      raw: lf(`From: pm@example.com
To: alice@example.org
Subject: Roadmap
Date: Fri, 1 Dec 2023 12:00:00 +0000
Message-ID: <proj-1@example.com>

Roadmap draft.
`),
    },
    {
      folder: 'Entwürfe', flags: 'DS', keywords: [], date: day('2024-05-01T12:00:00Z'),
      raw: lf(`From: alice@example.org
To: bob@example.com
Subject: =?UTF-8?Q?Entwurf_f=C3=BCr_Bob?=
Date: Wed, 1 May 2024 12:00:00 +0000
Message-ID: <entwurf-1@example.org>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Noch nicht fertig – später.
`),
    },
  ];
}

/** Folders that exist on disk besides INBOX (Trash exists but is empty). */
export const CORPUS_FOLDERS = ['Sent', 'Trash', 'Work', 'Work.Projects', 'Entwürfe'];
export const CORPUS_SUBSCRIPTIONS = ['INBOX', 'Sent', 'Work', 'Entwürfe'];

/** Maildir directory of a folder under a maildir root (Maildir++: `.` + mUTF-7 name). */
export function folderDir(maildir: string, folder: string): string {
  return folder === 'INBOX' ? maildir : path.join(maildir, '.' + encodeMailboxName(folder));
}

/** <vmail>/<domain>/<local>/maildir: mail_home = <vmail>/%d/%n, mail_location = maildir:~/maildir. */
export function userMaildir(vmail: string, user = TEST_USER): string {
  const [local, domain] = user.split('@');
  return path.join(vmail, domain ?? '', local!, 'maildir');
}

async function mkMaildir(dir: string, isFolder: boolean): Promise<void> {
  for (const sub of ['cur', 'new', 'tmp']) await fs.mkdir(path.join(dir, sub), { recursive: true });
  if (isFolder) await fs.writeFile(path.join(dir, 'maildirfolder'), '');
}

/** The message as IMAP serves it: every bare LF turned into CRLF. */
export function toCrlf(raw: Buffer): Buffer {
  return Buffer.from(raw.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');
}

function virtualSize(raw: Buffer): number {
  // Size with every line ending as CRLF (what RFC822.SIZE reports).
  let lfs = 0;
  for (let k = 0; k < raw.length; k++) if (raw[k] === 0x0a && (k === 0 || raw[k - 1] !== 0x0d)) lfs++;
  return raw.length + lfs;
}

/**
 * Write the corpus for `user` under `vmail`. Returns the messages written. Filenames follow
 * Postfix/Dovecot: `<secs>.M<usecs>P<pid>Q<n>.<host>[,S=<size>,W=<vsize>][:2,<flags>]`.
 */
export async function buildCorpus(vmail: string, user = TEST_USER): Promise<CorpusMessage[]> {
  const maildir = userMaildir(vmail, user);
  await mkMaildir(maildir, false);
  for (const f of CORPUS_FOLDERS) await mkMaildir(folderDir(maildir, f), true);
  // Parent folder of Work.Projects exists itself (Work); nothing extra needed for Maildir++.
  await fs.writeFile(path.join(maildir, 'subscriptions'), CORPUS_SUBSCRIPTIONS.map(encodeMailboxName).join('\n') + '\n');

  const msgs = corpusMessages();
  const uidlists = new Map<string, string[]>();
  const usedKeywordsByFolder = new Map<string, Set<string>>();
  let n = 0;
  for (const m of msgs) {
    n++;
    const dir = folderDir(maildir, m.folder);
    const secs = Math.floor(m.date.getTime() / 1000);
    let base = `${secs}.M${100000 + n}P4242Q${n}.mail.example.org`;
    if (m.sizesInName) base += `,S=${m.raw.length},W=${virtualSize(m.raw)}`;
    const letters = m.keywords.map((k) => {
      const i = KEYWORDS.indexOf(k);
      if (i < 0) throw new Error(`keyword ${k} not in KEYWORDS`);
      return String.fromCharCode(0x61 + i);
    });
    const info = [...m.flags.split(''), ...letters].sort().join('');
    const file = m.isNew ? path.join(dir, 'new', base) : path.join(dir, 'cur', `${base}:2,${info}`);
    await fs.writeFile(file, m.raw);
    await fs.utimes(file, m.date, m.date);
    if (m.keywords.length) {
      const set = usedKeywordsByFolder.get(dir) ?? new Set<string>();
      m.keywords.forEach((k) => set.add(k));
      usedKeywordsByFolder.set(dir, set);
    }
    if (m.uid !== undefined) {
      const list = uidlists.get(m.folder) ?? [];
      list.push(`${m.uid} :${base}`);
      uidlists.set(m.folder, list);
    }
  }
  // dovecot-keywords per maildir that uses keywords: "<index> <name>" lines.
  for (const dir of usedKeywordsByFolder.keys()) {
    await fs.writeFile(path.join(dir, 'dovecot-keywords'), KEYWORDS.map((k, i) => `${i} ${k}`).join('\n') + '\n');
  }
  // Pre-existing dovecot-uidlist v3 (UID gaps from earlier expunges).
  for (const [folder, lines] of uidlists) {
    const meta = UIDLIST_FOLDERS[folder];
    if (!meta) throw new Error(`folder ${folder} has fixed UIDs but no uidlist header`);
    const guid = '0123456789abcdef0123456789abcdef';
    await fs.writeFile(path.join(folderDir(maildir, folder), 'dovecot-uidlist'),
      `3 V${meta.uidValidity} N${meta.nextUid} G${guid}\n${lines.join('\n')}\n`);
  }
  return msgs;
}

/** Copy a vmail tree exactly (timestamps preserved: INTERNALDATE is the file mtime). */
export async function copyTree(from: string, to: string): Promise<void> {
  await fs.cp(from, to, { recursive: true, preserveTimestamps: true });
}

/** A fresh temp directory; remove it with removeTemp(). */
export async function makeTemp(prefix = 'roost-test-'): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), prefix));
}

export async function removeTemp(dir: string | undefined): Promise<void> {
  if (dir) await fs.rm(dir, { recursive: true, force: true });
}
