// PROXY protocol v2 headers (haproxy's proxy-protocol.txt, section 2.2) for TCP over IPv4, with
// the TLVs a backend behind a VPC endpoint reads. Addresses come as integers, as the data plane
// carries them from accept: nothing is parsed per connection.

const SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const VERSION_2_PROXY = 0x21;
const TCP_OVER_IPV4 = 0x11;

/** The TLV type that existing parsers read for a VPC endpoint id (AWS's PP2_TYPE_AWS), subtype 0x01. */
export const PP2_TYPE_VPCE = 0xea;
export const PP2_SUBTYPE_VPCE_ID = 0x01;
/** vpcep-sim's TLV for the endpoint's marker_id (the "Packet ID"): 4 bytes, big-endian. 0xE0-0xEF is the custom range. */
export const PP2_TYPE_MARKER_ID = 0xe1;

export interface ProxyHeaderFields {
  /** IPv4 addresses as unsigned 32-bit integers */
  readonly sourceIp: number;
  readonly sourcePort: number;
  readonly destinationIp: number;
  readonly destinationPort: number;
  readonly endpointId: string;
  readonly markerId: number;
}

/** Encodes a PROXY v2 header. Pure; allocates one buffer of the exact size. */
export function encodeProxyV2(f: ProxyHeaderFields): Buffer {
  const idLength = Buffer.byteLength(f.endpointId, 'ascii');
  const vpceTlv = 3 + 1 + idLength;
  const markerTlv = 3 + 4;
  const payload = 12 + vpceTlv + markerTlv;
  const b = Buffer.allocUnsafe(16 + payload);
  SIGNATURE.copy(b, 0);
  b[12] = VERSION_2_PROXY;
  b[13] = TCP_OVER_IPV4;
  b.writeUInt16BE(payload, 14);
  b.writeUInt32BE(f.sourceIp >>> 0, 16);
  b.writeUInt32BE(f.destinationIp >>> 0, 20);
  b.writeUInt16BE(f.sourcePort, 24);
  b.writeUInt16BE(f.destinationPort, 26);
  let o = 28;
  b[o] = PP2_TYPE_VPCE;
  b.writeUInt16BE(1 + idLength, o + 1);
  b[o + 3] = PP2_SUBTYPE_VPCE_ID;
  b.write(f.endpointId, o + 4, 'ascii');
  o += vpceTlv;
  b[o] = PP2_TYPE_MARKER_ID;
  b.writeUInt16BE(4, o + 1);
  b.writeUInt32BE(f.markerId >>> 0, o + 3);
  return b;
}
