// UidSet (storage/uidset.ts): the range-based \Recent set behaves like a Set<number>.
import { describe, expect, it } from 'vitest';
import { UidSet } from '../../electron/server/storage/uidset.js';

describe('UidSet', () => {
  it('matches a Set<number> under random adds and deletes', () => {
    let seed = 42;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const a = new UidSet();
    const b = new Set<number>();
    for (let i = 0; i < 5000; i++) {
      const uid = 1 + rnd(300);
      if (rnd(3) === 0) expect(a.delete(uid)).toBe(b.delete(uid));
      else {
        a.add(uid);
        b.add(uid);
      }
      expect(a.size).toBe(b.size);
    }
    for (let uid = 0; uid <= 301; uid++) expect(a.has(uid)).toBe(b.has(uid));
    expect([...a]).toEqual([...b].sort((x, y) => x - y));
    a.clear();
    expect(a.size).toBe(0);
    expect([...a]).toEqual([]);
  });

  it('holds an ascending run as one range and iterates safely while deleting', () => {
    const s = new UidSet();
    for (let uid = 1; uid <= 50_000; uid++) s.add(uid);
    expect(s.size).toBe(50_000);
    expect(s.has(25_000)).toBe(true);
    expect(s.has(50_001)).toBe(false);
    let n = 0;
    for (const uid of s) {
      s.delete(uid);
      n++;
    }
    expect(n).toBe(50_000);
    expect(s.size).toBe(0);
  });
});
