/** Teardown steps, run newest first and at most once. */
export class Cleanup {
  private readonly steps: (() => Promise<void>)[] = [];
  private done: Promise<void> | undefined;

  add(step: () => Promise<void>): void {
    this.steps.push(step);
  }

  run(): Promise<void> {
    this.done ??= this.runSteps();
    return this.done;
  }

  private async runSteps(): Promise<void> {
    for (const step of this.steps.reverse()) {
      try {
        await step();
      } catch (err) {
        console.error('cleanup step failed:', err);
      }
    }
  }
}
