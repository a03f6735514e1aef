import { XMLBuilder, XMLParser } from 'fast-xml-parser';
import { S3Error } from '../errors.js';

const builder = new XMLBuilder({ processEntities: true, suppressEmptyNode: false });
const parser = new XMLParser({
  ignoreAttributes: true,
  parseTagValue: false,
  trimValues: false,
  processEntities: true,
  isArray: (name) => name === 'Object',
});

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

/** The keys named by a DeleteObjects request body. */
export function parseDeleteObjectsKeys(xml: string): string[] {
  let doc: unknown;
  try {
    doc = parser.parse(xml, true);
  } catch (err) {
    throw new S3Error('MalformedXML', { cause: err });
  }
  const del = (doc as { Delete?: { Object?: Array<{ Key?: unknown }> } }).Delete;
  if (del === undefined || typeof del !== 'object') throw new S3Error('MalformedXML');
  const keys: string[] = [];
  for (const object of del.Object ?? []) {
    if (typeof object?.Key !== 'string') throw new S3Error('MalformedXML');
    keys.push(object.Key);
  }
  return keys;
}
