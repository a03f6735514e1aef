import { Writable } from 'node:stream';
import { type Logger, pino } from 'pino';

export interface LogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}

/** A pino logger whose lines a test can read. */
export class LogCapture {
  readonly lines: LogLine[] = [];
  readonly logger: Logger;

  constructor(level: pino.Level = 'info') {
    const sink = new Writable({
      write: (chunk: Buffer, _encoding, done) => {
        for (const text of chunk.toString('utf8').split('\n')) {
          if (text.trim() !== '') this.lines.push(JSON.parse(text) as LogLine);
        }
        done();
      },
    });
    this.logger = pino({ level }, sink);
  }

  /** Lines, from line `from` on, that mention `text` in any field. */
  mentioning(text: string, from = 0): LogLine[] {
    return this.lines.slice(from).filter((line) => JSON.stringify(line).includes(text));
  }
}
