// Prints the final report of tests/run-all.sh from the step results it recorded (build,
// type-check, leak check, ...) and the vitest summary reporter's output, ending with exactly
// one line `N passed, N failed`. Exit status 1 when anything failed.
// Usage: node tests/setup/summarize.mjs <steps.jsonl> <vitest-summary.json>
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const [stepsFile, vitestFile] = process.argv.slice(2);

function readLines(file) {
  if (!file || !existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l));
}

const entries = [...readLines(stepsFile), ...readLines(vitestFile)];
const passed = entries.filter((e) => e.status === 'passed');
const failed = entries.filter((e) => e.status === 'failed');
const skipped = entries.filter((e) => e.status === 'skipped');

const firstLines = (text, n) => {
  const lines = String(text ?? '').split('\n').filter((l) => l.trim());
  const shown = lines.slice(0, n).map((l) => (l.length > 300 ? `${l.slice(0, 300)}...` : l));
  if (lines.length > n) shown.push(`... (${lines.length - n} more lines)`);
  return shown;
};

console.log('');
console.log('==================== summary ====================');
if (skipped.length) {
  console.log(`Skipped (${skipped.length}, not counted as passed):`);
  for (const e of skipped) console.log(`  - ${e.file} > ${e.name}${e.message ? ` (${e.message})` : ''}`);
}
if (failed.length) {
  console.log(`Failed (${failed.length}):`);
  const byFile = new Map();
  for (const e of failed) byFile.set(e.file, [...(byFile.get(e.file) ?? []), e]);
  for (const [file, list] of byFile) {
    console.log(`  ${file} (${list.length} failed)`);
    for (const e of list) {
      console.log(`    ✗ ${e.name}`);
      for (const l of firstLines(e.message, 4)) console.log(`        ${l}`);
    }
  }
}
const report = { passed: passed.length, failed: failed.length, skipped: skipped.length, entries };
if (vitestFile) writeFileSync(path.join(path.dirname(vitestFile), 'summary.json'), JSON.stringify(report, null, 2) + '\n');
console.log(`${passed.length} passed, ${failed.length} failed`);
process.exit(failed.length > 0 ? 1 : 0);
