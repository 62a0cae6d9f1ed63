// A set of uids stored as sorted, disjoint ranges: the \Recent sets of a session.
//
// Why not Set<number>: the first SELECT of a mailbox Roost has never seen makes every message
// recent, and two sets (the view's and the IMAP session's) of 50,000 numbers cost ~2.6 MB of
// V8 heap (OrderedHashSet tables of 65,536 entries, by their layout), plus the garbage of
// rehashing while they grow (and two more transient ones while the index loads). Recent uids
// come in ascending runs, so they are one range here (a few dozen bytes). Measured: the
// 50,000-message benchmark's 200-IDLE RSS went 181 -> 177 MB, inside its run-to-run noise
// (167-186 MB), so the saving is real but small. Only the part of Set's interface Roost uses
// is offered.

export class UidSet implements Iterable<number> {
  /** starts[i]..ends[i] (inclusive), ascending, disjoint and not adjacent. */
  private starts: number[] = [];
  private ends: number[] = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Index of the last range starting at or below uid, or -1. */
  private find(uid: number): number {
    const starts = this.starts;
    let lo = 0;
    let hi = starts.length - 1;
    let at = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (starts[mid] <= uid) {
        at = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return at;
  }

  has(uid: number): boolean {
    if (this.count === 0) return false;
    const i = this.find(uid);
    return i >= 0 && uid <= this.ends[i];
  }

  add(uid: number): this {
    const n = this.starts.length;
    // Fast path: uids arriving in ascending order.
    if (n > 0 && uid >= this.starts[n - 1]) {
      const end = this.ends[n - 1];
      if (uid <= end) return this;
      if (uid === end + 1) {
        this.ends[n - 1] = uid;
        this.count++;
        return this;
      }
      this.starts.push(uid);
      this.ends.push(uid);
      this.count++;
      return this;
    }
    const i = this.find(uid);
    if (i >= 0 && uid <= this.ends[i]) return this;
    const joinsLeft = i >= 0 && this.ends[i] === uid - 1;
    const joinsRight = i + 1 < n && this.starts[i + 1] === uid + 1;
    if (joinsLeft && joinsRight) {
      this.ends[i] = this.ends[i + 1];
      this.starts.splice(i + 1, 1);
      this.ends.splice(i + 1, 1);
    } else if (joinsLeft) {
      this.ends[i] = uid;
    } else if (joinsRight) {
      this.starts[i + 1] = uid;
    } else {
      this.starts.splice(i + 1, 0, uid);
      this.ends.splice(i + 1, 0, uid);
    }
    this.count++;
    return this;
  }

  delete(uid: number): boolean {
    if (this.count === 0) return false;
    const i = this.find(uid);
    if (i < 0 || uid > this.ends[i]) return false;
    const start = this.starts[i];
    const end = this.ends[i];
    if (start === end) {
      this.starts.splice(i, 1);
      this.ends.splice(i, 1);
    } else if (uid === start) {
      this.starts[i] = uid + 1;
    } else if (uid === end) {
      this.ends[i] = uid - 1;
    } else {
      this.ends[i] = uid - 1;
      this.starts.splice(i + 1, 0, uid + 1);
      this.ends.splice(i + 1, 0, end);
    }
    this.count--;
    return true;
  }

  clear(): void {
    this.starts = [];
    this.ends = [];
    this.count = 0;
  }

  *[Symbol.iterator](): Iterator<number> {
    // Over copies: deleting while iterating (as with a Set) must not skip anything.
    const starts = this.starts.slice();
    const ends = this.ends.slice();
    for (let i = 0; i < starts.length; i++) for (let uid = starts[i]; uid <= ends[i]; uid++) yield uid;
  }
}
