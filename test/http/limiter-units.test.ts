import { describe, expect, it } from 'vitest';
import { ThrottleManager } from 'floodgate';
import { createLimiter, type LimiterOptions } from 'floodgate/http';
import { addressKey, compileTrustedProxies, expandIPv6, forwardedHops, isTrusted, unmapIPv4 } from '../../src/http/limiter/client-address.js';
import { GroupTable } from '../../src/http/limiter/groups.js';
import { quotaHeaders, quotaPolicy } from '../../src/http/limiter/ratelimit-headers.js';
import { configErrorOf } from '../helpers.js';

describe('client address', () => {
  it('expands IPv6 forms, embedded IPv4 and zone ids', () => {
    expect(expandIPv6('2001:db8::1')).toEqual([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]);
    expect(expandIPv6('::')).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(expandIPv6('::ffff:192.0.2.1')).toEqual([0, 0, 0, 0, 0, 0xffff, 0xc000, 0x201]);
    expect(expandIPv6('fe80::1%eth0')).toEqual([0xfe80, 0, 0, 0, 0, 0, 0, 1]);
  });

  it('keys IPv6 by network prefix and IPv4 as it is', () => {
    expect(addressKey('2001:db8:1:2:3:4:5:6', 64)).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:0DB8:0001:0002::ffff', 64)).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8:1:2:3:4:5:6', 56)).toBe('2001:db8:1:0::/56');
    expect(addressKey('2001:db8:1:2:3:4:5:6', 60)).toBe('2001:db8:1:0::/60');
    expect(addressKey('2001:db8:1:2:3:4:5:6', 128)).toBe('2001:db8:1:2:3:4:5:6::/128');
    expect(addressKey('203.0.113.9', 64)).toBe('203.0.113.9');
  });

  it('unmaps IPv4-mapped addresses, so a dual-stack peer matches an IPv4 range', () => {
    expect(unmapIPv4('::ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(unmapIPv4('::FFFF:10.1.2.3')).toBe('10.1.2.3');
    expect(unmapIPv4('::1')).toBe('::1');
    const trusted = compileTrustedProxies(['10.0.0.0/8', 'loopback'])!;
    expect(isTrusted(trusted, unmapIPv4('::ffff:10.9.9.9'))).toBe(true);
    expect(isTrusted(trusted, '::1')).toBe(true);
    expect(isTrusted(trusted, '11.0.0.1')).toBe(false);
    expect(isTrusted(trusted, 'not an address')).toBe(false);
  });

  it('reads the hops of X-Forwarded-For and Forwarded, ports and brackets dropped, garbage blank', () => {
    expect(forwardedHops('198.51.100.1, 10.0.0.2:8080 , [2001:db8::1]:443', 'x-forwarded-for')).toEqual(['198.51.100.1', '10.0.0.2', '2001:db8::1']);
    expect(forwardedHops(['1.1.1.1', '2.2.2.2'], 'x-forwarded-for')).toEqual(['1.1.1.1', '2.2.2.2']);
    expect(forwardedHops('for=192.0.2.60;proto=http;by=203.0.113.43, For="[2001:db8:cafe::17]:4711", for=unknown', 'forwarded')).toEqual(['192.0.2.60', '2001:db8:cafe::17', '']);
    expect(forwardedHops('<script>, 999.1.1.1', 'x-forwarded-for')).toEqual(['', '']);
  });

  it('rejects a bad trusted proxy with a ConfigError naming it', () => {
    expect(configErrorOf(() => compileTrustedProxies(['10.0.0.0/33'])).field).toBe('trustProxy');
    expect(configErrorOf(() => compileTrustedProxies(['example.com'])).message).toContain('example.com');
    expect(configErrorOf(() => compileTrustedProxies('10.0.0.0/8')).field).toBe('trustProxy');
    expect(configErrorOf(() => compileTrustedProxies(['10.0.0.0/8x'])).field).toBe('trustProxy');
  });
});

