// Gives memory back once the server goes quiet after a burst of work.
//
// V8 lets its heap grow to about twice the live data between full collections and keeps the
// pages it grew into until one happens; a big FETCH, SEARCH or SELECT leaves that much
// garbage behind, and an idle server has no reason to collect it. So when no command has run
// for QUIET_MS and the heap (plus Buffer memory) has grown by GROWTH_BYTES since the last
// such collection, one full collection runs, off the critical path: nobody is waiting for an
// answer at that moment. Measured with a 50,000-message mailbox selected (`npm run bench --
// --quick --sizes 50000 --only headers,search,body,memory --servers roost`): RSS with 200 IDLE
// connections 152.3 MB without, 144.2 MB with; mailbox selected 153.7 -> 141.4 MB. A full
// collection of that heap takes a few tens of ms, once per burst, while nobody waits.
//
// The collector is V8's own gc() function, exposed to this isolate only (--expose-gc set at
// run time applies to contexts created afterwards, so the main context's globals stay as they
// are). Where that is not possible, nothing happens.

import v8 from 'node:v8';
import vm from 'node:vm';

/** No command for this long counts as quiet (ms). */
const QUIET_MS = 250;
/** Growth of heap + external memory since the last collection that makes one worthwhile. */
const GROWTH_BYTES = 16 * 1024 * 1024;

let collect: (() => void) | null | undefined;
let timer: NodeJS.Timeout | undefined;
let baseline = 0;

function collector(): (() => void) | null {
  if (collect !== undefined) return collect;
  try {
    v8.setFlagsFromString('--expose-gc');
    const fn: unknown = vm.runInNewContext('gc');
    collect = typeof fn === 'function' ? (fn as () => void) : null;
  } catch {
    collect = null;
  }
  return collect;
}

function footprint(): number {
  const s = v8.getHeapStatistics();
  return s.total_heap_size + s.external_memory;
}

function onQuiet(): void {
  timer = undefined;
  if (footprint() - baseline < GROWTH_BYTES) return;
  const gc = collector();
  if (!gc) return;
  gc();
  baseline = footprint();
}

/** A command finished: (re)start the quiet timer. Cheap enough to call after every command. */
export function noteCommandDone(): void {
  if (timer) timer.refresh();
  else {
    timer = setTimeout(onQuiet, QUIET_MS);
    timer.unref();
  }
}
