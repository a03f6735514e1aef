import { Cleanup } from './cleanup.js';
import { pinClient } from './pinning.js';

/** A positive number from the environment variable `name`, or `fallback` when it is unset or empty. */
export function positiveNumberFromEnv(name: string, fallback: number): number {
  const text = process.env[name]?.trim();
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, got "${text}"`);
  return value;
}

/**
 * Runs a bench script's body on the load generator's core, then whatever it registered for cleanup, however
 * it ended; a failure is printed and sets the exit code.
 */
export async function runScript(name: string, body: (cleanup: Cleanup) => Promise<void>): Promise<void> {
  const cleanup = new Cleanup();
  try {
    pinClient();
    await body(cleanup);
  } catch (err) {
    console.error(`${name} failed:`, err);
    process.exitCode = 1;
  } finally {
    await cleanup.run();
  }
}
