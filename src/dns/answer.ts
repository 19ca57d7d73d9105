// One DNS query in, its answer out (RFC 1035 4.1), without sockets. The question is read with
// dns-packet (names, labels, pointers, the 255-byte limit) and echoed byte for byte; the answers
// point at it (0xc00c), so that an answer keeps the client's letter case and stays small. The name
// is looked up by its labels' bytes (nameKey), A-Z in any case.
//   a name of the view, type A or ANY: its addresses (TXT or ANY: the public zone's TXT records);
//     another type: NOERROR with no answer (NODATA),
//     which resolvers take as "the name exists, not with that type" (Node: ENODATA, dig: NOERROR)
//   the apex of a zone of ours or of a private zone of the view (a private DNS name's, a wildcard's
//     parent), or a name of ours with names below it in the view: NODATA (the apex answers its SOA
//     to SOA and ANY)
//   a name no view of ours has: NXDOMAIN (authoritative under our zones, and under the view's
//     private zones, as under Route 53's private hosted zones), or forwarded (dns.forward)
//   an authoritative answer without records (NODATA, NXDOMAIN) carries its zone's SOA in the
//     authority section, whose TTL and minimum (dns.ttl) say how long to cache it (RFC 2308 3, 5)
//   not a query (opcode other than QUERY; with the question and OPT when it reads as a query),
//     or a zone transfer (AXFR, IXFR): NOTIMP; a class other
//     than IN or ANY: REFUSED
//   EDNS (RFC 6891 6.1.1, 6.1.3): more than one OPT record, or one whose owner is not the root:
//     FORMERR; a version above 0: BADVERS (extended rcode 16), with our OPT of version 0; the
//     query's DO bit copied into our OPT (RFC 3225 3), its CD bit into the header (RFC 4035 3.1.6)
//   anything unreadable (a name pointing into the header too): FORMERR; fewer than 12 bytes, or a
//     response: no answer at all
import dnsPacket from 'dns-packet';
import type { DnsNameKind } from '../model/dns-names.js';
import type { NameIndex } from './views.js';

/** dns-packet's codecs of one name and one record (exported by the library, absent from @types/dns-packet) */
interface Codec<T> {
  decode: ((buf: Buffer, offset: number) => T) & { bytes: number };
}
interface SoaData { mname: string; rname: string; serial: number; refresh: number; retry: number; expire: number; minimum: number }
const codecs = dnsPacket as unknown as {
  name: Codec<string>;
  answer: Codec<{ name: string; type: string; udpPayloadSize?: number; ednsVersion?: number; flag_do?: boolean }>;
  /** the data length and data of an SOA record */
  soa: { encode: (data: SoaData, buf: Buffer, offset: number) => Buffer; encodingLength: (data: SoaData) => number };
};

/** the rcodes we answer; BADVERS (16) is an extended rcode: its upper 8 bits go in the OPT record */
export const RCODES = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5, BADVERS: 16 } as const;
export type Rcode = keyof typeof RCODES;
const RCODE_OF = new Map<number, Rcode>(Object.entries(RCODES).map(([name, n]) => [n, name as Rcode]));

/** what the metrics count a query as besides its view: the kind of name asked, or why none */
export type QueryKind = DnsNameKind | 'unknown' | 'forwarded' | 'malformed';

const QR = 0x8000;
const AA = 1 << 10;
const TC = 1 << 9;
const RD = 1 << 8;
const RA = 1 << 7;
const CD = 1 << 4;
const TYPE_A = 1;
const TYPE_SOA = 6;
const TYPE_TXT = 16;
const NONE: readonly string[] = [];
const TYPE_OPT = 41;
const TYPE_ANY = 255;
const TYPE_IXFR = 251;
const TYPE_AXFR = 252;
const HEADER = 12;
/** RFC 1035 4.2.1: a UDP answer without EDNS */
export const UDP_PLAIN_LIMIT = 512;
/** RFC 1035 4.2.2: a message over TCP is framed by a 2-byte length */
const TCP_LIMIT = 0xffff;
/** the EDNS buffer size we announce and honour at most (the DNS flag day 2020 figure) */
const EDNS_UDP_SIZE = 1232;
/** our zones' SOA but the serial and the minimum (the negative TTL): names of no host, in a domain reserved for that (RFC 6761 6.4) */
const SOA_FIELDS = { mname: 'ns.vpcep-sim.invalid', rname: 'hostmaster.vpcep-sim.invalid', refresh: 3600, retry: 600, expire: 86_400 } as const;

