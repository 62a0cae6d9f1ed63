// Relay test failures in plain words, with what to check. The cases are those a home Postfix +
// Roost setup actually runs into (the seed's setup: Postfix's virtual delivery into
// virtual_mailbox_base, Roost reading mail_home/mail_location):
//   connect   nothing listens (ECONNREFUSED), no answer (ETIMEDOUT), unknown host, TLS trouble;
//   smtp      "554 5.7.1 Relay access denied" (the domain is not Postfix's), "550 5.1.1 User unknown
//             in virtual mailbox table" (the address is not in virtual_mailbox_maps), 4xx (try later);
//   delivery  accepted, but no `delivered` event in time: Postfix put it elsewhere, or still queues it.
// Postfix reply texts quoted from its smtpd(8) and trivial-rewrite(8) messages.

import path from 'node:path';
import type { ServerSettings } from '../shared/settings-types.js';

export interface RelayFailure {
  ok: false;
  stage: 'connect' | 'smtp' | 'delivery';
  /** Stable code: ECONNREFUSED, ETIMEDOUT, ENOTFOUND, ETLS, RELAY_DENIED, USER_UNKNOWN, SMTP_TEMPORARY, SMTP_REJECTED, NOT_DELIVERED, DELIVERED_UNNOTICED, ... */
  code: string;
  /** One paragraph for a person. */
  explanation: string;
  whatToCheck: string[];
  /** The SMTP server's reply, when there was one. */
  smtpResponse?: string;
  smtpCode?: number;
  queueId?: string;
  acceptedAt?: number;
  /** Where Roost expected the message (the recipient's maildir/new/). */
  expectedPath?: string;
  /** delivery: the file was found on disk after all (Roost did not notice it). */
  foundAt?: string;
}

interface SendErrorLike {
  code?: string;
  originalCode?: string;
  responseCode?: number;
  response?: string;
  command?: string;
  message?: string;
}

function domainOf(address: string): string {
  const at = address.lastIndexOf('@');
  return at < 0 ? '' : address.slice(at + 1);
}

