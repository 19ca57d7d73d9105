// The request side of AWS's two Query protocols (aws-ec2-api.md §1.1): a form-encoded body of
// `POST /` (or the query string of a GET) read into nested structures and lists.
//   ec2:   lists as `Name.N` (`SubnetId.1`, `Filter.1.Value.2`, `TagSpecification.1.Tag.1.Key`)
//   query: lists as `Name.member.N` (ELBv2, STS: `Subnets.member.1`, `Attributes.member.1.Key`)
// Both read into the same shape: the `member` step of `query` is dropped, so one reader serves
// both. Indices are 1-based; lists come out in index order (gaps closed up). Everything malformed
// throws QueryParseError, never anything else.

export type QueryProtocol = 'ec2' | 'query';

export type QueryValue = string | QueryList | QueryStruct;
export type QueryList = readonly QueryValue[];
/** a structure: a null-prototype object, so that no name reaches Object.prototype */
export interface QueryStruct {
  readonly [name: string]: QueryValue | undefined;
}

export interface QueryLimits {
  /** name=value pairs in one request */
  readonly maxParams: number;
  /** dot-separated steps in one name (`Filter.1.Value.2` is 4; `member` counts) */
  readonly maxDepth: number;
  /** the highest list index (`SubnetId.1000`) */
  readonly maxListIndex: number;
  /** characters in one name */
  readonly maxNameLength: number;
}

export const QUERY_LIMITS: QueryLimits = Object.freeze({
  maxParams: 5_000,
  maxDepth: 8,
  maxListIndex: 1_000,
  maxNameLength: 256,
});

export type QueryErrorCode = 'InvalidParameterValue' | 'MissingParameter' | 'UnknownParameter';

/** a client's mistake in the parameters: HTTP 400 with `code` in either protocol's error shape */
export class QueryParseError extends Error {
  override readonly name = 'QueryParseError';
  readonly status = 400;
  constructor(
    readonly code: QueryErrorCode,
    message: string,
    /** the parameter's wire name, when one is to blame */
    readonly parameter?: string,
  ) {
    super(message);
  }
}

const NAME = /^[A-Za-z][A-Za-z0-9_-]*$/;
const INDEX = /^[1-9][0-9]{0,6}$/;

/** the parse tree before lists are put in order */
type Node = { kind: 'value'; value: string } | { kind: 'struct'; fields: Map<string, Node> } | { kind: 'list'; items: Map<number, Node> };

function invalid(message: string, parameter?: string): QueryParseError {
  return new QueryParseError('InvalidParameterValue', message, parameter);
}

/**
 * characters XML 1.0 cannot carry (the C0 controls but tab, line feed and carriage return; U+FFFE,
 * U+FFFF): an answer would show another value than the one stored (a tag key read back could not
 * be deleted by its name)
 */
const NOT_XML = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/;

function decode(text: string, what: string): string {
  // most names and values hold neither: the regular expression and the decoder cost most of a parse
  let out = text;
  if (text.indexOf('%') >= 0 || text.indexOf('+') >= 0) {
    try {
      out = decodeURIComponent(text.replace(/\+/g, ' '));
    } catch {
      throw invalid(`${what} holds an invalid percent-escape`);
    }
  }
  if (NOT_XML.test(out)) throw invalid(`${what} holds a control character (or U+FFFE, U+FFFF), which AWS's XML answers cannot carry`);
  return out;
}

function kindName(n: Node): string {
  return n.kind === 'value' ? 'a value' : n.kind === 'struct' ? 'a structure' : 'a list';
}

/** the steps of one name: strings are member names, numbers list indices (`member` dropped) */
function steps(name: string, protocol: QueryProtocol, limits: QueryLimits): (string | number)[] {
  const parts = name.split('.');
  if (parts.length > limits.maxDepth) throw invalid(`parameter ${name} is nested deeper than ${limits.maxDepth} levels`, name);
  const out: (string | number)[] = [];
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if (protocol === 'query' && p === 'member') {
      if (i === 0 || !INDEX.test(parts[i + 1] ?? '')) throw invalid(`parameter ${name}: 'member' must sit between a name and an index`, name);
    } else if (NAME.test(p)) {
      out.push(p);
    } else if (INDEX.test(p)) {
      if (i === 0) throw invalid(`parameter ${name} must start with a name`, name);
      const n = Number(p);
      if (n > limits.maxListIndex) throw invalid(`parameter ${name}: list index ${n} is above ${limits.maxListIndex}`, name);
      out.push(n);
    } else {
      throw invalid(`parameter name ${JSON.stringify(name)} is malformed`, name);
    }
  }
  return out;
}