/** what our OPT record says besides our buffer size */
interface Opt {
  readonly extendedRcode: number;
  readonly dnssecOk: boolean;
}
/** RFC 3225 3: the DO bit of the query is copied into the response */
const DNSSEC_OK = 1 << 15;

/** an SOA record to send: its owner (where the zone's apex begins in the question) and the section it goes in */
interface Soa {
  readonly owner: number;
  readonly authority: boolean;
  readonly data: SoaData;
}

export interface Decided {
  /** the answer's bytes, or null: nothing is sent (too short to carry an id, or not a query) */
  readonly reply: Buffer | null;
  readonly kind: QueryKind;
  readonly rcode: Rcode;
  /** whether the client's view was a VPC's */
  readonly vpc: boolean;
}

/** a query to pass to the host's resolvers: answer() leaves it undecided */
export interface ForwardRequest {
  readonly forward: true;
  readonly vpc: boolean;
}

export interface AnswerOptions {
  readonly ttlS: number;
  readonly forward: boolean;
  /** UDP: answers longer than the client's limit are truncated (TC), for it to retry over TCP; over TCP, answers over 65,535 bytes */
  readonly udp: boolean;
}

export function answer(query: Buffer, clientHost: string, index: NameIndex, o: AnswerOptions): Decided | ForwardRequest {
  const vpcNumber = index.viewOf(clientHost);
  const vpc = vpcNumber !== null;
  if (query.length < HEADER) return { reply: null, kind: 'malformed', rcode: 'FORMERR', vpc };
  const id = query.readUInt16BE(0);
  const flags = query.readUInt16BE(2);
  if (flags & QR) return { reply: null, kind: 'malformed', rcode: 'FORMERR', vpc };
  const opcode = (flags >> 11) & 0xf;
  const base = (flags & (0xf << 11)) | (flags & (RD | CD)) | (o.forward ? RA : 0);
  // another opcode than QUERY: NOTIMP, with the question and our OPT when it reads as a query (RFC
  // 6891 6.1.1: an OPT answers an OPT; without it dig took the server for one without EDNS), else bare
  const unread = opcode !== 0 ? 'NOTIMP' : 'FORMERR';
  const fail = (): Decided => ({ reply: header(id, base | RCODES[unread], null, 0), kind: 'malformed', rcode: unread, vpc });
  // one question, no answer; an authority record only as IXFR's (RFC 1995 3: the client's SOA), read below
  const authorities = query.readUInt16BE(8);
  if (query.readUInt16BE(4) !== 1 || query.readUInt16BE(6) !== 0 || authorities > 1) return fail();

  let qtype: number;
  let qclass: number;
  let qEnd: number;
  let udpLimit = UDP_PLAIN_LIMIT;
  let edns = false;
  let ednsVersion = 0;
  let dnssecOk = false;
  try {
    codecs.name.decode(query, HEADER);
    qEnd = HEADER + codecs.name.decode.bytes;
    if (pointsIntoHeader(query)) return fail();
    if (qEnd + 4 > query.length) return fail();
    qtype = query.readUInt16BE(qEnd);
    qclass = query.readUInt16BE(qEnd + 2);
    qEnd += 4;
    let at = qEnd;
    if (authorities === 1) {
      if (qtype !== TYPE_IXFR) return fail();
      at = recordData(query, at).end;
      if (at > query.length) return fail();
    }
    for (let n = query.readUInt16BE(10); n > 0; n--) {
      const rr = codecs.answer.decode(query, at);
      // where the record ends by its own data length: dns-packet reads an A record's 4 bytes and
      // an OPT record's options whatever that length says, and a record running past the message,
      // or an option past its record, was answered as if well formed
      const data = recordData(query, at);
      if (data.end > query.length) return fail();
      at = data.end;
      if (rr.type === 'OPT') {
        if (edns || rr.name !== '.' || !optionsFit(query, data.at, data.end)) return fail();
        edns = true;
        ednsVersion = rr.ednsVersion ?? 0;
        dnssecOk = rr.flag_do === true;
        udpLimit = Math.min(EDNS_UDP_SIZE, Math.max(UDP_PLAIN_LIMIT, rr.udpPayloadSize ?? UDP_PLAIN_LIMIT));
      }
    }
    // bytes after the last record the header counts: no record of the query, so not read, and the
    // query was answered as if it ended there; BIND answers such trailing garbage FORMERR too
    if (at !== query.length) return fail();
  } catch {
    return fail();
  }
  const question = query.subarray(HEADER, qEnd);
  /** zone: the apex of the zone answering with authority, for its SOA: in the answer to SOA or ANY at the apex, in the authority section of an answer without records */
  const respond = (rcode: Rcode, kind: QueryKind, addresses: readonly string[], zone: string | null, texts: readonly string[] = NONE, atApex = false): Decided => {
    const f = base | (zone !== null ? AA : 0) | (RCODES[rcode] & 0xf);
    const opt = edns ? { extendedRcode: RCODES[rcode] >> 4, dnssecOk } : null;
    const inAnswer = atApex && (qtype === TYPE_SOA || qtype === TYPE_ANY);
    const soa = zone !== null && (inAnswer || addresses.length + texts.length === 0)
      ? { owner: zoneOffset(query, zone), authority: !inAnswer, data: { ...SOA_FIELDS, serial: index.serialOf(vpcNumber), minimum: o.ttlS } }
      : null;
    let reply = build(id, f, question, addresses, o.ttlS, opt, texts, soa);
    // over TCP too: an answer that cannot be framed is sent truncated, with no records
    if (reply.length > (o.udp ? udpLimit : TCP_LIMIT)) reply = build(id, f | TC, question, NONE, o.ttlS, opt, NONE, null);
    return { reply, kind, rcode, vpc };
  };
  if (ednsVersion > 0) return respond('BADVERS', 'malformed', NONE, null);
  if (opcode !== 0) return respond('NOTIMP', 'malformed', NONE, null);
  if (qclass !== 1 && qclass !== 255) return respond('REFUSED', 'unknown', NONE, null);
  // no zone transfers: the names are the views' (per client address), not a zone's file
  if (qtype === TYPE_AXFR || qtype === TYPE_IXFR) return respond('NOTIMP', 'unknown', NONE, null);

  const key = nameKey(query, HEADER);
  const found = index.lookup(key, vpcNumber, clientHost);
  if (found) {
    const texts = (qtype === TYPE_TXT || qtype === TYPE_ANY) && found.texts ? found.texts : NONE;
    // a private DNS name or a public record is the apex of its own zone: SOA and ANY there answer its SOA
    return respond('NOERROR', found.kind, qtype === TYPE_A || qtype === TYPE_ANY ? found.addresses : NONE, found.zone, texts, key === found.zone);
  }
  const zone = index.authorityOf(key, vpcNumber);
  if (zone !== null && index.exists(key, vpcNumber)) return respond('NOERROR', 'unknown', NONE, zone, NONE, key === zone);
  if (!index.served(key, vpcNumber) && o.forward) return { forward: true, vpc };
  // a name above one we answer exists: NODATA, not NXDOMAIN, which says no name below exists (RFC 8020); not ours, so no SOA
  if (zone === null && index.hasBelow(key, vpcNumber)) return respond('NOERROR', 'unknown', NONE, null);
  return respond('NXDOMAIN', 'unknown', NONE, zone);
}

