import type { LoadRequest, TargetSource } from './load.js';
import type { TargetCycle } from './presign.js';

/** A closed byte range: `first` to `last` inclusive, as in `Range: bytes=first-last`. */
export interface ByteRange {
  first: number;
  last: number;
}

export function rangeHeader(range: ByteRange): string {
  return `bytes=${range.first}-${range.last}`;
}

export function rangeLength(range: ByteRange): number {
  return range.last - range.first + 1;
}

/**
 * Mulberry32: a small seeded generator of numbers in [0, 1), so every run (and both servers within a run) reads
 * the same offsets.
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** `count` ranges of `length` bytes at random (unaligned) offsets of an object of `size` bytes. */
export function randomRanges(size: number, length: number, count: number, seed: number): ByteRange[] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, () => {
    const first = Math.floor(random() * (size - length + 1));
    return { first, last: first + length - 1 };
  });
}

/**
 * The requests of a random-range load: the server's presigned targets in turn, each with the next range of a fixed
 * list (the same list, from its start, for every server measured).
 */
export class RangeCycle implements TargetSource {
  private cursor = 0;
  private readonly headers: readonly Record<string, string>[];

  constructor(
    private readonly targets: TargetCycle,
    ranges: readonly ByteRange[],
  ) {
    if (ranges.length === 0) throw new Error('a RangeCycle needs at least one range');
    this.headers = ranges.map((range) => ({ range: rangeHeader(range) }));
  }

  next(): LoadRequest {
    const headers = this.headers[this.cursor] as Record<string, string>;
    this.cursor = this.cursor + 1 === this.headers.length ? 0 : this.cursor + 1;
    return { path: this.targets.next(), headers };
  }
}
