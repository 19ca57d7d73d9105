// The response side of AWS's Query protocols (aws-ec2-api.md §1.2-1.4), written from plain values:
// objects are elements in key order, arrays are lists (`<item>` in EC2, `<member>` in the query
// protocol), an empty array an empty element (`<tagSet/>`: the SDKs read [] from it, and nothing
// from a missing one), undefined and null are left out. Every text and attribute is escaped here
// and nowhere else (& < > ' " as entities, CR as `&#13;`); characters XML 1.0 cannot carry become
// U+FFFD. The output is byte for byte what fast-xml-parser's XMLBuilder wrote before but for CR
// (test/unit/aws-xml.test.ts compares them), with less than half the builder's CPU on a
// 1,000-endpoint DescribeVpcEndpoints (README "The AWS API against moto").

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

const ELEMENT = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
// what XML 1.0 allows: tab, LF, CR, U+0020-U+D7FF, U+E000-U+FFFD, U+10000-U+10FFFF (lone surrogates are out)
const NOT_XML = /[^\t\n\r\u{20}-\u{D7FF}\u{E000}-\u{FFFD}\u{10000}-\u{10FFFF}]/gu;
/** a text that needs either: markup to escape, or a character XML 1.0 cannot carry */
const NEEDS_WORK = /[&<>'"\r]|[^\t\n\r\u{20}-\u{D7FF}\u{E000}-\u{FFFD}\u{10000}-\u{10FFFF}]/u;
// XML 1.0 §2.11: every parser reads a literal CR (and CR LF) as LF, so a tag key or a policy
// document with a CR would come back changed; a character reference is read back as CR
const MARKUP = /[&<>'"\r]/g;
const ENTITIES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', "'": '&apos;', '"': '&quot;', '\r': '&#13;' };
const DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>';

/** a text or attribute value as XML: markup escaped, what XML 1.0 cannot carry as U+FFFD; most texts (ids, states) need neither */
function text(s: string): string {
  if (!NEEDS_WORK.test(s)) return s;
  return s.replace(NOT_XML, '\uFFFD').replace(MARKUP, (c) => ENTITIES[c]!);
}

/** element names already checked: a response repeats the same few names thousands of times */
const checkedNames = new Set<string>();

function checkName(name: string, itemName: string, where: string): void {
  if (name === itemName || (!checkedNames.has(name) && !ELEMENT.test(name))) throw new TypeError(`xml: ${where}.${name} is not an element name`);
  if (checkedNames.size < 10_000) checkedNames.add(name);
}

/** a document being written: one string appended to (V8 keeps the appends as a rope, flattened once when sent) */
interface Out {
  s: string;
}

/** `<name>`, `</name>` and `<name/>` of each element name, made once: an answer repeats the same few names thousands of times */
const tags = new Map<string, { readonly open: string; readonly close: string; readonly empty: string }>();

function tagsOf(name: string): { readonly open: string; readonly close: string; readonly empty: string } {
  let t = tags.get(name);
  if (!t) {
    t = { open: `<${name}>`, close: `</${name}>`, empty: `<${name}/>` };
    if (tags.size < 10_000) tags.set(name, t);
  }
  return t;
}

/** true when nothing goes between the tags: an empty text, or a list or structure with nothing but undefined and null */
function isEmpty(value: Exclude<XmlValue, null | undefined>): boolean {
  if (typeof value === 'string') return value === '';
  if (typeof value !== 'object' || value instanceof Date) return false;
  if (Array.isArray(value)) {
    for (const v of value as readonly XmlValue[]) if (v !== undefined && v !== null) return false;
    return true;
  }
  for (const name in value) {
    const v = (value as XmlFields)[name];
    if (v !== undefined && v !== null) return false;
  }
  return true;
}

/** `<name>…</name>`, or `<name/>` when nothing goes between */
function element(out: Out, name: string, value: Exclude<XmlValue, null | undefined>, itemName: string, where: string): void {
  const t = tagsOf(name);
  if (isEmpty(value)) {
    out.s += t.empty;
    return;
  }
  out.s += t.open;
  content(out, value, itemName, where);
  out.s += t.close;
}

/** what goes between an element's tags: a value's text, a list's items, a structure's members */
function content(out: Out, value: Exclude<XmlValue, null | undefined>, itemName: string, where: string): void {
  switch (typeof value) {
    case 'string':
      out.s += text(value);
      return;
    case 'boolean':
      out.s += value ? 'true' : 'false';
      return;
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`xml: ${where} is not a finite number`);
      out.s += String(value);
      return;
    case 'bigint':
      out.s += value.toString();
      return;
    default:
  }
  if (value instanceof Date) {
    out.s += value.toISOString();
  } else if (Array.isArray(value)) {
    const list = value as readonly XmlValue[];
    for (let i = 0; i < list.length; i++) {
      const v = list[i];
      if (v !== undefined && v !== null) element(out, itemName, v, itemName, `${where}[${i}]`);
    }
  } else {
    fields(out, value as XmlFields, itemName, where);
  }
}

/** a structure's members in key order, undefined and null left out */
function fields(out: Out, value: XmlFields, itemName: string, where: string): void {
  for (const name of Object.keys(value)) {
    const v = value[name];
    if (v === undefined || v === null) continue;
    checkName(name, itemName, where);
    element(out, name, v, itemName, `${where}.${name}`);
  }
}

/** the declaration and the root element, its body written by `body` */
function document(root: string, namespace: string | null, body: (out: Out) => void): string {
  const open = namespace === null ? root : `${root} xmlns="${text(namespace)}"`;
  const out: Out = { s: '' };
  body(out);
  return out.s === '' ? `${DECLARATION}<${open}/>` : `${DECLARATION}<${open}>${out.s}</${root}>`;
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
  return document(rootName(action, 'Response'), EC2_NAMESPACE, (out) => {
    element(out, 'requestId', requestId, 'item', 'requestId');
    fields(out, output, 'item', action);
  });
}

/** EC2's error body (§1.3): `<Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>` */
export function ec2Error(errors: Ec2ErrorItem | readonly Ec2ErrorItem[], requestId: string): string {
  const list = Array.isArray(errors) ? (errors as readonly Ec2ErrorItem[]) : [errors as Ec2ErrorItem];
  return document('Response', null, (out) => {
    element(out, 'Errors', list.map((e) => ({ Code: e.code, Message: e.message })), 'Error', 'Errors');
    element(out, 'RequestID', requestId, 'item', 'RequestID');
  });
}

/**
 * A query-protocol answer (ELBv2, STS; §1.4): `<ActionResponse xmlns=...><ActionResult>` with the
 * output's members (PascalCase), lists as `<member>`, then `<ResponseMetadata><RequestId>`.
 */
export function queryResponse(action: string, namespace: string, requestId: string, result: XmlFields = {}): string {
  return document(rootName(action, 'Response'), namespace, (out) => {
    element(out, rootName(action, 'Result'), result, 'member', action);
    element(out, 'ResponseMetadata', { RequestId: requestId }, 'member', 'ResponseMetadata');
  });
}

/** the query protocol's error body (§1.4): `<ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/></ErrorResponse>` */
export function queryError(namespace: string, error: QueryErrorItem, requestId: string): string {
  return document('ErrorResponse', namespace, (out) => {
    element(out, 'Error', { Type: error.type ?? 'Sender', Code: error.code, Message: error.message }, 'member', 'Error');
    element(out, 'RequestId', requestId, 'item', 'RequestId');
  });
}