/**
 * Whether the question's name (read by dns-packet: its pointers go back) has a compression
 * pointer into the header: not a prior occurrence of a name (RFC 1035 4.1.4), and the question is
 * echoed after our header, where it would point at our flags (a reply no client could read).
 * A pointer into the question itself stays true in the echo, which starts at the same offset.
 */
function pointsIntoHeader(b: Buffer): boolean {
  for (let at = HEADER, len = b[at]!; len !== 0; len = b[at]!) {
    if (len < 0xc0) {
      at += 1 + len;
      continue;
    }
    at = b.readUInt16BE(at) & 0x3fff;
    if (at < HEADER) return true;
  }
  return false;
}

/** where, in the question at HEADER, the suffix that is `zone` begins (the question's name ends with it) */
function zoneOffset(b: Buffer, zone: string): number {
  const starts: number[] = [];
  for (let at = HEADER; b[at] !== 0;) {
    if (b[at]! >= 0xc0) { at = b.readUInt16BE(at) & 0x3fff; continue; }
    starts.push(at);
    at += 1 + b[at]!;
  }
  return starts[starts.length - zone.split('.').length]!;
}

/** where the data of the record at `start` (its name read whole) begins and ends, by its data length */
function recordData(b: Buffer, start: number): { at: number; end: number } {
  codecs.name.decode(b, start);
  // the owner name, then type, class, TTL and data length
  const at = start + codecs.name.decode.bytes + 10;
  return { at, end: at + b.readUInt16BE(at - 2) };
}

