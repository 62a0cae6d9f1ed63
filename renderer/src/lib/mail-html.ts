// A mail's HTML part made safe to look at: sanitized with DOMPurify, then shown as the srcdoc of an
// <iframe sandbox=""> (no allow-scripts, no allow-same-origin: an opaque origin that can run nothing
// and reach nothing of ours) whose own Content-Security-Policy blocks every network load unless the
// user asked for remote content. Three layers, each enough on its own for scripts:
//  1. DOMPurify drops <script>, event handler attributes (onerror=...), javascript: URLs, forms,
//     <meta>/<base>/<link>, and whatever else it does not know to be harmless;
//  2. the sandbox forbids scripts, forms, popups and top navigation even if something slipped through;
//  3. the frame's CSP (default-src 'none') allows only inline styles and data:/cid: images, so a
//     tracking pixel, a CSS url(), @import or a web font never leaves the machine.
// With remote content blocked, remote image URLs are also moved out of src/srcset/background
// attributes before the frame sees them (belt and braces: not even a request the CSP would refuse).
// Inline images (cid:, RFC 2392) become data: URLs from the message's own image parts, which the
// worker sends along (ViewerMessage.inlineImages, image/* only, size-capped); they are put in after
// DOMPurify has checked the attribute, with a content type and base64 text checked here again.
//
// The app's own page CSP is inherited by srcdoc frames (CSP Level 3 policy containers), so it allows
// inline styles and http(s) images for the frame's sake; the frame's policy narrows them again, and the
// app's own markup never holds mail content as HTML (Svelte inserts it as text).
import DOMPurify from 'dompurify';
import type { ViewerInlineImage } from '../../../electron/shared/viewer-types';

export interface MailHtml {
  /** The full document for <iframe srcdoc>. */
  srcdoc: string;
  /** Remote references found (images, CSS, ...), whether or not they were allowed. */
  remoteCount: number;
}

const REMOTE = /^\s*(https?:)?\/\//i;
const CSS_REMOTE = /url\(\s*['"]?\s*(https?:)?\/\//i;
const CSS_IMPORT = /@import/i;
/** Remote url(...) references and @import rules in CSS, removed while remote content is blocked. */
const CSS_REMOTE_URLS = /url\(\s*(['"]?)\s*(https?:)?\/\/[^)]*\)/gi;
const CSS_IMPORT_RULES = /@import\s+[^;]*;?/gi;

function withoutRemoteCss(css: string): string {
  return css.replace(CSS_IMPORT_RULES, '').replace(CSS_REMOTE_URLS, 'none');
}

function policy(allowRemote: boolean): string {
  const remote = allowRemote ? ' http: https:' : '';
  return [
    "default-src 'none'",
    `img-src data: cid:${remote}`,
    `style-src 'unsafe-inline'${remote}`,
    `font-src data:${remote}`,
    "script-src 'none'",
    "form-action 'none'",
    "base-uri 'none'",
  ].join('; ');
}

/** Neutral defaults, so a mail without styles reads like a page, whatever the app's theme. */
const BASE_STYLE = `:root{color-scheme:light}html,body{margin:0;background:#fff;color:#111}
body{padding:12px 14px;font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'Noto Sans','DejaVu Sans',sans-serif;overflow-wrap:anywhere}
img{max-width:100%;height:auto}table{max-width:100%}pre{white-space:pre-wrap}`;

const IMAGE_TYPE = /^image\/[a-z0-9][a-z0-9.+-]*$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const CID = /^\s*cid:/i;
const CSS_CID_URLS = /url\(\s*(['"]?)\s*cid:([^'")\s]+)\s*\1\s*\)/gi;

/** Content-ID (lowercase, without <>) -> data: URL, for the images that pass the checks. */
export function cidDataUrls(images: readonly ViewerInlineImage[] | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const img of images ?? []) {
    const type = img.contentType.toLowerCase();
    if (!IMAGE_TYPE.test(type) || !BASE64.test(img.data)) continue;
    out.set(img.contentId.replace(/^<|>$/g, '').toLowerCase(), `data:${type};base64,${img.data}`);
  }
  return out;
}

function cidKey(ref: string): string {
  let id = ref.replace(CID, '').trim();
  try {
    id = decodeURIComponent(id);
  } catch {
    // Taken as written.
  }
  return id.replace(/^<|>$/g, '').toLowerCase();
}

function escapeAttr(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
}

/**
 * Sanitizes `html` and wraps it into a frame document (see the top of the file); `cid:` references
 * to `inlineImages` become data: URLs.
 */
export function mailHtmlDocument(html: string, allowRemote: boolean, inlineImages?: readonly ViewerInlineImage[]): MailHtml {
  let remoteCount = 0;
  const cids = cidDataUrls(inlineImages);
  const purify = DOMPurify();
  purify.addHook('afterSanitizeAttributes', (node) => {
    if (!(node instanceof Element)) return;
    for (const attr of ['src', 'background']) {
      const v = node.getAttribute(attr);
      if (v && CID.test(v)) {
        const url = cids.get(cidKey(v));
        if (url) node.setAttribute(attr, url);
      }
    }
    const css = node.getAttribute('style');
    if (css && /cid:/i.test(css)) {
      node.setAttribute('style', css.replace(CSS_CID_URLS, (whole, _q: string, id: string) => {
        const url = cids.get(cidKey(id));
        return url ? `url("${url}")` : whole;
      }));
    }
    for (const attr of ['src', 'srcset', 'background', 'poster']) {
      const v = node.getAttribute(attr);
      if (v && (REMOTE.test(v) || (attr === 'srcset' && /https?:/i.test(v)))) {
        remoteCount++;
        if (!allowRemote) {
          node.setAttribute(`data-blocked-${attr}`, v);
          node.removeAttribute(attr);
        }
      }
    }
    const style = node.getAttribute('style');
    if (style && (CSS_REMOTE.test(style) || CSS_IMPORT.test(style))) {
      remoteCount++;
      if (!allowRemote) node.setAttribute('style', withoutRemoteCss(style));
    }
    // Links cannot navigate the sandboxed frame; say where they lead instead.
    if (node.tagName === 'A' && node.getAttribute('href')) node.setAttribute('title', node.getAttribute('href') ?? '');
  });
  purify.addHook('uponSanitizeElement', (node, data) => {
    if (data.tagName === 'style' && node.textContent && (CSS_REMOTE.test(node.textContent) || CSS_IMPORT.test(node.textContent))) {
      remoteCount++;
      if (!allowRemote) node.textContent = withoutRemoteCss(node.textContent);
    }
  });
  const root = purify.sanitize(html, {
    WHOLE_DOCUMENT: true,
    RETURN_DOM: true,
    FORBID_TAGS: ['form', 'input', 'button', 'textarea', 'select', 'option', 'meta', 'base', 'link', 'iframe', 'frame', 'frameset', 'object', 'embed', 'portal'],
    FORBID_ATTR: ['action', 'formaction', 'ping'],
    ADD_TAGS: ['style'],
    ALLOW_DATA_ATTR: true,
  }) as HTMLElement;
  const headStyles = [...root.querySelectorAll('head style')].map((s) => s.outerHTML).join('\n');
  const body = root.querySelector('body')?.innerHTML ?? root.innerHTML;
  const srcdoc = `<!doctype html><html><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="${escapeAttr(policy(allowRemote))}"><meta name="referrer" content="no-referrer"><style>${BASE_STYLE}</style>${headStyles}</head><body>${body}</body></html>`;
  return { srcdoc, remoteCount };
}
