import type { IncomingHttpHeaders } from 'node:http';
import { BoundedMemo } from '../bounded-memo.js';

/**
 * Reading HTTP/1.1 request heads off the wire, for the direct hit path (see hit-lane.ts). Both readers are
 * deliberately narrower than node's parser: whatever they are not sure of, they give up on, and node:http
 * reads the request instead.
 */

/** The blank line that ends a request head. */
export const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');

/** A character of a header name: an RFC 9110 token character. */
const TOKEN_CHAR = "[!#$%&'*+\\-.^_`|~0-9A-Za-z]";
/** A character of a header value node accepts: no control characters but tab. */
const FIELD_VALUE_CHAR = '[\\t\\x20-\\x7e\\x80-\\xff]';
const TOKEN = new RegExp(`^${TOKEN_CHAR}+$`);
const FIELD_VALUE = new RegExp(`^${FIELD_VALUE_CHAR}*$`);
const ANY_REQUEST_LINE = /^[A-Z]+ [\x21-\x7e]+ HTTP\/1\.[01]$/;
const DECIMAL = /^\d{1,15}$/;

/** A request as the direct path sees it: what SigV4 verification and the S3 handler read of node's IncomingMessage. */
export interface HeadRequest {
  method: string;
  url: string;
  /** Lower-case names, each named once. */
  headers: IncomingHttpHeaders;
  /** Alternating names and values as received. */
  rawHeaders: string[];
  /** The names of `rawHeaders`, lower-cased. */
  lowerCaseNames: string[];
}

/**
 * Header names lower-cased, per name as sent: a client sends the same few names on every request, and a
 * remembered lower-case name is a property key the runtime has seen before, where a fresh one is
 * allocated, and then looked up among the runtime's strings, on every use.
 */
const lowerCaseNamesOf = new BoundedMemo<string, string>(1000);
const toLowerCase = (name: string): string => name.toLowerCase();

/** Headers that make a request something other than a plain keep-alive read with no body. */
const NOT_PLAIN = new Set(['content-length', 'transfer-encoding', 'expect', 'upgrade', 'te', 'trailer']);

/**
 * A GET or HEAD request line of HTTP/1.1 with an origin-form target, then header lines of a token name and a
 * value node would accept (no control characters but tab; so no bare CR or LF, and no folded lines).
 */
const PLAIN_HEAD = new RegExp(`^(?:GET|HEAD) /[\\x21-\\x7e]* HTTP/1\\.1(?:\\r\\n${TOKEN_CHAR}+:${FIELD_VALUE_CHAR}*)*$`);

/** True when `name` may be a header name and `value` its value, in a request or a response. */
export function isHeaderField(name: string, value: string): boolean {
  return TOKEN.test(name) && FIELD_VALUE.test(value);
}

/**
 * A GET or HEAD of HTTP/1.1 with no body, no upgrade, no expectation and every header named once, that keeps
 * its connection open; anything else (or anything malformed) is undefined.
 */
export function parsePlainRequest(head: string): HeadRequest | undefined {
  if (!PLAIN_HEAD.test(head)) return undefined;
  const methodEnd = head.indexOf(' ');
  const method = head.slice(0, methodEnd);
  let lineEnd = head.indexOf('\r\n');
  const url = head.slice(methodEnd + 1, (lineEnd === -1 ? head.length : lineEnd) - ' HTTP/1.1'.length);
  const headers: IncomingHttpHeaders = {};
  const rawHeaders: string[] = [];
  const lowerCaseNames: string[] = [];
  while (lineEnd !== -1) {
    const start = lineEnd + 2;
    lineEnd = head.indexOf('\r\n', start);
    const end = lineEnd === -1 ? head.length : lineEnd;
    const colon = head.indexOf(':', start);
    const name = head.slice(start, colon);
    const value = withoutOuterSpace(head, colon + 1, end);
    const lower = lowerCaseNamesOf.get(name, toLowerCase);
    if (headers[lower] !== undefined || NOT_PLAIN.has(lower)) return undefined;
    if (lower === 'connection' && value.toLowerCase() !== 'keep-alive') return undefined;
    headers[lower] = value;
    rawHeaders.push(name, value);
    lowerCaseNames.push(lower);
  }
  if (headers.host === undefined) return undefined;
  return { method, url, headers, rawHeaders, lowerCaseNames };
}

/** `text` from `start` to `end`, without the spaces and tabs around it. */
function withoutOuterSpace(text: string, start: number, end: number): string {
  let from = start;
  let to = end;
  while (from < to && isSpace(text.charCodeAt(from))) from++;
  while (to > from && isSpace(text.charCodeAt(to - 1))) to--;
  return text.slice(from, to);
}

function isSpace(code: number): boolean {
  return code === 32 || code === 9;
}

/**
 * The length of the body that follows `head` on the connection: 0 without Content-Length, its value with one.
 * Undefined where the framing is anything else (chunked, several lengths, an upgrade, a malformed head):
 * then only node's parser can tell where the request ends.
 */
export function bodyLengthOf(head: string): number | undefined {
  const lines = head.split('\r\n');
  if (!ANY_REQUEST_LINE.test(lines[0] ?? '') || lines[0]?.startsWith('CONNECT ') || lines[0]?.startsWith('PRI ')) return undefined;
  let length: number | undefined;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] as string;
    const colon = line.indexOf(':');
    if (colon <= 0) return undefined;
    const name = line.slice(0, colon);
    const value = withoutOuterSpace(line, colon + 1, line.length);
    if (!isHeaderField(name, value)) return undefined;
    const lower = name.toLowerCase();
    if (lower === 'transfer-encoding' || lower === 'upgrade') return undefined;
    if (lower === 'content-length') {
      if (length !== undefined || !DECIMAL.test(value)) return undefined;
      length = Number(value);
    }
  }
  return length ?? 0;
}
