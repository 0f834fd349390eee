/**
 * The client's address: the peer's, or — only when the peer is a trusted proxy — the nearest
 * untrusted hop its forwarded header names. IPv6 addresses are cut to their network (`/64` by
 * default): one subscriber holds a whole /64, and keying each address apart would hand out 2^64
 * buckets.
 */
import { BlockList, isIP } from 'node:net';
import { ConfigError } from '../../errors/errors.js';

/** Named ranges, as Express's `trust proxy` (proxy-addr) knows them. */
const NAMED_RANGES: Readonly<Record<string, readonly string[]>> = {
  loopback: ['127.0.0.0/8', '::1/128'],
  linklocal: ['169.254.0.0/16', 'fe80::/10'],
  uniquelocal: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
};

/** The trusted proxies: addresses, CIDR ranges or the names above. */
export function compileTrustedProxies(list: unknown): BlockList | null {
  if (list === undefined) return null;
  if (!Array.isArray(list)) throw new ConfigError('trustProxy', list, "must be a list of addresses, CIDR ranges or 'loopback' / 'linklocal' / 'uniquelocal'");
  const trusted = new BlockList();
  for (const entry of list as unknown[]) {
    if (typeof entry !== 'string') throw new ConfigError('trustProxy', entry, 'must be a string: an address, a CIDR range or a named range');
    for (const range of NAMED_RANGES[entry] ?? [entry]) {
      const slash = range.indexOf('/');
      const address = unmapIPv4(slash < 0 ? range : range.slice(0, slash));
      const family = isIP(address);
      const bits = family === 4 ? 32 : 128;
      const prefix = slash < 0 ? bits : Number(range.slice(slash + 1));
      if (family === 0 || !Number.isInteger(prefix) || prefix < 0 || prefix > bits || (slash >= 0 && !/^\d+$/.test(range.slice(slash + 1)))) {
        throw new ConfigError('trustProxy', entry, "must be an IP address, a CIDR range (e.g. '10.0.0.0/8', 'fd00::/8') or 'loopback' / 'linklocal' / 'uniquelocal'");
      }
      trusted.addSubnet(address, prefix, family === 4 ? 'ipv4' : 'ipv6');
    }
  }
  return trusted;
}

/** `::ffff:1.2.3.4` (an IPv4 client on a dual-stack socket) → `1.2.3.4`. */
export function unmapIPv4(address: string): string {
  return address.length > 7 && address.charCodeAt(0) === 58 /* : */ && /^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(address) ? address.slice(7) : address;
}

/** True when `address` (unmapped) lies in `trusted`. */
export function isTrusted(trusted: BlockList, address: string): boolean {
  const family = isIP(address);
  try {
    return family !== 0 && trusted.check(address, family === 4 ? 'ipv4' : 'ipv6');
  } catch {
    return false; // an address isIP accepts but BlockList does not (a zone id): not a proxy we listed
  }
}

/**
 * The hops a forwarded header lists, nearest last. `X-Forwarded-For: client, proxy1` or RFC 7239
 * `Forwarded: for=client;proto=https, for="[2001:db8::1]:4711"`. Ports and brackets are dropped;
 * a hop that is no address (`unknown`, `_hidden`, garbage) is kept as `''`.
 */
export function forwardedHops(header: string | string[] | undefined, kind: 'x-forwarded-for' | 'forwarded'): string[] {
  if (header === undefined) return [];
  const text = Array.isArray(header) ? header.join(',') : header;
  const hops: string[] = [];
  for (const element of text.split(',')) {
    let value = element.trim();
    if (kind === 'forwarded') {
      const match = /(?:^|;)\s*for\s*=\s*("[^"]*"|[^;]*)/i.exec(value);
      value = match === null ? '' : match[1]!.replace(/^"|"$/g, '').trim();
    }
    hops.push(bareAddress(value));
  }
  return hops;
}

/** `[::1]:443` → `::1`; `1.2.3.4:80` → `1.2.3.4`; anything else that is no IP → `''`. */
function bareAddress(value: string): string {
  let address = value;
  if (address.startsWith('[')) address = address.slice(1, address.indexOf(']') < 0 ? undefined : address.indexOf(']'));
  else if (/^\d+\.\d+\.\d+\.\d+:\d+$/.test(address)) address = address.slice(0, address.indexOf(':'));
  address = unmapIPv4(address);
  return isIP(address) === 0 ? '' : address;
}

/**
 * The address keyed: an IPv4 address as it is, an IPv6 address cut to its first `prefix` bits
 * and written as `network/prefix` (`2001:db8:1:2::/64`).
 */
export function addressKey(address: string, ipv6Prefix: number): string {
  if (isIP(address) !== 6) return address;
  const groups = expandIPv6(address);
  const shown: string[] = [];
  for (let i = 0; i < 8 && i * 16 < ipv6Prefix; i++) {
    const keep = Math.min(16, ipv6Prefix - i * 16);
    shown.push(((groups[i]! >> (16 - keep)) << (16 - keep)).toString(16));
  }
  return `${shown.join(':')}::/${ipv6Prefix}`;
}

/** The eight 16-bit groups of a valid IPv6 address (a zone id and an embedded IPv4 tail handled). */
export function expandIPv6(address: string): number[] {
  let text = address;
  const zone = text.indexOf('%');
  if (zone >= 0) text = text.slice(0, zone);
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.', lastColon)) {
    const [a, b, c, d] = text.slice(lastColon + 1).split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = tail === undefined ? 0 : 8 - headGroups.length - tailGroups.length;
  return [...headGroups, ...Array<string>(zeros).fill('0'), ...tailGroups].map((group) => parseInt(group, 16));
}
