import seedrandom from 'seedrandom';

/** Where a stream stands: the generator's state and the cached second normal of a Box-Muller pair. */
export interface RngState {
  alea: seedrandom.State.Alea;
  spareNormal: number | null;
}

/**
 * A seeded random stream. Every random draw in the suite (data, noise, times, probes, weight
 * initialisation) goes through one of these, so a seed fixes a run completely; `fork` derives an
 * independent named stream, so adding draws in one place does not shift the numbers elsewhere.
 */
export class Rng {
  private next: seedrandom.StatefulPRNG<seedrandom.State.Alea>;
  private spareNormal: number | null = null;

  constructor(readonly seed: string) {
    this.next = seedrandom.alea(seed, { state: true });
  }

  /** A copy of where the stream stands (plain JSON), for checkpoints. */
  state(): RngState {
    return { alea: this.next.state(), spareNormal: this.spareNormal };
  }

  /** Continues the stream from a saved state: the next draws are those that followed it. */
  restore(state: RngState): void {
    this.next = seedrandom.alea('', { state: { ...state.alea } });
    this.spareNormal = state.spareNormal;
  }

  fork(label: string): Rng {
    return new Rng(`${this.seed}/${label}`);
  }

  /** Uniform on [0, 1). */
  uniform(): number {
    return this.next();
  }

  /** Standard normal by the Box-Muller transform (pairs, the second one cached). */
  normal(): number {
    if (this.spareNormal !== null) {
      const z = this.spareNormal;
      this.spareNormal = null;
      return z;
    }
    const u1 = 1 - this.next(); // in (0, 1], so the log is finite
    const u2 = this.next();
    const radius = Math.sqrt(-2 * Math.log(u1));
    this.spareNormal = radius * Math.sin(2 * Math.PI * u2);
    return radius * Math.cos(2 * Math.PI * u2);
  }

  /**
   * A class index drawn from the categorical probabilities probs[offset .. offset + classes) by
   * inverting the cumulative sum; rounding that leaves the sum below 1 falls to the last class.
   */
  categorical(probs: ArrayLike<number>, offset: number, classes: number): number {
    let u = this.next();
    let j = 0;
    while (j < classes - 1 && u >= probs[offset + j]) u -= probs[offset + j++];
    return j;
  }

  /** Integer uniform on {0, ..., n - 1}. */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  uniformArray(n: number, low = 0, high = 1): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = low + (high - low) * this.next();
    return out;
  }

  normalArray(n: number): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.normal();
    return out;
  }

  /** Entries +1 or -1 with probability 1/2 each. */
  rademacherArray(n: number): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.next() < 0.5 ? -1 : 1;
    return out;
  }
}
