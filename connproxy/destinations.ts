// Where the Connectors Proxy may connect for a host that is no Connector's address, when
// --other-hosts=tunnel lets it at all. Any caller with `get` on one Connector can name such a host,
// so without this the proxy is a pivot from its own network position: the cloud metadata endpoint,
// kube-apiserver, services on loopback, every Service and Pod of the cluster.
//
// The decision is made on addresses, never on names: a host is resolved once, refused if ANY of
// its addresses is refused, and the connection then goes to exactly the address that was checked,
// so a name that resolves differently a moment later (DNS rebinding) reaches nothing unchecked.
// IPv6 forms that carry an IPv4 address (mapped ::ffff:a.b.c.d, compatible ::a.b.c.d, NAT64
// 64:ff9b::a.b.c.d) are judged as that IPv4 address.

import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { serviceUnavailable, StatusError } from '../machinery/status.js';

/** An address as a number: 32 bits for IPv4, 128 for IPv6. */
export interface Ip {
  family: 4 | 6;
  value: bigint;
}

export interface Cidr extends Ip {
  bits: number;
}

/** An --allow-hosts entry: a range, and the one port it opens (any port when absent). */
export interface AllowEntry {
  cidr: Cidr;
  port?: number;
}

/** All addresses of a host name, in the resolver's order. */
export type Lookup = (host: string) => Promise<string[]>;

export const systemLookup: Lookup = async (host) =>
  (await lookup(host, { all: true, order: 'verbatim' })).map((a) => a.address);

const width = (family: 4 | 6): bigint => (family === 4 ? 32n : 128n);

function parseIpv4(text: string): bigint | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  let value = 0n;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return null;
    value = (value << 8n) | BigInt(p);
  }
  return value;
}

