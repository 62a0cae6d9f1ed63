// Shared setup of the viewer and send-test browser tests: a vmail tree owned like Postfix's (the
// `vmail` user when root), messages written straight into maildirs (the way Postfix leaves them, or
// in bulk for the 100,000-message folder), the headless app started on it, and a page object for the
// viewer (what a user sees, by role and label).
import fs from 'node:fs';
import path from 'node:path';
import type { Locator, Page } from 'playwright';
import { chownTree, mailOwner } from './dovecot.js';
import { freePort, startRoostUi, type RoostUi } from './ui.js';

export const PASSWORD = 'ThisIsABadPassword';

let seq = 0;

/** Writes `raw` into `<maildir>/<sub>/` under a unique Postfix-like name; returns the file path. */
export function writeMail(maildir: string, raw: string | Buffer, opts: { sub?: 'new' | 'cur'; flags?: string; mtime?: Date } = {}): string {
  const sub = opts.sub ?? 'new';
  for (const d of ['tmp', 'new', 'cur']) fs.mkdirSync(path.join(maildir, d), { recursive: true });
  const t = Math.floor((opts.mtime?.getTime() ?? Date.now()) / 1000);
  const name = `${t}.M${++seq}P${process.pid}.roost-test${sub === 'cur' ? `:2,${opts.flags ?? ''}` : ''}`;
  const file = path.join(maildir, sub, name);
  fs.writeFileSync(file, raw);
  if (opts.mtime) fs.utimesSync(file, opts.mtime, opts.mtime);
  return file;
}

/** A plain message (LF line endings, as Postfix stores it). */
export function plainMessage(o: { from?: string; to?: string; subject: string; body: string; date?: Date; extraHeaders?: string[] }): string {
  const date = (o.date ?? new Date()).toUTCString().replace('GMT', '+0000');
  return [
    'Return-Path: <sender@example.org>',
    'Received: from mx.example.org (mx.example.org [192.0.2.1]) by mail.brokkr.net (Postfix) with ESMTP id 4ABCDEF012 for <alice@brokkr.net>; ' + date,
    'Received: from laptop.example.org by mx.example.org with ESMTPSA id 77XYZ; ' + date,
    `Date: ${date}`,
    `From: ${o.from ?? 'Bob Example <bob@example.org>'}`,
    `To: ${o.to ?? 'alice@brokkr.net'}`,
    `Subject: ${o.subject}`,
    `Message-ID: <${Date.now()}.${++seq}@example.org>`,
    ...(o.extraHeaders ?? []),
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    '',
    o.body,
    '',
  ].join('\n');
}

/**
 * `count` small messages written directly into `<maildir>/cur/` (unique names, `,S=` sizes, every third
 * unread, dates one minute apart): the quick way to a big folder. Returns the time it took.
 */
export function fillBigFolder(maildir: string, count: number): number {
  const t0 = Date.now();
  for (const d of ['tmp', 'new', 'cur']) fs.mkdirSync(path.join(maildir, d), { recursive: true });
  const base = Math.floor(Date.now() / 1000) - count * 60 - 3600;
  for (let i = 1; i <= count; i++) {
    const body = `Subject: Bulk message ${i}\nFrom: Bulk Sender <bulk${i % 50}@example.org>\nTo: alice@brokkr.net\nDate: ${new Date((base + i * 60) * 1000).toUTCString()}\n\nBody of bulk message ${i}.\n`;
    const size = Buffer.byteLength(body);
    const file = path.join(maildir, 'cur', `${base + i * 60}.M${i}P1.bulk,S=${size}:2,${i % 3 === 0 ? '' : 'S'}`);
    fs.writeFileSync(file, body);
    const when = new Date((base + i * 60) * 1000);
    fs.utimesSync(file, when, when);
  }
  return Date.now() - t0;
}

export interface ViewerApp {
  roost: RoostUi;
  imapPort: number;
}

/** The headless app serving `vmail` (wizard done, server started at launch) with its own data directory. */
export async function startViewerApp(tmp: string, vmail: string): Promise<ViewerApp> {
  const owner = mailOwner();
  await chownTree(vmail, owner.uid, owner.gid);
  const imapPort = await freePort();
  const roost = await startRoostUi({
    dataDir: path.join(tmp, 'data'),
    settingsFile: { wizardCompleted: true, settings: { vmail, port: imapPort, listen: '127.0.0.1', first_valid_uid: 1, startWithRoost: true, notifications: false } },
    // A flag (startRoostUi keeps the developer's ROOST_PASSWORD out of the environment).
    args: ['--password', PASSWORD],
  });
  return { roost, imapPort };
}

/** The viewer as a user sees it. */
export class ViewerPage {
  constructor(readonly page: Page) {}

  get list(): Locator {
    return this.page.getByRole('listbox', { name: 'Messages' });
  }

  get rows(): Locator {
    return this.list.getByRole('option');
  }

  row(text: string | RegExp): Locator {
    return this.rows.filter({ hasText: text });
  }

  get summary(): Locator {
    return this.page.getByTestId('list-summary');
  }

  folder(user: string, name: string): Locator {
    return this.page.getByRole('navigation', { name: 'Mailboxes' }).locator(`a[data-folder="${user}/${name}"]`);
  }

  get pane(): Locator {
    return this.page.getByRole('article', { name: 'Message' });
  }

  get subject(): Locator {
    return this.pane.getByRole('heading', { level: 2 });
  }

  get text(): Locator {
    return this.page.getByTestId('msg-text');
  }

  get frame(): Locator {
    return this.pane.locator('iframe.html');
  }

  button(name: string | RegExp): Locator {
    return this.page.getByRole('button', typeof name === 'string' ? { name, exact: true } : { name });
  }

  tab(name: 'HTML' | 'Text' | 'Source'): Locator {
    return this.pane.getByRole('tab', { name, exact: true });
  }

  async search(field: 'All fields' | 'Text' | 'From' | 'Subject', text: string): Promise<void> {
    await this.page.getByLabel('Search in').selectOption({ label: field });
    await this.page.getByLabel('Search messages').fill(text);
    await this.button('Search').click();
  }
}
