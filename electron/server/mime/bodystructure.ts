// FETCH BODY and BODYSTRUCTURE (RFC 3501 section 7.4.2, RFC 9051 section 7.5.2), byte for
// byte as Dovecot 2.3 writes them:
//  - type, subtype, parameter names and values are echoed as sent (case kept), except that
//    an encapsulated message is always "message" "rfc822";
//  - a text part without a charset parameter gets ("charset" "us-ascii") appended;
//    RFC 2231 continuations are shown joined (see mergeRfc2231);
//  - a multipart without children shows one empty text/plain part;
//  - a container beyond the nesting limits is shown as application/octet-stream.
// The result is a latin1 binary string; literals are embedded where needed.

import { mergeRfc2231, sentParams } from './content.js';
import { nstr } from './quote.js';
import type { MimeParam, MimePart } from './types.js';

const EMPTY_PART = '"text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0';

function paramList(params: readonly MimeParam[], names: readonly string[] | undefined, addCharset: boolean): string {
  const merged = params.length > 0 ? mergeRfc2231(sentParams(params, names)) : [];
  let out = '';
  let charset = false;
  for (const [k, v] of merged) {
    if (addCharset && !charset && k.toLowerCase() === 'charset') charset = true;
    out += (out ? ' ' : '') + nstr(k) + ' ' + nstr(v);
  }
  if (addCharset && !charset) out += (out ? ' ' : '') + '"charset" "us-ascii"';
  return out ? '(' + out + ')' : 'NIL';
}

/** body-ext-1part / body-ext-mpart tail: disposition, language, location. */
function extensionTail(part: MimePart): string {
  let out = ' ';
  const d = part.disposition;
  out += d ? '(' + nstr(d.type) + ' ' + paramList(d.params, part.asSent?.dispositionParams, false) + ')' : 'NIL';
  out += ' ' + (part.language ? '(' + part.language.map(nstr).join(' ') + ')' : 'NIL');
  out += ' ' + (part.location !== undefined ? nstr(part.location) : 'NIL');
  return out;
}

function multipart(part: MimePart, extended: boolean): string {
  const children = part.parts!;
  let out = '';
  if (children.length === 0) {
    out = '(' + EMPTY_PART + (extended ? ' NIL NIL NIL NIL' : '') + ')';
  } else {
    for (const c of children) out += '(' + render(c, extended) + ')';
  }
  out += ' ' + nstr(part.asSent?.subtype ?? part.subtype);
  if (!extended) return out;
  return out + ' ' + paramList(part.params, part.asSent?.params, false) + extensionTail(part);
}

function single(part: MimePart, extended: boolean): string {
  let type: string;
  let text = false;
  if (part.message) {
    type = part.subtype === 'global' ? '"message" "global"' : '"message" "rfc822"';
  } else if (part.overflow || part.type === 'multipart') {
    // a container Dovecot did not open (nesting limit, or a lone "multipart" type)
    type = '"application" "octet-stream"';
  } else {
    text = part.type === 'text';
    type = nstr(part.asSent?.type ?? part.type) + ' ' + nstr(part.asSent?.subtype ?? part.subtype);
  }
  let out =
    type +
    ' ' +
    paramList(part.params, part.asSent?.params, text) +
    ' ' +
    (part.id !== undefined ? nstr(part.id) : 'NIL') +
    ' ' +
    (part.description !== undefined ? nstr(part.description) : 'NIL') +
    ' ' +
    nstr(part.encoding) +
    ' ' +
    part.bodySize;
  if (text) {
    out += ' ' + part.bodyLines;
  } else if (part.message) {
    const env = part.envelope ?? '(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)';
    out += ' ' + env + ' (' + render(part.message, extended) + ') ' + part.bodyLines;
  }
  if (!extended) return out;
  return out + ' ' + (part.md5 !== undefined ? nstr(part.md5) : 'NIL') + extensionTail(part);
}

function render(part: MimePart, extended: boolean): string {
  return part.parts ? multipart(part, extended) : single(part, extended);
}

/**
 * BODYSTRUCTURE (extended = true) or BODY (extended = false) of a part, as the parenthesized
 * list that follows the item name: "(" ... ")".
 */
export function bodyStructure(part: MimePart, extended: boolean): string {
  return '(' + render(part, extended) + ')';
}