function child(parent: Node, step: string | number, next: 'value' | 'struct' | 'list', name: string): Node {
  let map: Map<string | number, Node>;
  if (typeof step === 'number') {
    if (parent.kind !== 'list') throw invalid(`parameter ${name} uses an index where ${kindName(parent)} was given`, name);
    map = parent.items;
  } else {
    if (parent.kind !== 'struct') throw invalid(`parameter ${name} uses a member name where ${kindName(parent)} was given`, name);
    map = parent.fields;
  }
  const existing = map.get(step);
  if (existing !== undefined) {
    if (next === 'value') throw invalid(existing.kind === 'value' ? `parameter ${name} is given twice` : `parameter ${name} is given both as a value and as ${kindName(existing)}`, name);
    if (existing.kind === 'value') throw invalid(`parameter ${name} is given both as a value and as ${next === 'list' ? 'a list' : 'a structure'}`, name);
    return existing;
  }
  const node: Node = next === 'value' ? { kind: 'value', value: '' } : next === 'list' ? { kind: 'list', items: new Map() } : { kind: 'struct', fields: new Map() };
  map.set(step, node);
  return node;
}

function freeze(node: Node): QueryValue {
  if (node.kind === 'value') return node.value;
  if (node.kind === 'list') {
    return [...node.items.entries()].sort((a, b) => a[0] - b[0]).map(([, n]) => freeze(n));
  }
  const out: Record<string, QueryValue> = Object.create(null);
  for (const [k, n] of node.fields) out[k] = freeze(n);
  return out;
}

/**
 * Reads a form-encoded body or a query string (`+` is a space) into nested structures.
 * `X-Amz-*` parameters (a presigned request's signature) are left out.
 */
export function parseQuery(raw: string, protocol: QueryProtocol, limits: QueryLimits = QUERY_LIMITS): QueryStruct {
  let count = 0;
  for (let i = raw.indexOf('&'); i >= 0; i = raw.indexOf('&', i + 1)) {
    if (++count >= limits.maxParams) throw invalid(`more than ${limits.maxParams} parameters`);
  }
  const root: Node = { kind: 'struct', fields: new Map() };
  for (const piece of raw.split('&')) {
    if (piece === '') continue;
    const eq = piece.indexOf('=');
    const name = decode(eq < 0 ? piece : piece.slice(0, eq), 'a parameter name');
    // before any message quotes the name
    if (name.length > limits.maxNameLength) throw invalid(`parameter name longer than ${limits.maxNameLength} characters`, name.slice(0, 64));
    const value = eq < 0 ? '' : decode(piece.slice(eq + 1), `parameter ${name}`);
    if (name.startsWith('X-Amz-')) continue;
    const path = steps(name, protocol, limits);
    let node: Node = root;
    for (let i = 0; i < path.length; i++) {
      const next = i === path.length - 1 ? 'value' : typeof path[i + 1] === 'number' ? 'list' : 'struct';
      node = child(node, path[i]!, next, name);
    }
    if (node.kind === 'value') node.value = value;
  }
  return freeze(root) as QueryStruct;
}

/** one filter of EC2's `Filter.N.Name` / `Filter.N.Value.M` */
export interface QueryFilter {
  readonly name: string;
  readonly values: readonly string[];
}

export interface QueryTag {
  readonly key: string;
  readonly value: string;
}

/** one of EC2's `TagSpecification.N` */
export interface QueryTagSpecification {
  readonly resourceType: string;
  readonly tags: readonly QueryTag[];
}

export interface IntOptions {
  readonly min?: number;
  readonly max?: number;
}

/**
 * Typed reads of a parsed request. Names are dotted paths of member names (`DnsOptions.DnsRecordIpType`);
 * errors name the parameter as the client spelled it.
 */
export class QueryParams {
  constructor(
    readonly root: QueryStruct,
    readonly protocol: QueryProtocol,
    /** the wire name of this structure inside the request ('' at the top) */
    private readonly prefix = '',
  ) {}

  static parse(raw: string, protocol: QueryProtocol, limits?: QueryLimits): QueryParams {
    return new QueryParams(parseQuery(raw, protocol, limits), protocol);
  }

  get action(): string {
    return this.requiredString('Action');
  }

