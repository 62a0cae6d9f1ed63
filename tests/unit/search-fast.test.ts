// SEARCH BODY/TEXT fast path (MessageSearch, asciiFold) against the straightforward definition:
// searchFold(messageText(...)) joined texts, includes(searchFold(needle)). Same answers for
// realistic mail (the benchmark generator), the MIME fixtures, and hand-made edge cases where a
// shortcut could go wrong (encoded words, lone CR, HTML splitting words, entities, ligatures,
// accents, final sigma, NUL, needles with blanks, colons and line breaks).
import { describe, it, expect } from 'vitest';
import { appendMessages } from '../../bench/corpus.js';
import { corpusMessages } from '../helpers/corpus.js';
import { DOVECOT_CASES } from './mime-fixtures.js';
import { asciiFold, MessageSearch, messageText, searchFold } from '../../electron/server/mime/search-text.js';
import { parseStructure } from '../../electron/server/mime/structure.js';

const b = (s: string) => Buffer.from(s, 'latin1');
const u = (s: string) => Buffer.from(s, 'utf8');

async function legacy(msg: Buffer): Promise<{ headers: string; body: string }> {
  const t = await messageText(parseStructure(msg), async (s, e) => msg.subarray(s, e));
  return { headers: searchFold(t.headers), body: searchFold(t.body) };
}

/** Checks every needle, both BODY and TEXT, against the definition. */
async function compare(msg: Buffer, needles: readonly string[]): Promise<number> {
  const want = await legacy(msg);
  const fast = new MessageSearch(parseStructure(msg), msg);
  let positives = 0;
  for (const raw of needles) {
    const needle = searchFold(raw);
    const body = want.body.includes(needle);
    const text = want.headers.includes(needle) || body;
    expect(fast.contains(needle, false), `BODY ${JSON.stringify(raw)}`).toBe(body);
    expect(fast.contains(needle, true), `TEXT ${JSON.stringify(raw)}`).toBe(text);
    if (text) positives++;
  }
  return positives;
}

/** Needles taken from the message's own decoded text (so many of them match), plus fixed ones. */
function needlesFor(t: { headers: string; body: string }, seed: number): string[] {
  const out = ['', ' ', 'a', 'e', 'the', 'quetzalcoatlus', 'halvorsen', 'subject:', 'from: ', 'content-type', '=?utf-8?', 'cafe', 'café', 'strasse', 'ß', 'fi', '\n', 'é', '...'];
  let x = seed;
  const rnd = (n: number) => {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    return x % n;
  };
  for (const s of [t.headers, t.body]) {
    for (let k = 0; k < 12 && s.length > 0; k++) {
      const at = rnd(s.length);
      out.push(s.slice(at, at + 1 + rnd(12)));
    }
    // whole words, the way people search
    const words = s.split(/[^\p{L}\p{N}@.-]+/u).filter((w) => w.length > 3);
    for (let k = 0; k < 6 && words.length > 0; k++) out.push(words[rnd(words.length)].toUpperCase());
  }
  return out;
}

