/**
 * Values computed from a key, kept for the next request with that key: at most `maxEntries` of them, all
 * forgotten at once when it is full (cheaper than tracking use, and the next requests fill it again). A
 * computation that throws leaves nothing behind.
 */
export class BoundedMemo<K, V> {
  private readonly values = new Map<K, V>();

  constructor(private readonly maxEntries: number) {}

  get(key: K, compute: (key: K) => V): V {
    const known = this.values.get(key);
    if (known !== undefined || this.values.has(key)) return known as V;
    const value = compute(key);
    if (this.values.size >= this.maxEntries) this.values.clear();
    this.values.set(key, value);
    return value;
  }
}