/** A nodemailer error (connection, TLS, SMTP reply) as a RelayFailure. */
export function explainSendError(err: unknown, ctx: { host: string; port: number; to: string; connectTimeoutMs: number }): RelayFailure {
  const e = (typeof err === 'object' && err !== null ? err : { message: String(err) }) as SendErrorLike;
  const where = `${ctx.host}:${ctx.port}`;
  const sys = e.originalCode ?? e.code ?? '';
  const domain = domainOf(ctx.to);
  const reply = e.response?.trim();
  const base = { ok: false as const, ...(reply ? { smtpResponse: reply } : {}), ...(e.responseCode ? { smtpCode: e.responseCode } : {}) };

  if (!e.responseCode) {
    if (sys === 'ECONNREFUSED') {
      return {
        ...base, stage: 'connect', code: 'ECONNREFUSED',
        explanation: `Nothing accepted a connection on ${where}: no mail server is listening there.`,
        whatToCheck: [
          'Is Postfix running? (systemctl status postfix, or: postfix status)',
          `Does it listen on port ${ctx.port}? (ss -ltnp | grep :${ctx.port}; the "smtp inet" line in /etc/postfix/master.cf sets the port)`,
          `Does it listen on ${ctx.host}? (postconf inet_interfaces: "loopback-only" or "all" include 127.0.0.1)`,
          'Is the host and port in this form the ones Postfix uses?',
        ],
      };
    }
    if (sys === 'ETIMEDOUT' || e.code === 'ETIMEDOUT') {
      return {
        ...base, stage: 'connect', code: 'ETIMEDOUT',
        explanation: `${where} did not answer within ${Math.round(ctx.connectTimeoutMs / 1000)} seconds: either nothing there answers (a firewall dropping the connection, a wrong address), or something accepted the connection but never greeted like a mail server.`,
        whatToCheck: [
          `Is ${ctx.host} the right address for the mail server?`,
          `Does a firewall drop connections to port ${ctx.port}? (on this machine: nft list ruleset / iptables -L)`,
          `Is the program on port ${ctx.port} really Postfix? (ss -ltnp | grep :${ctx.port})`,
          'Postfix answers late when its DNS lookups hang: check /etc/resolv.conf, or set smtpd_peername_lookup = no for a test',
        ],
      };
    }
    if (sys === 'ENOTFOUND' || sys === 'EAI_AGAIN') {
      return {
        ...base, stage: 'connect', code: 'ENOTFOUND',
        explanation: `The host name ${ctx.host} could not be resolved to an address.`,
        whatToCheck: [`Is ${ctx.host} spelled right? For Postfix on this computer use 127.0.0.1.`, 'Does name resolution work (getent hosts <name>)?'],
      };
    }
    if (sys === 'EHOSTUNREACH' || sys === 'ENETUNREACH') {
      return {
        ...base, stage: 'connect', code: sys,
        explanation: `There is no network route to ${ctx.host}.`,
        whatToCheck: ['Is the address right, and is that machine on this network?'],
      };
    }
    if (e.code === 'ETLS') {
      return {
        ...base, stage: 'connect', code: 'ETLS',
        explanation: `The connection to ${where} broke while starting TLS (STARTTLS).`,
        whatToCheck: ['postconf smtpd_tls_cert_file smtpd_tls_key_file: do the files exist and match?', 'The mail log (journalctl -u postfix, /var/log/mail.log) says what smtpd did not like'],
      };
    }
    if (e.code === 'EENVELOPE') {
      return {
        ...base, stage: 'smtp', code: 'BAD_ADDRESS',
        explanation: `The address "${ctx.to}" cannot be used as a recipient: ${e.message ?? 'invalid address'}.`,
        whatToCheck: ['Use a full address such as alice@brokkr.net'],
      };
    }
    return {
      ...base, stage: 'connect', code: sys || 'ECONNECTION',
      explanation: `The connection to ${where} failed: ${e.message ?? 'unknown error'}. A mail server that closes the connection right away may be refusing this client (postscreen, smtpd_client_restrictions) or may not be an SMTP server at all.`,
      whatToCheck: [`Is the program on ${where} Postfix's smtpd? (ss -ltnp | grep :${ctx.port})`, 'The mail log (journalctl -u postfix, /var/log/mail.log) says why it hung up'],
    };
  }

  const code = e.responseCode;
  const text = reply ?? '';
  if (/relay access denied/i.test(text)) {
    return {
      ...base, stage: 'smtp', code: 'RELAY_DENIED',
      explanation: `The relay refused the recipient ${ctx.to}: "Relay access denied" means Postfix does not treat ${domain || 'this domain'} as a domain it delivers for, so it would only pass the message on to another server, which this client may not ask for.`,
      whatToCheck: [
        `postconf virtual_mailbox_domains: ${domain || 'the domain'} must be listed there (and not also in mydestination)`,
        `postconf virtual_mailbox_maps: ${ctx.to} must be in that map, e.g. "${ctx.to}  ${domain || 'example.org'}/${ctx.to.split('@')[0]}/maildir/"`,
        'after editing the map: postmap /etc/postfix/vmailbox (or your map file), then postfix reload',
      ],
    };
  }
  if (/user unknown|unknown user|no such user|mailbox unavailable|does not exist/i.test(text) && code >= 500) {
    return {
      ...base, stage: 'smtp', code: 'USER_UNKNOWN',
      explanation: `The relay knows the domain ${domain || ''} but not the address ${ctx.to}: for Postfix's virtual delivery every address must be listed in virtual_mailbox_maps.`.replace('  ', ' '),
      whatToCheck: [
        `Add a line for ${ctx.to} to the file virtual_mailbox_maps names (postconf virtual_mailbox_maps), e.g. "${ctx.to}  ${domain || 'example.org'}/${ctx.to.split('@')[0]}/maildir/" (the trailing / means maildir)`,
        'Run postmap on that file, then postfix reload',
        `Check the spelling of ${ctx.to}`,
      ],
    };
  }
  if (code >= 400 && code < 500) {
    return {
      ...base, stage: 'smtp', code: 'SMTP_TEMPORARY',
      explanation: `The relay answered with a temporary failure (${code}): it did not take the message now and would want it again later. Postfix says this when a lookup table cannot be read, when soft_bounce is on, or for greylisting.`,
      whatToCheck: ['The mail log (journalctl -u postfix, /var/log/mail.log) names the cause', 'postconf soft_bounce (yes turns refusals into 4xx)', 'Can Postfix read its map files (postmap -q <address> <map>)?'],
    };
  }
  return {
    ...base, stage: 'smtp', code: 'SMTP_REJECTED',
    explanation: `The relay refused the message${e.command ? ` at ${e.command}` : ''}: "${text}".`,
    whatToCheck: ['The reply says why; the mail log (journalctl -u postfix, /var/log/mail.log) has details', 'smtpd_recipient_restrictions / smtpd_relay_restrictions / smtpd_sender_restrictions (postconf -n)'],
  };
}