/** whether an OPT record's options fill its data exactly, each a code, a length and that many bytes (RFC 6891 6.1.2) */
function optionsFit(b: Buffer, dataAt: number, end: number): boolean {
  for (let at = dataAt; at < end; ) {
    if (at + 4 > end) return false;
    at += 4 + b.readUInt16BE(at + 2);
    if (at > end) return false;
  }
  return true;
}

/** the bytes a label may hold as they are in a name's key: printable ASCII but the dot and the backslash */
const PLAIN_LABEL = /^[\x21-\x2d\x2f-\x5b\x5d-\x7e]*$/;

/**
 * the key of the name at `offset` (read whole by dns-packet first: its pointers only go back, so
 * the walk ends): its labels joined by dots, A-Z in lower case (RFC 4343), any other byte outside
 * printable ASCII, a dot or a backslash inside a label written \DDD (RFC 1035 5.1). dns-packet's
 * own string would not do: it joins the labels with dots, so one label `a.vpce.amazonaws.com`
 * read as the name of four and got its answer, and it reads labels as UTF-8, whose lower case
 * folds U+212A (the Kelvin sign) onto `k`. No name of ours holds a backslash, so such a name
 * answers nothing, and is still under our zones when its last labels are.
 */
function nameKey(b: Buffer, offset: number): string {
  let key = '';
  let at = offset;
  for (let len = b[at]!; len !== 0; len = b[at]!) {
    if (len >= 0xc0) {
      at = b.readUInt16BE(at) & 0x3fff;
      continue;
    }
    const label = b.toString('latin1', at + 1, at + 1 + len);
    let text = '';
    if (PLAIN_LABEL.test(label)) text = label.toLowerCase();
    else for (let i = 0; i < len; i++) text += escaped(b[at + 1 + i]!);
    key += key ? `.${text}` : text;
    at += 1 + len;
  }
  return key || '.';
}

function escaped(c: number): string {
  if (c >= 0x41 && c <= 0x5a) return String.fromCharCode(c + 0x20);
  return PLAIN_LABEL.test(String.fromCharCode(c)) ? String.fromCharCode(c) : `\\${String(c).padStart(3, '0')}`;
}

/** a reply that carries no question (FORMERR, NOTIMP of a query we could not read) */
function header(id: number, flags: number, question: Buffer | null, answers: number): Buffer {
  const b = Buffer.allocUnsafe(HEADER);
  b.writeUInt16BE(id, 0);
  b.writeUInt16BE(QR | flags, 2);
  b.writeUInt16BE(question ? 1 : 0, 4);
  b.writeUInt16BE(answers, 6);
  b.writeUInt32BE(0, 8);
  return b;
}

