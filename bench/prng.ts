// Seeded pseudo-random numbers for the benchmark corpus: the same seed gives the same
// stream on every run. No Math.random; the only floating-point library calls are
// Math.log/exp/cos/sqrt, which V8 implements itself (an fdlibm port), so they do not vary
// with the platform's libm. The corpus smoke test pins a digest, so a drift would be noticed.
//
// sfc32 (Chris Doty-Humphrey's Small Fast Chaotic generator), seeded by a 128-bit string hash.

function hash128(text: string): [number, number, number, number] {
  let h1 = 1779033703;
  let h2 = 3144134277;
  let h3 = 1013904242;
  let h4 = 2773480762;
  for (let i = 0; i < text.length; i++) {
    const k = text.charCodeAt(i);
    h1 = h2 ^ Math.imul(h1 ^ k, 597399067);
    h2 = h3 ^ Math.imul(h2 ^ k, 2869860233);
    h3 = h4 ^ Math.imul(h3 ^ k, 951274213);
    h4 = h1 ^ Math.imul(h4 ^ k, 2716044179);
  }
  h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067);
  h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233);
  h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213);
  h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179);
  return [(h1 ^ h2 ^ h3 ^ h4) >>> 0, (h2 ^ h1) >>> 0, (h3 ^ h1) >>> 0, (h4 ^ h1) >>> 0];
}

export class Prng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: string) {
    [this.a, this.b, this.c, this.d] = hash128(seed);
    for (let i = 0; i < 15; i++) this.u32();
  }

  /** A uniformly distributed unsigned 32-bit integer. */
  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.u32() / 4294967296;
  }

  /** Uniform integer in [lo, hi] (inclusive). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.float() * (hi - lo + 1));
  }

  chance(p: number): boolean {
    return this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.float() * items.length)];
  }

  /** Index skewed towards 0 (a rough Zipf-like popularity curve). */
  skewed(n: number, power = 2): number {
    return Math.min(n - 1, Math.floor(n * Math.pow(this.float(), power)));
  }

  /** Log-normal sample with the given median; sigma is the log-space standard deviation. */
  lognormal(median: number, sigma: number): number {
    // Box-Muller; 1 - float() keeps the logarithm finite.
    const u1 = 1 - this.float();
    const u2 = this.float();
    const z = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
    return median * Math.exp(sigma * z);
  }

  hex(chars: number): string {
    let s = '';
    while (s.length < chars) s += this.u32().toString(16).padStart(8, '0');
    return s.slice(0, chars);
  }

  /** Characters from an alphabet, e.g. Postfix queue ids or base64 signature text. */
  chars(alphabet: string, n: number): string {
    let s = '';
    for (let i = 0; i < n; i++) s += alphabet[this.u32() % alphabet.length];
    return s;
  }

  bytes(n: number): Buffer {
    const buf = Buffer.allocUnsafe(n);
    let i = 0;
    for (; i + 4 <= n; i += 4) buf.writeUInt32LE(this.u32(), i);
    if (i < n) {
      const last = this.u32();
      for (let k = 0; i < n; i++, k++) buf[i] = (last >>> (8 * k)) & 0xff;
    }
    return buf;
  }

  /** A new independent stream derived from this one (so adding draws in one place does not shift another). */
  fork(label: string): Prng {
    return new Prng(`${this.u32()}:${this.u32()}:${label}`);
  }
}