/** Accepted by the relay, but no `delivered` event within the timeout. */
export function explainDeliveryTimeout(o: {
  host: string; port: number; to: string; timeoutMs: number; queueId?: string; response: string; acceptedAt: number;
  settings?: ServerSettings; postfix?: { virtual_mailbox_base?: string; virtual_mailbox_maps?: string };
  expectedMaildir?: string; foundAt: string | null;
}): RelayFailure {
  const secs = Math.round(o.timeoutMs / 1000);
  const q = o.queueId ? ` (queue id ${o.queueId})` : '';
  const expectedPath = o.expectedMaildir ? path.join(o.expectedMaildir, 'new') + path.sep : undefined;
  const base = {
    ok: false as const, stage: 'delivery' as const, smtpResponse: o.response, acceptedAt: o.acceptedAt,
    ...(o.queueId ? { queueId: o.queueId } : {}), ...(expectedPath ? { expectedPath } : {}),
  };
  const grep = o.queueId ? `grep ${o.queueId} /var/log/mail.log (or journalctl -u postfix | grep ${o.queueId}): the "status=" line says where it went` : 'The mail log (journalctl -u postfix, /var/log/mail.log) says where it went';
  if (o.foundAt) {
    return {
      ...base, code: 'DELIVERED_UNNOTICED', foundAt: o.foundAt,
      explanation: `The relay accepted the message${q} and it is in the maildir (${o.foundAt}), but Roost did not report it within ${secs} seconds: Roost's watcher did not notice the delivery.`,
      whatToCheck: ['Is Roost\'s server running (the dashboard shows its state)?', 'An IMAP client sees it after reopening the mailbox; the log says whether the watcher had trouble (too many watched directories, permissions)'],
    };
  }
  const checks: string[] = [];
  const home = o.settings?.mail_home;
  const base2 = o.postfix?.virtual_mailbox_base;
  if (home || base2) {
    checks.push(`Roost's mail_home = ${home ?? '(unknown)'} beside Postfix's virtual_mailbox_base = ${base2 ?? '(not imported: postconf virtual_mailbox_base)'}: they must point into the same tree`);
  }
  if (expectedPath) checks.push(`Roost expected the file in ${expectedPath}`);
  checks.push(
    `The map entry for ${o.to} (postmap -q ${o.to} ${o.postfix?.virtual_mailbox_maps ?? '<virtual_mailbox_maps>'}) must be the path below virtual_mailbox_base that Roost's mail_home and mail_location give, ending in / (a maildir)`,
    grep,
    `postqueue -p: is it still queued (deferred)? Then the log says why`,
  );
  return {
    ...base, code: 'NOT_DELIVERED',
    explanation: `The relay accepted the message${q}, but it did not arrive in Roost's maildir for ${o.to} within ${secs} seconds. Most likely Postfix delivered it somewhere else (another directory than the one Roost reads), or it is still waiting in Postfix's queue.`,
    whatToCheck: checks,
  };
}
