// Vitest reporter that records every test's outcome for tests/run-all.sh's final count.
//
// Vitest's own JSON report marks the tests of a suite whose beforeAll hook threw as
// "skipped" and drops the hook's error, which would make a server that fails to start look
// like intentionally skipped tests. This reporter counts such tests as failed (with the
// hook's error), adds an entry for failing afterAll hooks and for files that fail to load,
// and keeps the note of tests skipped on purpose. Output: JSON lines in $ROOST_SUMMARY_FILE
// (default test-results/vitest-summary.json).
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Reporter, TestCase, TestModule, TestSuite } from 'vitest/node';

export interface SummaryEntry {
  file: string;
  name: string;
  status: 'passed' | 'failed' | 'skipped';
  /** Failure message (first lines) or skip reason. */
  message?: string;
  durationMs?: number;
}

interface ErrorLike {
  message?: string;
  name?: string;
  stack?: string;
}

function describeErrors(errors: ReadonlyArray<ErrorLike> | undefined): string {
  if (!errors || errors.length === 0) return '';
  return errors
    .map((e) => `${e.name && e.name !== 'Error' ? `${e.name}: ` : ''}${e.message ?? String(e)}`)
    .join('\n');
}

function ancestors(t: TestCase | TestSuite): Array<TestSuite | TestModule> {
  const out: Array<TestSuite | TestModule> = [];
  let p: TestSuite | TestModule = t.parent;
  for (;;) {
    out.push(p);
    if (p.type === 'module') break;
    p = p.parent;
  }
  return out;
}

export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<ErrorLike>): void {
    const entries: SummaryEntry[] = [];
    const cwd = process.cwd();
    for (const mod of testModules) {
      const file = path.relative(cwd, mod.moduleId) || mod.moduleId;
      let count = 0;
      for (const t of mod.children.allTests()) {
        count++;
        const r = t.result();
        const durationMs = t.diagnostic()?.duration;
        if (r.state === 'passed') {
          entries.push({ file, name: t.fullName, status: 'passed', durationMs });
        } else if (r.state === 'failed') {
          entries.push({ file, name: t.fullName, status: 'failed', message: describeErrors(r.errors), durationMs });
        } else if (r.state === 'skipped') {
          // Skipped because an enclosing hook failed (not on purpose): that is a failure.
          const broken = ancestors(t).find((a) => a.errors().length > 0);
          if (broken && t.options.mode !== 'skip' && t.options.mode !== 'todo') {
            const where = broken.type === 'module' ? 'file' : `suite "${broken.fullName}"`;
            entries.push({ file, name: t.fullName, status: 'failed', message: `not run: a hook of the ${where} failed: ${describeErrors(broken.errors())}` });
          } else {
            entries.push({ file, name: t.fullName, status: 'skipped', message: r.note ?? (t.options.mode === 'todo' ? 'todo' : undefined) });
          }
        } else {
          entries.push({ file, name: t.fullName, status: 'failed', message: 'did not finish (pending at the end of the run)' });
        }
      }
      // Errors of suites/modules not already reported through their tests (afterAll, load errors).
      const holders: Array<TestSuite | TestModule> = [mod, ...mod.children.allSuites()];
      for (const h of holders) {
        const errs = h.errors();
        if (errs.length === 0) continue;
        const tests = [...h.children.allTests()];
        const coveredBySkips = tests.some((t) => t.result().state === 'skipped' && t.options.mode !== 'skip' && t.options.mode !== 'todo');
        if (coveredBySkips) continue;
        const name = h.type === 'module' ? (count === 0 ? '(file failed to load or run)' : '(file-level hook)') : `${h.fullName} (hook)`;
        entries.push({ file, name, status: 'failed', message: describeErrors(errs) });
      }
      if (count === 0 && mod.errors().length === 0 && mod.state() === 'failed') {
        entries.push({ file, name: '(file failed)', status: 'failed', message: 'the test file failed without a reported error' });
      }
    }
    for (const e of unhandledErrors) {
      entries.push({ file: '(unhandled)', name: e.name ?? 'error', status: 'failed', message: describeErrors([e]) });
    }
    const out = process.env.ROOST_SUMMARY_FILE ?? path.join('test-results', 'vitest-summary.json');
    mkdirSync(path.dirname(out), { recursive: true });
    writeFileSync(out, entries.map((e) => JSON.stringify(e)).join('\n') + (entries.length ? '\n' : ''));
  }
}
