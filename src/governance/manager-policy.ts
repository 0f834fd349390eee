/**
 * A manager's policy: its hash (cached until the configuration or the pattern table changes),
 * its export as an artifact, and the application of a verified artifact.
 */
import { ConfigError } from '../errors/errors.js';
import type { ManagerCore } from '../manager/manager-core.js';
import { hashPolicy, verifyPolicy, writePolicyArtifact } from './policy.js';
import { policySnapshot, readPolicySnapshot, type PolicySnapshot } from './policy-snapshot.js';

const HEX64 = /^[0-9a-f]{64}$/;

export class ManagerPolicy {
  private cached: string | null = null;

  constructor(private readonly core: ManagerCore) {}

  /** The configuration, the pattern table or the prices changed. */
  invalidate(): void {
    this.cached = null;
  }

  hash(): string {
    return (this.cached ??= hashPolicy(this.snapshot()));
  }

  snapshot(): PolicySnapshot {
    const { configs, classifier, prices } = this.core;
    return policySnapshot({ configured: () => configs.configured(), resolve: (service, platform) => configs.resolve(service, platform), patterns: classifier.getPatterns(), prices: prices.toJSON() });
  }

  /** Writes the artifact `{ policy, hash }`; resolves with the hash. */
  export(path: string): Promise<string> {
    return writePolicyArtifact(path, this.snapshot());
  }

  /**
   * Verifies the artifact against `expectedHash`, checks all of it, then applies it: every
   * configuration, the user patterns and (when they differ) the prices are replaced, live scopes
   * reconfigured. Throws ConfigError, changing nothing, when the artifact is refused or any part
   * of it is invalid.
   */
  async apply(path: string, expectedHash: unknown): Promise<string> {
    if (typeof expectedHash !== 'string' || !HEX64.test(expectedHash)) throw new ConfigError('applyPolicy: expectedHash', expectedHash, 'must be 64 lowercase hex digits (the hash exportPolicy returned)');
    const verified = await verifyPolicy(path, expectedHash);
    if (!verified.ok) throw new ConfigError('applyPolicy: artifact', path, `refused (${verified.reason}): its policy hashes to ${verified.actualHash ?? 'nothing'}, expected ${expectedHash}`);
    const checked = readPolicySnapshot(verified.policy);
    // Nothing above changed the manager; nothing below can fail.
    const { configs, classifier, scopes } = this.core;
    configs.replace(checked.services, checked.platforms);
    classifier.clear();
    for (const pattern of checked.before) classifier.register(pattern, { position: 'before' });
    for (const pattern of checked.after) classifier.register(pattern, { position: 'after' });
    if (hashPolicy(checked.prices) !== hashPolicy(this.core.prices.toJSON())) this.core.setPrices(checked.prices, { replace: true });
    const now = Date.now();
    for (const scope of scopes.values()) scope.reconfigure(configs.resolve(scope.service, scope.platform), now);
    this.invalidate();
    return expectedHash;
  }
}
