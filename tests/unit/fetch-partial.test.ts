// A partial FETCH of the whole message reads only about what it returns: a 1 KB peek at a
// 50 MB message must not read 50 MB (issue: memory does not grow with message size).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtemp, rm, writeFile, open } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { wholePartial } from '../../electron/server/imap/commands/fetch.js';
import type { MailboxView } from '../../electron/server/storage/types.js';

let dir: string;
let file: string;
const SIZE = 50 * 1024 * 1024;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'roost-partial-'));
  file = path.join(dir, 'big');
  // LF line endings, as Postfix writes them: every 64-byte line ends in a bare LF.
  const line = Buffer.from('x'.repeat(63) + '\n');
  const buf = Buffer.alloc(SIZE);
  for (let i = 0; i < SIZE; i += 64) line.copy(buf, i);
  await writeFile(file, Buffer.concat([Buffer.from('Subject: big\n\n'), buf]));
});

afterAll(async () => rm(dir, { recursive: true, force: true }));

/** Just enough of a view: reads from the real file and counts the bytes it read. */
function countingView(): { view: MailboxView; bytes: () => number } {
  let bytes = 0;
  const view = {
    async read(_uid: number, start = 0, end = Infinity) {
      const fh = await open(file, 'r');
      try {
        const want = Math.max(0, Math.min(end, SIZE + 14) - start);
        const b = Buffer.alloc(want);
        const { bytesRead } = await fh.read(b, 0, want, start);
        bytes += bytesRead;
        return b.subarray(0, bytesRead);
      } finally {
        await fh.close();
      }
    },
  } as unknown as MailboxView;
  return { view, bytes: () => bytes };
}

describe('whole-message partial FETCH', () => {
  it('reads about 1 KB for BODY.PEEK[]<0.1024> of a 50 MB message, converting LF to CRLF', async () => {
    const { view, bytes } = countingView();
    const out = await wholePartial(view, 1, 0, 1024);
    expect(out.length).toBe(1024);
    expect(out.subarray(0, 16).toString()).toBe('Subject: big\r\n\r\n');
    expect(out.toString().includes('\n') && !/[^\r]\n/.test(out.toString())).toBe(true);
    expect(bytes()).toBeLessThan(8 * 1024);
  });

  it('counts CRLF-converted offsets like Dovecot: <1000.10> starts after 1000 virtual bytes', async () => {
    const { view } = countingView();
    const head = await wholePartial(view, 1, 0, 1010);
    const part = await wholePartial(view, 1, 1000, 10);
    expect(part.equals(head.subarray(1000, 1010))).toBe(true);
  });
});
