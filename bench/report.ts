import { mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { dirname } from 'node:path';
import type { LoadSettings, Measurement } from './measure.js';

export interface Ratio {
  object: string;
  falconRequestsPerSec: number;
  bareRequestsPerSec: number;
  ratio: number;
  target: number;
  met: boolean;
}

const BYTES_PER_MB = 1_000_000;

export function ratioFor(object: string, target: number, falcon: Measurement, bare: Measurement): Ratio {
  const ratio = bare.requestsPerSec === 0 ? 0 : falcon.requestsPerSec / bare.requestsPerSec;
  return {
    object,
    falconRequestsPerSec: falcon.requestsPerSec,
    bareRequestsPerSec: bare.requestsPerSec,
    ratio,
    target,
    met: ratio >= target,
  };
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)));
  const format = (cells: readonly string[]): string =>
    cells.map((cell, column) => (column < 2 ? cell.padEnd(widths[column] ?? 0) : cell.padStart(widths[column] ?? 0))).join('  ');
  return [format(header), widths.map((width) => '-'.repeat(width)).join('  '), ...rows.map(format)].join('\n');
}

export function measurementTable(measurements: readonly Measurement[]): string {
  return table(
    ['case', 'server', 'req/s', 'MB/s', 'p99 ms', 'non-2xx'],
    measurements.map((m) => [
      `${m.object} x${m.connections}`,
      m.server,
      m.requestsPerSec.toFixed(0),
      (m.bytesPerSec / BYTES_PER_MB).toFixed(1),
      m.p99LatencyMs.toFixed(1),
      String(m.non2xx),
    ]),
  );
}

export function ratioTable(ratios: readonly Ratio[]): string {
  return table(
    ['object', 'falcon/bare', 'req/s', 'target', 'met'],
    ratios.map((r) => [
      r.object,
      `${r.ratio.toFixed(2)}x`,
      `${r.falconRequestsPerSec.toFixed(0)} / ${r.bareRequestsPerSec.toFixed(0)}`,
      `>= ${r.target.toFixed(1)}x`,
      r.met ? 'yes' : 'NO',
    ]),
  );
}

export async function writeResults(
  file: string,
  settings: LoadSettings,
  measurements: readonly Measurement[],
  ratios: readonly Ratio[],
): Promise<void> {
  const cpuList = cpus();
  const results = {
    generatedAt: new Date().toISOString(),
    environment: {
      node: process.version,
      platform: process.platform,
      arch: process.arch,
      cpus: cpuList.length,
      cpuModel: cpuList[0]?.model ?? 'unknown',
    },
    settings,
    measurements,
    ratios,
  };
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, `${JSON.stringify(results, null, 2)}\n`);
}