  /** the wire name of a member of this structure */
  wireName(name: string, index?: number): string {
    const base = this.prefix ? `${this.prefix}.${name}` : name;
    return index === undefined ? base : `${base}.${this.protocol === 'query' ? 'member.' : ''}${index}`;
  }

  has(name: string): boolean {
    return this.raw(name) !== undefined;
  }

  /** the value at a dotted path, whatever its kind */
  raw(name: string): QueryValue | undefined {
    let v: QueryValue | undefined = this.root;
    for (const step of name.split('.')) {
      if (v === undefined || typeof v === 'string' || Array.isArray(v)) return undefined;
      v = (v as QueryStruct)[step];
    }
    return v;
  }

  string(name: string): string | undefined {
    const v = this.raw(name);
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw invalid(`${this.wireName(name)} must be a single value`, this.wireName(name));
    return v;
  }

  requiredString(name: string): string {
    const v = this.string(name);
    if (v === undefined || v === '') throw new QueryParseError('MissingParameter', `The request must contain the parameter ${this.wireName(name)}`, this.wireName(name));
    return v;
  }

  int(name: string, options: IntOptions = {}): number | undefined {
    const v = this.string(name);
    if (v === undefined) return undefined;
    const n = /^-?\d{1,16}$/.test(v) ? Number(v) : NaN;
    const { min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER } = options;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      throw invalid(`Value (${v.slice(0, 40)}) for parameter ${this.wireName(name)} is invalid. Expected an integer from ${min} to ${max}.`, this.wireName(name));
    }
    return n;
  }

  bool(name: string): boolean | undefined {
    const v = this.string(name);
    if (v === undefined) return undefined;
    const lower = v.toLowerCase();
    if (lower === 'true') return true;
    if (lower === 'false') return false;
    throw invalid(`Value (${v.slice(0, 40)}) for parameter ${this.wireName(name)} is invalid. Expected: 'true' or 'false'.`, this.wireName(name));
  }

  private list(name: string): QueryList {
    const v = this.raw(name);
    if (v === undefined) return [];
    if (!Array.isArray(v)) {
      throw invalid(`${this.wireName(name)} must be a list (${this.wireName(name, 1)}, ${this.wireName(name, 2)}, ...)`, this.wireName(name));
    }
    return v;
  }

  /** `SubnetId.N` (ec2) or `Subnets.member.N` (query); [] when absent */
  stringList(name: string): string[] {
    return this.list(name).map((v, i) => {
      if (typeof v !== 'string') throw invalid(`${this.wireName(name, i + 1)} must be a single value`, this.wireName(name, i + 1));
      return v;
    });
  }

  /** a list of structures, each read with its own QueryParams (`Targets.member.N.Id`) */
  structList(name: string): QueryParams[] {
    return this.list(name).map((v, i) => {
      const wire = this.wireName(name, i + 1);
      if (typeof v === 'string' || Array.isArray(v)) throw invalid(`${wire} must be a structure (${wire}.Name=...)`, wire);
      return new QueryParams(v as QueryStruct, this.protocol, wire);
    });
  }

  /** a structure member (`DnsOptions`); undefined when absent */
  struct(name: string): QueryParams | undefined {
    const v = this.raw(name);
    if (v === undefined) return undefined;
    if (typeof v === 'string' || Array.isArray(v)) throw invalid(`${this.wireName(name)} must be a structure`, this.wireName(name));
    return new QueryParams(v as QueryStruct, this.protocol, this.wireName(name));
  }

  /** EC2's `Filter.N.Name` + `Filter.N.Value.M` */
  filters(name = 'Filter'): QueryFilter[] {
    return this.structList(name).map((f) => ({ name: f.requiredString('Name'), values: f.stringList('Value') }));
  }

  /** `Tag.N.Key`/`Tag.N.Value` (ec2) or `Tags.member.N.Key`/`.Value` (query) */
  tags(name: string): QueryTag[] {
    return this.structList(name).map((t) => ({ key: t.requiredString('Key'), value: t.string('Value') ?? '' }));
  }

  /** EC2's `TagSpecification.N.ResourceType` + `TagSpecification.N.Tag.M.Key/Value` */
  tagSpecifications(name = 'TagSpecification'): QueryTagSpecification[] {
    return this.structList(name).map((s) => ({ resourceType: s.requiredString('ResourceType'), tags: s.tags('Tag') }));
  }
}
