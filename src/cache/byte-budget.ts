/** Bounds the bytes held by all in-flight cache fills together. */
export class ByteBudget {
  private usedBytes = 0;

  constructor(private readonly limitBytes: number) {}

  tryReserve(bytes: number): boolean {
    if (this.usedBytes + bytes > this.limitBytes) return false;
    this.usedBytes += bytes;
    return true;
  }

  release(bytes: number): void {
    this.usedBytes = Math.max(0, this.usedBytes - bytes);
  }

  get used(): number {
    return this.usedBytes;
  }
}
