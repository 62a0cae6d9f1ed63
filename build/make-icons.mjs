// Draws Roost's icons and writes them as PNG files, with node:zlib only (no image library):
//   resources/tray-{running,stopped,error}.png (32x32) and @2x (64x64)  tray states
//   resources/icon.png (256x256)                                         window icon
//   build/icon.png (512x512)                                             electron-builder's app icon
// The output is committed; run `node build/make-icons.mjs` after changing the drawing.
//
// The drawing: a roof (the "roost") over an envelope on a slate tile; tray icons add a status dot
// (green running, grey stopped, red error) so the state reads at 16 px. Shapes are sampled 4x4 per pixel for smooth edges.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

// ---------------------------------------------------------------------------------------------
// PNG (RFC 2083): signature, IHDR, IDAT (zlib of filtered rows), IEND; each chunk CRC-32'd.

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/** RGBA pixels (Uint8Array, width*height*4) -> PNG bytes. */
function encodePng(width, height, rgba) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // colour type: RGBA
  ihdr[10] = 0; ihdr[11] = 0; ihdr[12] = 0; // deflate, adaptive filtering, no interlace
  const raw = Buffer.alloc((width * 4 + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (width * 4 + 1)] = 0; // filter: none
    Buffer.from(rgba.buffer, y * width * 4, width * 4).copy(raw, y * (width * 4 + 1) + 1);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

// ---------------------------------------------------------------------------------------------
// Shapes in unit coordinates (0..1 across the icon). Each is a predicate on a point.

const roundedRect = (x0, y0, x1, y1, r) => (x, y) => {
  const cx = Math.min(Math.max(x, x0 + r), x1 - r);
  const cy = Math.min(Math.max(y, y0 + r), y1 - r);
  return x >= x0 && x <= x1 && y >= y0 && y <= y1 && (x - cx) ** 2 + (y - cy) ** 2 <= r * r;
};
const circle = (cx, cy, r) => (x, y) => (x - cx) ** 2 + (y - cy) ** 2 <= r * r;
function segment(ax, ay, bx, by, w) {
  return (x, y) => {
    const dx = bx - ax; const dy = by - ay;
    const t = Math.max(0, Math.min(1, ((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy)));
    return (x - ax - t * dx) ** 2 + (y - ay - t * dy) ** 2 <= (w / 2) ** 2;
  };
}
const union = (...shapes) => (x, y) => shapes.some((s) => s(x, y));

/** Paints layers ([shape, [r,g,b,a]] in order) into a size x size RGBA image. */
function render(size, layers) {
  const px = new Uint8Array(size * size * 4);
  const S = 4;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let r = 0; let g = 0; let b = 0; let a = 0;
      for (let sy = 0; sy < S; sy++) {
        for (let sx = 0; sx < S; sx++) {
          const u = (x + (sx + 0.5) / S) / size;
          const v = (y + (sy + 0.5) / S) / size;
          // "over" compositing of the layers at this sample, premultiplied.
          let cr = 0; let cg = 0; let cb = 0; let ca = 0;
          for (const [shape, color] of layers) {
            if (!shape(u, v)) continue;
            const la = color[3] / 255;
            cr = color[0] * la + cr * (1 - la);
            cg = color[1] * la + cg * (1 - la);
            cb = color[2] * la + cb * (1 - la);
            ca = la + ca * (1 - la);
          }
          r += cr; g += cg; b += cb; a += ca;
        }
      }
      const n = S * S;
      const alpha = a / n;
      const i = (y * size + x) * 4;
      px[i] = alpha ? Math.round(r / n / alpha) : 0;
      px[i + 1] = alpha ? Math.round(g / n / alpha) : 0;
      px[i + 2] = alpha ? Math.round(b / n / alpha) : 0;
      px[i + 3] = Math.round(alpha * 255);
    }
  }
  return px;
}

// ---------------------------------------------------------------------------------------------
// The drawing

const INK = [38, 52, 74, 255]; // slate
const PAPER = [250, 247, 240, 255];
const ACCENT = [214, 120, 52, 255]; // roof orange

/** Roof over an envelope, inside the unit box (l, t, s). */
function emblem(l, t, s, stroke) {
  const X = (u) => l + u * s;
  const Y = (v) => t + v * s;
  const roof = union(segment(X(0.08), Y(0.42), X(0.5), Y(0.1), stroke * s), segment(X(0.5), Y(0.1), X(0.92), Y(0.42), stroke * s));
  const envelope = roundedRect(X(0.2), Y(0.42), X(0.8), Y(0.86), 0.05 * s);
  const flap = union(segment(X(0.22), Y(0.46), X(0.5), Y(0.68), stroke * 0.7 * s), segment(X(0.5), Y(0.68), X(0.78), Y(0.46), stroke * 0.7 * s));
  return { roof, envelope, flap };
}

function appIcon(size) {
  const bg = roundedRect(0.04, 0.04, 0.96, 0.96, 0.2);
  const e = emblem(0.14, 0.12, 0.72, 0.09);
  return encodePng(size, size, render(size, [[bg, INK], [e.envelope, PAPER], [e.flap, INK], [e.roof, ACCENT]]));
}

const STATE_COLORS = { running: [46, 170, 84, 255], stopped: [140, 146, 156, 255], error: [214, 48, 49, 255] };

function trayIcon(size, state) {
  // The app icon's tile (it reads on light and dark panels alike) and a status dot with a light ring
  // at the bottom right, so the state is visible at 16 px.
  const bg = roundedRect(0.02, 0.02, 0.86, 0.86, 0.18);
  const e = emblem(0.1, 0.08, 0.66, 0.11);
  const ring = circle(0.76, 0.76, 0.24);
  const dot = circle(0.76, 0.76, 0.18);
  return encodePng(size, size, render(size, [[bg, INK], [e.envelope, PAPER], [e.flap, INK], [e.roof, ACCENT], [ring, PAPER], [dot, STATE_COLORS[state]]]));
}

function write(rel, bytes) {
  const file = path.join(root, rel);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, bytes);
  console.log(`${rel} (${bytes.length} bytes)`);
}

for (const state of ['running', 'stopped', 'error']) {
  write(`resources/tray-${state}.png`, trayIcon(32, state));
  write(`resources/tray-${state}@2x.png`, trayIcon(64, state));
}
write('resources/icon.png', appIcon(256));
write('build/icon.png', appIcon(512));