describe('endpoint groups', () => {
  const table = new GroupTable(
    {
      '/api/*': { requestsPerMinute: 10 },
      '/api/v1/chat/*': { requestsPerMinute: 300, name: 'chat' },
      '/api/v1/users/:id': { requestsPerSecond: 2 },
      '/api/v1/users/me': { requestsPerMinute: 5 },
    },
    'inbound',
    false,
  );
  const nameOf = (path: string): string | undefined => table.match(path)?.name;

  it('matches the most specific template, whatever the declaration order', () => {
    expect(nameOf('/api/v1/chat/send')).toBe('chat');
    expect(nameOf('/api/v1/chat')).toBe('chat');
    expect(nameOf('/api/v1/users/me')).toBe('api.v1.users.me');
    expect(nameOf('/api/v1/users/42')).toBe('api.v1.users.id');
    expect(nameOf('/api/v1/users/42/posts')).toBe('api');
    expect(nameOf('/api')).toBe('api');
    expect(nameOf('/apix')).toBe('default');
    expect(nameOf('/')).toBe('default');
  });

  it('gives each group its service and inbound defaults (no retries, no waiting)', () => {
    const chat = table.match('/api/v1/chat/x')!;
    expect(chat.service).toBe('inbound.chat');
    expect(chat.config).toMatchObject({ requestsPerMinute: 300, burst: 300, requestsPerSecond: Infinity, maxWaitMs: 0, retryAttempts: 0, maxConcurrent: Infinity });
    expect(chat.policy).toMatchObject({ name: 'chat', limit: 300, windowSeconds: 60, draft8: '"chat";q=300;w=60', draft7: '300;w=60' });
    expect(table.match('/api/v1/users/1')!.config).toMatchObject({ requestsPerSecond: 2, burst: 2 });
    expect(table.match('/nowhere')!.config.requestsPerMinute).toBe(200);
  });

  it('rejects bad templates and limits with a ConfigError naming the field', () => {
    expect(configErrorOf(() => new GroupTable({ 'api/*': {} }, 'inbound', false)).field).toBe('groups');
    expect(configErrorOf(() => new GroupTable({ '/a/*/b': {} }, 'inbound', false)).field).toBe('groups');
    expect(configErrorOf(() => new GroupTable({ '/a': { requestsPerMinute: -1 } }, 'inbound', false)).field).toBe("groups['/a'].requestsPerMinute");
    expect(configErrorOf(() => new GroupTable({ '/a': { retryAttempts: 3 } }, 'inbound', false)).field).toBe("groups['/a'].retryAttempts");
    expect(configErrorOf(() => new GroupTable({ '/a': { name: 'x' }, '/b': { name: 'x' } }, 'inbound', false)).message).toContain('unique');
    expect(configErrorOf(() => new GroupTable({ default: 5 }, 'inbound', false)).field).toBe("groups['default']");
    expect(configErrorOf(() => new GroupTable({ '/a': { total: 5 } }, 'inbound', false)).field).toBe("groups['/a'].total");
    expect(configErrorOf(() => new GroupTable({ '/a': { total: {} } }, 'inbound', false)).message).toContain('at least one');
    expect(configErrorOf(() => new GroupTable({ '/a': { total: { name: 'x' } } }, 'inbound', false)).field).toBe("groups['/a'].total.name");
    expect(configErrorOf(() => new GroupTable({ '/a': { total: { requestsPerMinute: 0.5 } } }, 'inbound', false)).field).toBe("groups['/a'].total.requestsPerMinute");
  });
});

describe('RateLimit header fields of several quotas', () => {
  const key = quotaPolicy('chat', 300, 60);
  const group = quotaPolicy('chat.total', 5_000, 60);
  const quotas = [
    { policy: key, remaining: 299, resetSeconds: 1 },
    { policy: group, remaining: 12, resetSeconds: 3 },
  ];

  it('lists every quota in draft-8, and the one with the fewest remaining in draft-7 and legacy', () => {
    const headers: Record<string, string> = {};
    quotaHeaders(headers, ['draft-8', 'legacy'], quotas, 1_000_000);
    expect(headers).toEqual({
      'ratelimit-policy': '"chat";q=300;w=60, "chat.total";q=5000;w=60',
      ratelimit: '"chat";r=299;t=1, "chat.total";r=12;t=3',
      'x-ratelimit-limit': '5000',
      'x-ratelimit-remaining': '12',
      'x-ratelimit-reset': '1003',
    });
    const seven: Record<string, string> = {};
    quotaHeaders(seven, ['draft-7'], quotas, 0);
    expect(seven).toEqual({ 'ratelimit-policy': '5000;w=60', ratelimit: 'limit=5000, remaining=12, reset=3' });
  });
});

describe('createLimiter options', () => {
  const manager = new ThrottleManager({ env: {} });
  const bad = (options: unknown): { field: string; message: string } => configErrorOf(() => createLimiter({ manager, ...(options as LimiterOptions) }));

  it('rejects each bad option with a ConfigError naming the field, the value and the rule', () => {
    expect(bad({ headers: 'draft-6' }).field).toBe('headers');
    expect(bad({ headers: ['draft-7', 'draft-8'] }).message).toContain('both');
    expect(bad({ refusalStatus: { suspended: 200 } }).field).toBe('refusalStatus.suspended');
    expect(bad({ refusalStatus: { banned: 503 } }).field).toBe('refusalStatus.banned');
    expect(bad({ keys: { ipv6Subnet: 0 } }).field).toBe('keys.ipv6Subnet');
    expect(bad({ keys: { actor: 'x-actor' } }).field).toBe('keys.actor');
    expect(bad({ keys: { headersFrom: 'all' } }).field).toBe('keys.headersFrom');
    expect(bad({ forwardedHeader: 'x-real-ip' }).field).toBe('forwardedHeader');
    expect(bad({ exempt: '/health' }).field).toBe('exempt');
    expect(bad({ exempt: ['health'] }).field).toBe('exempt');
    expect(bad({ name: 'in:bound' }).field).toBe('name');
    expect(bad({ groupz: {} }).field).toBe('groupz');
    expect(bad({ manager: { getStatusReport: () => ({}) } }).field).toBe('manager');
  });

  it('never prints a secret it refuses', () => {
    const refused = bad({ keys: { secret: 'short-s3cret' } });
    expect(refused.field).toBe('keys.secret');
    expect(refused.message).not.toContain('short-s3cret');
  });

  it('configures each group on the manager, under the limiter name', () => {
    createLimiter({ manager, name: 'edge', groups: { '/x/*': { requestsPerMinute: 7, maxConcurrent: 2 } } });
    expect(manager.getConfig('edge.x')).toMatchObject({ requestsPerMinute: 7, maxConcurrent: 2, maxWaitMs: 0 });
    expect(manager.getConfig('edge.default').requestsPerMinute).toBe(200);
    createLimiter({ manager, name: 'wide', groups: { '/x/*': { requestsPerMinute: 7, total: { requestsPerSecond: 50 } } } });
    expect(manager.getConfig('wide.x', { platform: 'total' })).toMatchObject({ requestsPerSecond: 50, burst: 50, requestsPerMinute: Infinity, maxWaitMs: 0 });
    expect(manager.getConfig('wide.x').requestsPerMinute).toBe(7);
  });
});
