import type { Scope } from './scope.js';

interface ServiceScopes {
  root: Scope | undefined;
  platforms: Map<string, Scope> | undefined;
}

/**
 * The live scopes, by service then platform. Looking up `service` + `platform` needs no
 * `service:platform` string: no allocation per call, and no key string kept per scope
 * (thousands of per-user platforms would each carry one).
 */
export class ScopeRegistry {
  private readonly services = new Map<string, ServiceScopes>();
  private count = 0;
  /** Changes whenever a scope is forgotten, so that a cached Scope can tell it may be stale. */
  private drops = 0;
  /** No eviction scan before the registry holds this many scopes (see {@link evictIdle}). */
  private nextScan = 0;

  get size(): number {
    return this.count;
  }

  get generation(): number {
    return this.drops;
  }

  get(service: string, platform: string | undefined): Scope | undefined {
    const scopes = this.services.get(service);
    if (scopes === undefined) return undefined;
    return platform === undefined ? scopes.root : scopes.platforms?.get(platform);
  }

  /** By scope key (`service` or `service:platform`); service names never contain ':'. */
  getByKey(key: string): Scope | undefined {
    const colon = key.indexOf(':');
    return colon < 0 ? this.get(key, undefined) : this.get(key.slice(0, colon), key.slice(colon + 1));
  }

  add(scope: Scope): void {
    let scopes = this.services.get(scope.service);
    if (scopes === undefined) this.services.set(scope.service, (scopes = { root: undefined, platforms: undefined }));
    if (scope.platform === undefined) {
      if (scopes.root === undefined) this.count++;
      scopes.root = scope;
      return;
    }
    const platforms = (scopes.platforms ??= new Map());
    if (!platforms.has(scope.platform)) this.count++;
    platforms.set(scope.platform, scope);
  }

  delete(scope: Scope): void {
    this.drops++;
    const scopes = this.services.get(scope.service);
    if (scopes === undefined) return;
    if (scope.platform === undefined) {
      if (scopes.root === scope) {
        scopes.root = undefined;
        this.count--;
      }
    } else if (scopes.platforms?.get(scope.platform) === scope) {
      scopes.platforms.delete(scope.platform);
      this.count--;
    }
  }

  *values(): IterableIterator<Scope> {
    for (const scopes of this.services.values()) {
      if (scopes.root !== undefined) yield scopes.root;
      if (scopes.platforms !== undefined) yield* scopes.platforms.values();
    }
  }

  /**
   * Forgets up to `count` scopes whose state is back to fresh, least recently used first. A scan
   * that finds fewer than `count` idle is not repeated before a tenth more scopes were added:
   * with every scope busy (many clients within their minute) a scan per new scope would make
   * each creation O(scopes).
   */
  evictIdle(count: number, now: number): void {
    if (this.count < this.nextScan) return;
    const idle = [...this.values()].filter((scope) => scope.isIdle(now)).sort((a, b) => a.lastUsed - b.lastUsed);
    for (const scope of idle.slice(0, count)) this.delete(scope);
    this.nextScan = idle.length < count ? this.count + Math.ceil(this.count / 10) : 0;
  }

  clear(): void {
    this.drops++;
    this.nextScan = 0;
    this.services.clear();
    this.count = 0;
  }
}
