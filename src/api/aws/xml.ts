// The response side of AWS's Query protocols (aws-ec2-api.md §1.2-1.4), built by fast-xml-parser's
// XMLBuilder from plain values: objects are elements in key order, arrays are lists (`<item>` in
// EC2, `<member>` in the query protocol), an empty array an empty element (`<tagSet/>`: the SDKs
// read [] from it, and nothing from a missing one), undefined and null are left out. Every text and
// attribute is escaped by the builder; characters XML 1.0 cannot carry become U+FFFD.
import { XMLBuilder } from 'fast-xml-parser';

export type XmlValue =
  | string
  | number
  | bigint
  | boolean
  | Date
  | null
  | undefined
  | readonly XmlValue[]
  | { readonly [element: string]: XmlValue };

export type XmlFields = { readonly [element: string]: XmlValue };

export const EC2_NAMESPACE = 'http://ec2.amazonaws.com/doc/2016-11-15/';
export const ELBV2_NAMESPACE = 'http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/';
export const STS_NAMESPACE = 'https://sts.amazonaws.com/doc/2011-06-15/';
export const XML_CONTENT_TYPE = 'text/xml;charset=UTF-8';
/** AWS sends the request id in this header too, and SDK v3 reads `$metadata.requestId` from it only */
export const REQUEST_ID_HEADER = 'x-amzn-requestid';

/** one error of EC2's `<Errors>` */
export interface Ec2ErrorItem {
  readonly code: string;
  readonly message: string;
}

/** the `<Error>` of the query protocol's `<ErrorResponse>` */
export interface QueryErrorItem {
  /** Sender: the client's mistake; Receiver: ours */
  readonly type?: 'Sender' | 'Receiver';
  readonly code: string;
  readonly message: string;
}

const ATTR = '@_';
const builder = new XMLBuilder({
  ignoreAttributes: false,
  attributeNamePrefix: ATTR,
  suppressEmptyNode: true,
  processEntities: true,
  format: false,
});

const ELEMENT = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
// what XML 1.0 allows: tab, LF, CR, U+0020-U+D7FF, U+E000-U+FFFD, U+10000-U+10FFFF (lone surrogates are out)
const NOT_XML = /[^\t\n\r\u{20}-\u{D7FF}\u{E000}-\u{FFFD}\u{10000}-\u{10FFFF}]/gu;

function text(s: string): string {
  return s.replace(NOT_XML, '\uFFFD');
}

type Built = string | { [element: string]: Built | Built[] };

function convert(value: Exclude<XmlValue, null | undefined>, itemName: string, where: string): Built {
  if (typeof value === 'string') return text(value);
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`xml: ${where} is not a finite number`);
    return String(value);
  }
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) {
    const items = (value as readonly XmlValue[]).filter((v) => v !== undefined && v !== null)
      .map((v, i) => convert(v as Exclude<XmlValue, null | undefined>, itemName, `${where}[${i}]`));
    return items.length === 0 ? '' : { [itemName]: items };
  }
  return fields(value as XmlFields, itemName, where);
}

function fields(value: XmlFields, itemName: string, where: string): { [element: string]: Built } {
  const out: { [element: string]: Built } = {};
  for (const [name, v] of Object.entries(value)) {
    if (v === undefined || v === null) continue;
    if (!ELEMENT.test(name) || name === itemName) throw new TypeError(`xml: ${where}.${name} is not an element name`);
    out[name] = convert(v, itemName, `${where}.${name}`);
  }
  return out;
}

function document(root: string, namespace: string | null, body: { [element: string]: Built }): string {
  const element: { [key: string]: Built } = namespace === null ? body : { [`${ATTR}xmlns`]: namespace, ...body };
  return builder.build({ '?xml': { [`${ATTR}version`]: '1.0', [`${ATTR}encoding`]: 'UTF-8' }, [root]: element }) as string;
}

function rootName(action: string, suffix: string): string {
  if (!/^[A-Z][A-Za-z0-9]*$/.test(action)) throw new TypeError(`xml: '${action}' is not an action name`);
  return action + suffix;
}

/**
 * An EC2 answer: `<ActionResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>` then
 * the output's members by locationName (lowerCamel), lists as `<xSet><item>`. Actions without an
 * output answer `{ return: true }` (§1.2).
 */
export function ec2Response(action: string, requestId: string, output: XmlFields): string {
  return document(rootName(action, 'Response'), EC2_NAMESPACE, {
    requestId: text(requestId),
    ...fields(output, 'item', action),
  });
}

/** EC2's error body (§1.3): `<Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>` */
export function ec2Error(errors: Ec2ErrorItem | readonly Ec2ErrorItem[], requestId: string): string {
  const list = Array.isArray(errors) ? (errors as readonly Ec2ErrorItem[]) : [errors as Ec2ErrorItem];
  return document('Response', null, {
    Errors: { Error: list.map((e) => ({ Code: text(e.code), Message: text(e.message) })) },
    RequestID: text(requestId),
  });
}

/**
 * A query-protocol answer (ELBv2, STS; §1.4): `<ActionResponse xmlns=...><ActionResult>` with the
 * output's members (PascalCase), lists as `<member>`, then `<ResponseMetadata><RequestId>`.
 */
export function queryResponse(action: string, namespace: string, requestId: string, result: XmlFields = {}): string {
  return document(rootName(action, 'Response'), namespace, {
    [rootName(action, 'Result')]: fields(result, 'member', action),
    ResponseMetadata: { RequestId: text(requestId) },
  });
}

/** the query protocol's error body (§1.4): `<ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/></ErrorResponse>` */
export function queryError(namespace: string, error: QueryErrorItem, requestId: string): string {
  return document('ErrorResponse', namespace, {
    Error: { Type: error.type ?? 'Sender', Code: text(error.code), Message: text(error.message) },
    RequestId: text(requestId),
  });
}