/** OPT: null without EDNS, else what our OPT record carries: the extended rcode's upper 8 bits, and the query's DO bit */
function build(
  id: number, flags: number, question: Buffer, addresses: readonly string[], ttlS: number, opt: Opt | null, texts: readonly string[], soa: Soa | null,
): Buffer {
  const edns = opt !== null;
  let textBytes = 0;
  for (const t of texts) textBytes += 13 + Buffer.byteLength(t);
  // its owner (a pointer), type, class, TTL, then the data length and data dns-packet writes
  const soaBytes = soa ? 10 + codecs.soa.encodingLength(soa.data) : 0;
  const b = Buffer.allocUnsafe(HEADER + question.length + addresses.length * 16 + textBytes + soaBytes + (edns ? 11 : 0));
  b.writeUInt16BE(id, 0);
  b.writeUInt16BE(QR | flags, 2);
  b.writeUInt16BE(1, 4);
  b.writeUInt16BE(addresses.length + texts.length + (soa && !soa.authority ? 1 : 0), 6);
  b.writeUInt16BE(soa?.authority ? 1 : 0, 8);
  b.writeUInt16BE(edns ? 1 : 0, 10);
  question.copy(b, HEADER);
  let at = HEADER + question.length;
  for (const a of addresses) {
    at = recordHead(b, at, TYPE_A, ttlS, 4);
    for (const part of a.split('.')) b[at++] = Number(part);
  }
  for (const t of texts) {
    // one character-string per record (the public zone keeps values of 255 bytes at most)
    const len = Buffer.byteLength(t);
    at = recordHead(b, at, TYPE_TXT, ttlS, len + 1);
    b[at++] = len;
    at += b.write(t, at);
  }
  if (soa) {
    at = recordHead(b, at, TYPE_SOA, soa.data.minimum, 0, soa.owner) - 2;
    codecs.soa.encode(soa.data, b, at);
    at += codecs.soa.encodingLength(soa.data);
  }
  if (edns) {
    b[at] = 0; // the root name
    b.writeUInt16BE(TYPE_OPT, at + 1);
    b.writeUInt16BE(EDNS_UDP_SIZE, at + 3);
    b.writeUInt32BE(opt.extendedRcode * 2 ** 24 + (opt.dnssecOk ? DNSSEC_OK : 0), at + 5); // extended rcode, version 0, flags
    b.writeUInt16BE(0, at + 9);
  }
  return b;
}

/** a record's name (a pointer to the question's, or to its suffix at `owner`), type, class IN, TTL and data length; returns where its data goes */
function recordHead(b: Buffer, at: number, type: number, ttlS: number, dataLength: number, owner = HEADER): number {
  b.writeUInt16BE(0xc000 | owner, at);
  b.writeUInt16BE(type, at + 2);
  b.writeUInt16BE(1, at + 4);
  b.writeUInt32BE(ttlS, at + 6);
  b.writeUInt16BE(dataLength, at + 10);
  return at + 12;
}

/** the rcode of a reply's header (for forwarded answers' metrics) */
export function rcodeOf(reply: Buffer): Rcode {
  return reply.length >= HEADER ? RCODE_OF.get(reply[3]! & 0xf) ?? 'SERVFAIL' : 'SERVFAIL';
}

/** SERVFAIL for a query we could not forward (its header and question, as read) */
export function servfail(query: Buffer): Buffer {
  const id = query.readUInt16BE(0);
  const flags = (query.readUInt16BE(2) & ((0xf << 11) | RD | CD)) | RA | RCODES.SERVFAIL;
  // the question, and our own OPT record when the query had one (RFC 6891 6.1.1): not the query's
  // sections copied, whose OPT carried the client's buffer size and options (a cookie, a subnet) back
  try {
    if (query.readUInt16BE(4) !== 1) return header(id, flags, null, 0);
    codecs.name.decode(query, HEADER);
    const qEnd = HEADER + codecs.name.decode.bytes + 4;
    if (qEnd > query.length) return header(id, flags, null, 0);
    let at = qEnd;
    for (let n = query.readUInt16BE(8); n > 0; n--) at = recordData(query, at).end;
    let opt: Opt | null = null;
    for (let n = query.readUInt16BE(10); n > 0 && at < query.length; n--) {
      const rr = codecs.answer.decode(query, at);
      if (rr.type === 'OPT') opt = { extendedRcode: 0, dnssecOk: rr.flag_do === true };
      at = recordData(query, at).end;
    }
    return build(id, flags, query.subarray(HEADER, qEnd), NONE, 0, opt, NONE, null);
  } catch {
    return header(id, flags, null, 0);
  }
}