describe('MessageSearch answers exactly like the joined, folded message text', () => {
  it('on benchmark-style mail (plain, HTML, alternative, latin1, attachments, forwards)', async () => {
    let positives = 0;
    const msgs = appendMessages('search-fast', 150);
    for (let i = 0; i < msgs.length; i++) {
      const lf = b(msgs[i].toString('latin1').replace(/\r\n/g, '\n'));
      for (const m of [msgs[i], lf]) positives += await compare(m, needlesFor(await legacy(m), i));
    }
    expect(positives).toBeGreaterThan(1000);
  });

  it('on the test corpus and the Dovecot MIME fixtures', async () => {
    const all = [...corpusMessages().map((m) => m.raw), ...DOVECOT_CASES.map((c) => b(c.message))];
    for (let i = 0; i < all.length; i++) await compare(all[i], needlesFor(await legacy(all[i]), 1000 + i));
  });

  it('on edge cases where a raw-bytes shortcut would be wrong', async () => {
    const cases: [Buffer, string[]][] = [
      // an encoded word hides the needle from the raw bytes; a lone CR joins a word when unfolded
      [b('Subject: =?utf-8?q?quetzal=63oatlus?=\nX-A: quetzal\rcoatlus\n\nbody\n'), ['quetzalcoatlus', 'quetzal', 'coatlus', 'quetzal c']],
      // folding: CRLF + blank stays a blank; "Name:value" gets ": "
      [b('X-Long: one\r\n two\r\nX-Tight:value\r\n\r\nx\r\n'), ['one two', 'onetwo', 'x-tight: value', 'x-tight:value', 'tight']],
      // HTML: inline tags join, block tags split, entities and comments, script removed, blanks collapse
      [
        b('Content-Type: text/html\n\n<p>quetzal<b>coat</b>lus</p><div>ab</div>cd &#113;uetzal&amp;x <!-- c -->y<script>hidden</script>z  \t spaced   out&nbsp;nb'),
        ['quetzalcoatlus', 'abcd', 'ab cd', 'quetzal&x', 'y z', 'yz', 'hidden', 'spaced out', 'spaced  out', 'out nb', '&amp;'],
      ],
      // quoted-printable soft breaks and escapes; base64
      [b('Content-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\nquetzal=\ncoat=6Cus caf=C3=A9\n'), ['quetzalcoatlus', 'quetzal=', 'café', 'cafe']],
      [b(`Content-Transfer-Encoding: base64\n\n${Buffer.from('Quetzalcoatlus flew').toString('base64')}\n`), ['quetzalcoatlus', 'flew', 'cXVl']],
      // charsets: latin1 accents, a 7-bit charset that is not ASCII, ligatures and fullwidth letters
      [b('Content-Type: text/plain; charset=iso-8859-1\n\nCaf\xe9 Stra\xdfe \xaa\n'), ['cafe', 'café', 'strasse', 'straße', 'a', 'ª']],
      [b('Content-Type: text/plain; charset=utf-7\n\nHi +AGEAYgBj-\n'), ['abc', 'hi']],
      [u('Content-Type: text/plain; charset=utf-8\n\n\ufb01le \uff51uetzal \u212aelvin \u0130stanbul \u03a3\u0399\u03a3\u03a5\u03a6\u039f\u03a3 x\u0301\n'), ['file', 'quetzal', 'kelvin', 'istanbul', 'i̇stanbul', 'σισυφος', 'σίσυφος', 'x', 'x\u0301']],
      // NUL bytes and 8-bit in headers, a needle with a line break across pieces
      [b('Subject: a\x00b caf\xc3\xa9\nContent-Type: multipart/mixed; boundary=X\n\n--X\n\nfirst\n--X\n\nsecond\n--X--\n'), ['a\x00b', 'cafe', 'first\nsecond', 'first', '\nsecond']],
      // no header at all; an empty body
      [b('\nonly body\n'), ['only body', 'body']],
      [b('Subject: empty\n\n'), ['empty', 'x']],
    ];
    for (const [msg, needles] of cases) await compare(msg, needles);
  });
});

describe('asciiFold', () => {
  it('keeps the ASCII characters searchFold gives, in the same places', () => {
    const samples = ['Café Straße', '\ufb01le', 'ÀÉÎõü', 'Ǆemal', 'ΣΊΣΥΦΟΣ and ς', 'x\u0301y', '\u2026end', 'plain ASCII', '\u{1d42a}math'];
    for (const s of samples) {
      const full = searchFold(s);
      const ascii = asciiFold(s);
      // every ASCII substring of the full fold is found in asciiFold, and vice versa
      const runs = (t: string) => t.split(/[^\x00-\x7f]+/).filter(Boolean);
      expect(runs(ascii), s).toEqual(runs(full));
    }
  });
});
