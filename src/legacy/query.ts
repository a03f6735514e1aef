import type { Request } from 'express';
import { LegacyError } from '../errors.js';

/** First value of a query parameter, trimmed; empty counts as missing, as in the original Falcon. */
export function queryParam(req: Request, name: string): string | undefined {
  const raw: unknown = req.query[name];
  const first = Array.isArray(raw) ? raw[0] : raw;
  if (typeof first !== 'string') return undefined;
  const value = first.trim();
  return value === '' ? undefined : value;
}

export function requireQueryParam(req: Request, name: string): string {
  const value = queryParam(req, name);
  if (value === undefined) throw new LegacyError(400, `'${name}' not found in querystring parameters`);
  return value;
}