function parseIpv6(text: string): bigint | null {
  const zone = text.indexOf('%');
  let s = zone === -1 ? text : text.slice(0, zone);
  // A dotted IPv4 tail stands for the last two groups.
  const tail = s.slice(s.lastIndexOf(':') + 1);
  if (tail.includes('.')) {
    const v4 = parseIpv4(tail);
    if (v4 === null) return null;
    s = `${s.slice(0, s.length - tail.length)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const groups = (h: string | undefined): string[] => (h ? h.split(':') : []);
  const head = groups(halves[0]);
  const rest = groups(halves[1]);
  const missing = 8 - head.length - rest.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  let value = 0n;
  for (const g of [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...rest]) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
    value = (value << 16n) | BigInt(`0x${g}`);
  }
  return value;
}

const nat64 = 0x64ff9bn << 64n;

/** Parses an IP address; IPv6 forms that embed an IPv4 address become that IPv4 address. */
export function parseIp(text: string): Ip | null {
  const family = isIP(text);
  if (family === 4) {
    const value = parseIpv4(text);
    return value === null ? null : { family: 4, value };
  }
  if (family !== 6) return null;
  const value = parseIpv6(text);
  if (value === null) return null;
  const high = value >> 32n;
  const low = value & 0xffffffffn;
  // ::ffff:a.b.c.d (mapped; Linux connects it to the IPv4 address), ::a.b.c.d (the deprecated
  // compatible form; :: and ::1 themselves are IPv6's own), 64:ff9b::a.b.c.d (NAT64).
  if (high === 0xffffn || (high === 0n && value > 1n) || high === nat64) return { family: 4, value: low };
  return { family: 6, value };
}

/** Parses "a.b.c.d/n", "x::/n" or a single address (a /32 or /128). */
export function parseCidr(text: string): Cidr | null {
  const slash = text.indexOf('/');
  const addr = slash === -1 ? text : text.slice(0, slash);
  const family = isIP(addr);
  if (family !== 4 && family !== 6) return null;
  const ip = parseIp(addr);
  // A range written in an IPv4-embedding IPv6 form would never match (addresses are judged as
  // IPv4): it must be written as IPv4.
  if (!ip || ip.family !== family) return null;
  const max = Number(width(ip.family));
  const bits =
    slash === -1 ? max : /^\d{1,3}$/.test(text.slice(slash + 1)) ? Number(text.slice(slash + 1)) : -1;
  if (bits < 0 || bits > max) return null;
  const shift = width(ip.family) - BigInt(bits);
  return { family: ip.family, value: (ip.value >> shift) << shift, bits };
}

export function contains(cidr: Cidr, ip: Ip): boolean {
  if (cidr.family !== ip.family) return false;
  const shift = width(ip.family) - BigInt(cidr.bits);
  return ip.value >> shift === cidr.value >> shift;
}

/** Parses one --allow-hosts entry: a CIDR or address, optionally with ":port" ("[v6]:port"). */
export function parseAllowEntry(text: string): AllowEntry | null {
  const bracketed = /^\[([^\]]+)\]:(\d{1,5})$/.exec(text);
  const v4Port = /^([0-9./]+):(\d{1,5})$/.exec(text);
  const m = bracketed ?? v4Port;
  if (!m) {
    const cidr = parseCidr(text);
    return cidr && { cidr };
  }
  const cidr = parseCidr(m[1] ?? '');
  const port = Number(m[2]);
  if (!cidr || port < 1 || port > 65535) return null;
  return { cidr, port };
}

/** A range the proxy does not reach, and what it is, for the refusal's message. */
export interface DeniedRange {
  cidr: Cidr;
  what: string;
}

const builtIn = (list: string[], what: string): DeniedRange[] =>
  list.map((c) => ({ cidr: parseCidr(c) as Cidr, what }));

/** Refused whatever the cluster: reaching these from the proxy's position is never a tool call. */
export const alwaysDenied: readonly DeniedRange[] = [
  // AWS/GCP/Azure/OpenStack, AWS over IPv6, Alibaba Cloud.
  ...builtIn(['169.254.169.254', 'fd00:ec2::254', '100.100.100.200'], 'a cloud metadata endpoint'),
  ...builtIn(['127.0.0.0/8', '::1'], 'a loopback address'),
  ...builtIn(['169.254.0.0/16', 'fe80::/10'], 'a link-local address'),
  // Connecting to 0.0.0.0 or :: reaches this host itself.
  ...builtIn(['0.0.0.0/8', '::'], 'an unspecified address'),
];

export interface PolicyInputs {
  /** --service-cluster-ip-range. */
  serviceRanges: Cidr[];
  /** --cluster-cidr. */
  podRanges: Cidr[];
  /** --allow-hosts. */
  allow: AllowEntry[];
  /** kube-apiserver's addresses (its configured host, resolved). */
  apiServer: string[];
  /** This process's own interface addresses: a tunnel to itself would chain without end. */
  own: string[];
}

export class DestinationPolicy {
  private readonly denied: DeniedRange[];

  constructor(
    private readonly inputs: PolicyInputs,
    private readonly resolve: Lookup = systemLookup,
  ) {
    const single = (list: string[], what: string): DeniedRange[] =>
      list.flatMap((a) => {
        const cidr = parseCidr(a);
        return cidr ? [{ cidr, what }] : [];
      });
    // The most telling name first: kube-apiserver on loopback is refused as kube-apiserver.
    this.denied = [
      ...single(inputs.apiServer, "kube-apiserver's address"),
      ...alwaysDenied,
      ...single(inputs.own, "this proxy's own address"),
      ...inputs.serviceRanges.map((cidr) => ({
        cidr,
        what: `in the cluster's Service range (--service-cluster-ip-range)`,
      })),
      ...inputs.podRanges.map((cidr) => ({ cidr, what: `in the cluster's Pod range (--cluster-cidr)` })),
    ];
  }

  /** Why `address`:`port` is refused, or undefined when it may be reached. */
  refusal(address: string, port: number): string | undefined {
    const ip = parseIp(address);
    if (!ip) return 'not an IP address';
    if (this.inputs.allow.some((a) => contains(a.cidr, ip) && (a.port === undefined || a.port === port))) {
      return undefined;
    }
    return this.denied.find((d) => contains(d.cidr, ip))?.what;
  }

  /**
   * The one address to connect to for `host`:`port`: every address the host resolves to is
   * checked, and the first is returned. A 403 Status names the destination, why, and the flag that
   * would allow it; a name that does not resolve is a 503 with the resolver's code only.
   */
  async destination(host: string, port: number): Promise<string> {
    let addresses: string[];
    if (isIP(host)) addresses = [host];
    else {
      try {
        addresses = await this.resolve(host);
      } catch (err) {
        throw serviceUnavailable(`${host}:${port} cannot be resolved (${errorCode(err)})`);
      }
    }
    const first = addresses[0];
    if (first === undefined) throw serviceUnavailable(`${host}:${port} cannot be resolved (ENOTFOUND)`);
    for (const address of addresses) {
      const why = this.refusal(address, port);
      if (why === undefined) continue;
      const named = address === host ? `${host}:${port} is` : `${host}:${port} resolves to ${address},`;
      const entry = isIP(address) === 6 ? `[${address}]:${port}` : `${address}:${port}`;
      throw new StatusError(
        403,
        'Forbidden',
        `${named} ${why}: the Connectors Proxy does not tunnel there unless --allow-hosts lists it ` +
          `(e.g. --allow-hosts=${entry})`,
      );
    }
    return first;
  }
}

function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'error';
}

/** This host's interface addresses. */
export function ownAddresses(): string[] {
  return Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address));
}

/** kube-apiserver's addresses, from the server URL the proxy talks to. */
export async function apiServerAddresses(server: string, resolve: Lookup = systemLookup): Promise<string[]> {
  const host = new URL(server).hostname.replace(/^\[(.*)\]$/, '$1');
  return isIP(host) ? [host] : resolve(host);
}
