/**
 * Seeded pseudo-random numbers (sfc32). Every random choice in the project — shuffling, PixMix,
 * fractals, outlier sampling, weight init — draws from an Rng built from the run's seed, so a run is
 * reproducible. The state is four 32-bit words and can be saved in a checkpoint and restored.
 *
 * Each purpose gets its own stream: `Rng.stream(seed, 'train/shuffle', epoch)` hashes (seed,
 * purpose, indices) into all 128 bits of the state. Numeric salts on one parent (the former
 * `new Rng(seed).fork(k)` at every call site) let unrelated purposes whose k happened to coincide
 * draw the identical stream — e.g. the gaussian test images, the epoch-1 shuffle and the first
 * PixMix batch — so the salt must name the purpose, not just count.
 */
export type RngState = [number, number, number, number];

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number | RngState) {
    if (Array.isArray(seed)) {
      [this.a, this.b, this.c, this.d] = seed.map((v) => v >>> 0) as RngState;
      return;
    }
    // splitmix32 expands one seed into four well-mixed words.
    let s = seed >>> 0;
    const next = () => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next(); this.b = next(); this.c = next(); this.d = next();
    for (let i = 0; i < 12; i++) this.nextUint32();
  }

  state(): RngState { return [this.a, this.b, this.c, this.d]; }

  /**
   * The stream of one purpose: four murmur3-style hash lanes over (seed, purpose, indices) give the
   * 128-bit state, so two purposes share a stream only by a 128-bit hash collision. `purpose` is a
   * name such as 'train/escape'; indices (non-negative integers < 2^53) pick e.g. the epoch and batch.
   */
  static stream(seed: number, purpose: string, ...indices: number[]): Rng {
    const words: number[] = [seed >>> 0, Math.floor(seed / 4294967296) >>> 0, purpose.length];
    for (let i = 0; i < purpose.length; i++) words.push(purpose.charCodeAt(i));
    words.push(indices.length);
    for (const k of indices) {
      if (!Number.isInteger(k) || k < 0 || k > Number.MAX_SAFE_INTEGER) throw new RangeError(`Rng.stream index must be a non-negative safe integer, got ${k}`);
      words.push(k >>> 0, Math.floor(k / 4294967296) >>> 0);
    }
    const lane = (laneSeed: number) => {
      let h = laneSeed >>> 0;
      for (const w of words) {
        let k = Math.imul(w, 0xcc9e2d51);
        k = (k << 15) | (k >>> 17);
        h ^= Math.imul(k, 0x1b873593);
        h = (h << 13) | (h >>> 19);
        h = (Math.imul(h, 5) + 0xe6546b64) >>> 0;
      }
      h ^= words.length;
      h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
      h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
      return (h ^ (h >>> 16)) >>> 0;
    };
    const r = new Rng([lane(0x243f6a88), lane(0x85a308d3), lane(0x13198a2e), lane(0x03707344)]);
    for (let i = 0; i < 12; i++) r.nextUint32(); // sfc32's usual warm-up
    return r;
  }

  /** A child generator whose stream is independent of this one's future draws. */
  fork(salt: number): Rng {
    return new Rng((this.nextUint32() ^ Math.imul(salt + 1, 0x27d4eb2d)) >>> 0);
  }

  nextUint32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** Uniform in [0, 1). */
  uniform(): number { return this.nextUint32() / 4294967296; }

  /** Integer in [0, n). */
  int(n: number): number { return Math.floor(this.uniform() * n); }

  /** Standard normal (Box–Muller; one value per call keeps the state simple to save). */
  normal(): number {
    let u = this.uniform();
    while (u <= 1e-300) u = this.uniform();
    const v = this.uniform();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** Gamma(shape, 1) by Marsaglia–Tsang. */
  gamma(shape: number): number {
    if (shape < 1) return this.gamma(shape + 1) * Math.pow(this.uniform() || 1e-300, 1 / shape);
    const d = shape - 1 / 3;
    const c = 1 / Math.sqrt(9 * d);
    for (;;) {
      let x: number, v: number;
      do { x = this.normal(); v = 1 + c * x; } while (v <= 0);
      v = v * v * v;
      const u = this.uniform();
      if (u < 1 - 0.0331 * x * x * x * x) return d * v;
      if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
    }
  }

  /** Beta(a, b) as X/(X+Y) of two gammas. */
  beta(a: number, b: number): number {
    const x = this.gamma(a);
    const y = this.gamma(b);
    return x / (x + y);
  }

  /** In-place Fisher–Yates shuffle. */
  shuffle<T>(arr: T[] | Int32Array | Uint32Array): typeof arr {
    for (let i = arr.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = arr[i]; arr[i] = arr[j]; arr[j] = t;
    }
    return arr;
  }

  /** A random permutation of 0..n-1. */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    return this.shuffle(p) as Int32Array;
  }
}
