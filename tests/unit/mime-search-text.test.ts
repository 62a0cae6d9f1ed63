import { describe, it, expect } from 'vitest';
import {
  decodeEntities,
  decodeQuotedPrintable,
  decodeText,
  headerValues,
  htmlToText,
  messageText,
  searchFold,
} from '../../electron/server/mime/search-text.js';
import { parseStructure } from '../../electron/server/mime/structure.js';

const b = (s: string) => Buffer.from(s, 'latin1');

async function textOf(msg: Buffer) {
  const reads: [number, number][] = [];
  const t = await messageText(parseStructure(msg), async (s, e) => {
    reads.push([s, e]);
    return msg.subarray(s, e);
  });
  return { ...t, reads };
}

describe('messageText', () => {
  const msg = b(
    'From: =?utf-8?q?J=C3=B6rg?= <j@x.de>\nSubject: =?iso-8859-1?q?Gr=FC=DFe?=\n  aus Köln\n' +
      'Content-Type: multipart/mixed; boundary=B\n\n--B\n' +
      'Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\n' +
      'Sch=F6ne Gr=FC=DFe, lange Zeile =\nfortgesetzt\n--B\n' +
      'Content-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: base64\n\n' +
      Buffer.from('<html><style>p{}</style><p>Caf&eacute; &amp; <b>Bar</b>&#33;</p><script>x()</script></html>').toString('base64') +
      '\n--B\nContent-Type: application/octet-stream\n\nSECRET-BINARY\n--B\nContent-Type: message/rfc822\n\n' +
      'Subject: inner subject\n\ninner text\n--B--\n',
  );

  it('decodes headers, transfer encodings, charsets and HTML; skips attachments', async () => {
    const t = await textOf(msg);
    expect(t.headers).toContain('From: Jörg <j@x.de>');
    expect(t.headers).toContain('Subject: Grüße  aus Köln');
    expect(t.body).toContain('Schöne Grüße, lange Zeile fortgesetzt');
    expect(t.body).toContain('Café & Bar!');
    expect(t.body).not.toContain('x()');
    expect(t.body).not.toContain('p{}');
    expect(t.body).toContain('Subject: inner subject');
    expect(t.body).toContain('inner text');
    expect(t.body).not.toContain('SECRET');
    // the attachment's bytes were never read
    const attach = msg.indexOf('SECRET');
    expect(t.reads.some(([s, e]) => s <= attach && attach < e && e - s < msg.length)).toBe(false);
  });

  it('survives unknown charsets and invalid bytes', async () => {
    const m = b('Content-Type: text/plain; charset=x-klingon\n\nplain caf\xc3\xa9 and \xff\n');
    const t = await textOf(m);
    expect(t.body).toContain('plain caf');
  });

  it('stops reading at the byte budget', async () => {
    const m = b('Subject: s\n\n' + 'a'.repeat(1000));
    const t = await messageText(parseStructure(m), async (s, e) => m.subarray(s, e), { maxBytes: 100 });
    expect(t.body.length).toBe(100);
  });
});

describe('headerValues', () => {
  it('returns every decoded value of a field, matching the name case-insensitively', () => {
    const h = b('To: a@b\nSUBJECT: =?utf-8?b?w6Q=?=\nto: =?utf-8?q?B=C3=BC?= <b@c>\n\n');
    expect(headerValues(h, 'To')).toEqual(['a@b', 'Bü <b@c>']);
    expect(headerValues(h, 'subject')).toEqual(['ä']);
    expect(headerValues(h, 'cc')).toEqual([]);
  });
});

describe('decoding helpers', () => {
  it('quoted-printable: escapes, soft breaks and broken escapes', () => {
    expect(decodeQuotedPrintable(b('a=3Db=\r\nc=  \nd=ZZ=4')).toString('latin1')).toBe('a=bcd=ZZ=4');
  });

  it('charsets: latin1, windows-1252, utf-8 fallbacks', () => {
    expect(decodeText(b('\xe9'), 'ISO-8859-1')).toBe('é');
    expect(decodeText(b('\x80'), 'windows-1252')).toBe('€');
    expect(decodeText(Buffer.from('é'), 'us-ascii')).toBe('é');
    expect(decodeText(b('\xe9'), undefined)).toBe('é');
  });

  it('HTML: tags, comments and references', () => {
    expect(htmlToText('a<!-- hidden -->b<br>c &lt;d&gt;\n &#x41;&#66; &unknown; &amp')).toBe('ab c <d> AB &unknown; &amp');
    expect(decodeEntities('no refs')).toBe('no refs');
  });
});

describe('searchFold', () => {
  it('folds case, sharp s and ligatures, and decomposes accents', () => {
    expect(searchFold('HeLLo')).toBe('hello');
    expect(searchFold('STRASSE')).toBe(searchFold('straße'));
    expect(searchFold('ﬁle')).toBe('file');
    expect(searchFold('Café').includes(searchFold('CAFÉ'))).toBe(true);
    expect(searchFold('ΣΊΣΥΦΟΣ')).toBe(searchFold('σίσυφος'));
  });
});
