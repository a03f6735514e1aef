import { type EntityDecoderOptions, XMLBuilder, XMLParser } from 'fast-xml-parser';
import { S3Error } from '../errors.js';

/** The five entities XML predefines; a document without a DTD can use no others. */
const PREDEFINED_ENTITIES: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** Characters XML 1.0 allows in a document, literally or as a character reference. */
const NOT_XML_CHAR = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

/**
 * Text as a conforming XML 1.0 parser (S3's) reads it: `&#13;`, `&#xD;`, `&#97;` become the
 * characters they name, the predefined entities their characters, and anything else after `&`
 * makes the document malformed. Line ends were already normalised (CRLF, CR -> LF) by the
 * parser; a CR written as a reference stays a CR.
 */
export function decodeXmlText(text: string): string {
  if (NOT_XML_CHAR.test(text)) throw new Error('character not allowed in XML');
  return text.replace(/&([^&;]*)(;?)/g, (_match, name: string, semicolon: string) => {
    if (semicolon === '') throw new Error('"&" not starting a reference');
    const predefined = PREDEFINED_ENTITIES[name];
    if (predefined !== undefined) return predefined;
    const digits = /^#(?:([0-9]{1,8})|x([0-9a-fA-F]{1,8}))$/.exec(name);
    if (digits === null) throw new Error(`undefined entity &${name};`);
    const codePoint = digits[1] !== undefined ? Number.parseInt(digits[1], 10) : Number.parseInt(digits[2] as string, 16);
    const char = codePoint <= 0x10ffff ? String.fromCodePoint(codePoint) : '';
    if (char === '' || NOT_XML_CHAR.test(char)) throw new Error(`reference to a character XML does not allow: &${name};`);
    return char;
  });
}

/** Entities declared in a DOCTYPE are never expanded: references to them are undefined, as without a DTD. */
const entityDecoder: EntityDecoderOptions = {
  setExternalEntities: () => {},
  addInputEntities: () => {},
  reset: () => {},
  setXmlVersion: () => {},
  decode: decodeXmlText,
};

const builder = new XMLBuilder({ processEntities: true, suppressEmptyNode: false });
const parser = new XMLParser({
  ignoreAttributes: true,
  parseTagValue: false,
  trimValues: false,
  processEntities: true,
  entityDecoder,
  isArray: (name) => name === 'Object',
});
const utf8 = new TextDecoder('utf-8', { fatal: true });

export interface ErrorDocument {
  code: string;
  message: string;
  resource: string;
  requestId: string;
  details: Record<string, string>;
}

export function errorXml(error: ErrorDocument): string {
  const body = {
    Error: {
      Code: error.code,
      Message: error.message,
      ...error.details,
      Resource: error.resource,
      RequestId: error.requestId,
    },
  };
  return `<?xml version="1.0" encoding="UTF-8"?>\n${builder.build(body) as string}`;
}

/** Parses a request body as S3 does: UTF-8, well-formed, references decoded; MalformedXML otherwise. */
function parseRequestXml(body: Buffer): unknown {
  try {
    return parser.parse(utf8.decode(body), true);
  } catch (err) {
    throw new S3Error('MalformedXML', { cause: err });
  }
}

/** The keys named by a DeleteObjects request body. */
export function parseDeleteObjectsKeys(body: Buffer): string[] {
  const del = (parseRequestXml(body) as { Delete?: { Object?: Array<{ Key?: unknown }> } }).Delete;
  if (del === undefined || typeof del !== 'object') throw new S3Error('MalformedXML');
  const keys: string[] = [];
  for (const object of del.Object ?? []) {
    if (typeof object?.Key !== 'string') throw new S3Error('MalformedXML');
    keys.push(object.Key);
  }
  return keys;
}
