import { ConfigError } from '../errors/errors.js';
import { extractFacts, type ErrorFacts } from './extract.js';
import { DEFAULT_CLASSIFICATION, DEFAULT_ERROR_PATTERNS } from './patterns.js';
import { ErrorCategory, ErrorSeverity, type ErrorClassification, type ErrorPattern } from './types.js';

export interface RegisterPatternOptions {
  /** `before` (default) tries the pattern ahead of the defaults; `after` only when none matched. */
  readonly position?: 'before' | 'after';
}

/** A pattern with its matchers prepared once, so classifying never builds strings or RegExps. */
interface CompiledPattern {
  readonly source: ErrorPattern;
  readonly services: ReadonlySet<string> | undefined;
  readonly statuses: ReadonlySet<number> | undefined;
  readonly types: ReadonlySet<string> | undefined;
  readonly substrings: readonly string[];
  readonly regexps: readonly RegExp[];
  readonly hasMessages: boolean;
  readonly backoffMultiplier: number;
  readonly isBan: boolean;
}

const CATEGORIES: ReadonlySet<string> = new Set(Object.values(ErrorCategory));
const SEVERITIES: ReadonlySet<string> = new Set(Object.values(ErrorSeverity));
const LIST_FIELDS = ['messages', 'statusCodes', 'types', 'services'] as const;

function compile(p: ErrorPattern): CompiledPattern {
  const substrings: string[] = [];
  const regexps: RegExp[] = [];
  for (const m of p.messages ?? []) {
    if (typeof m === 'string') substrings.push(m.toLowerCase());
    // Drop g/y: a stateful `lastIndex` would make the same error match only every other time.
    else regexps.push(m.global || m.sticky ? new RegExp(m.source, m.flags.replace(/[gy]/g, '')) : m);
  }
  return {
    source: p,
    services: p.services ? new Set(p.services) : undefined,
    statuses: p.statusCodes ? new Set(p.statusCodes) : undefined,
    types: p.types ? new Set(p.types.map((t) => t.toLowerCase())) : undefined,
    substrings,
    regexps,
    hasMessages: substrings.length + regexps.length > 0,
    backoffMultiplier: p.backoffMultiplier ?? 1,
    isBan: p.isBan ?? false,
  };
}

const COMPILED_DEFAULTS: readonly CompiledPattern[] = DEFAULT_ERROR_PATTERNS.map(compile);

function matches(c: CompiledPattern, facts: ErrorFacts, service: string | undefined, serviceType: string | undefined): boolean {
  if (c.services && !(service !== undefined && (c.services.has(service) || (serviceType !== undefined && c.services.has(serviceType))))) {
    return false;
  }
  if (c.statuses && (facts.statusCode === undefined || !c.statuses.has(facts.statusCode))) return false;
  if (c.types) {
    let hit = false;
    for (const t of facts.types) {
      if (c.types.has(t)) {
        hit = true;
        break;
      }
    }
    if (!hit) return false;
  }
  if (c.hasMessages) {
    if (facts.text === '') return false;
    for (const s of c.substrings) if (facts.lowerText.includes(s)) return true;
    // User RegExps see the original case, so their own flags decide case-sensitivity.
    for (const r of c.regexps) if (r.test(facts.text)) return true;
    return false;
  }
  return true;
}

function fail(field: string, value: unknown, rule: string): never {
  throw new ConfigError(`errorPattern.${field}`, value, rule);
}

/** Checks a user pattern; throws a ConfigError naming the field, the value and the rule. */
function validate(p: unknown): asserts p is ErrorPattern {
  if (typeof p !== 'object' || p === null) fail('pattern', p, 'must be an object');
  const r = p as Record<string, unknown>;
  if (typeof r.name !== 'string' || r.name.trim() === '' || r.name.length > 100) fail('name', r.name, 'must be a non-empty string of at most 100 characters');
  if (typeof r.category !== 'string' || !CATEGORIES.has(r.category)) fail('category', r.category, `must be one of ${[...CATEGORIES].join(', ')}`);
  if (typeof r.severity !== 'string' || !SEVERITIES.has(r.severity)) fail('severity', r.severity, `must be one of ${[...SEVERITIES].join(', ')}`);
  if (typeof r.retryable !== 'boolean') fail('retryable', r.retryable, 'must be a boolean');
  const b = r.backoffMultiplier;
  if (b !== undefined && (typeof b !== 'number' || !Number.isFinite(b) || b < 0)) fail('backoffMultiplier', b, 'must be a finite number >= 0');
  if (r.isBan !== undefined && typeof r.isBan !== 'boolean') fail('isBan', r.isBan, 'must be a boolean');
  for (const field of LIST_FIELDS) {
    const list = r[field];
    if (list === undefined) continue;
    // An empty list would match nothing (or, for messages, '' would match everything): both are mistakes.
    if (!Array.isArray(list) || list.length === 0) fail(field, list, 'must be a non-empty array when set');
    for (const item of list as unknown[]) {
      const ok =
        field === 'statusCodes'
          ? typeof item === 'number' && Number.isInteger(item) && item >= 100 && item <= 599
          : field === 'messages'
            ? (typeof item === 'string' && item !== '') || item instanceof RegExp
            : typeof item === 'string' && item !== '';
      if (!ok) {
        const rule = field === 'statusCodes' ? 'must hold integers from 100 to 599' : field === 'messages' ? 'must hold non-empty strings or RegExps' : 'must hold non-empty strings';
        fail(field, item, rule);
      }
    }
  }
  // `services` alone would turn every error of a service into this pattern's verdict.
  if (r.messages === undefined && r.statusCodes === undefined && r.types === undefined) {
    fail('criteria', undefined, `pattern ${JSON.stringify(r.name)} must set at least one of messages, statusCodes or types`);
  }
}

/**
 * A frozen copy: a caller mutating its object later must not change registered behaviour. Reads
 * each field once and never throws on odd shapes (validate judges the copy); an object that cannot
 * be read (a Proxy or getter that throws) is a ConfigError.
 */
function snapshot(p: unknown): ErrorPattern {
  if (typeof p !== 'object' || p === null) fail('pattern', p, 'must be an object');
  const r = p as Record<string, unknown>;
  const copy: Record<string, unknown> = {};
  try {
    for (const field of ['name', 'category', 'severity', 'retryable', 'backoffMultiplier', 'isBan', ...LIST_FIELDS]) {
      const value = r[field];
      if (value === undefined) continue;
      copy[field] = Array.isArray(value) ? Object.freeze([...(value as unknown[])]) : value;
    }
  } catch {
    fail('pattern', p, 'could not be read (a Proxy or a throwing getter)');
  }
  return Object.freeze(copy) as unknown as ErrorPattern;
}

/**
 * Classifies errors against an ordered table: user patterns registered `before` (in registration
 * order), then {@link DEFAULT_ERROR_PATTERNS}, then user patterns registered `after` (in
 * registration order), then the `default` classification. The first match wins.
 *
 * Registration order (not newest-first) keeps the table readable top to bottom, like the defaults.
 * Registering a name the user already registered replaces that pattern (it moves to the new place).
 *
 * floodgate's own errors (`code` starting `EFLOODGATE_`) are classified by the defaults only and
 * never as a ban: a user pattern must not turn a local rate limit or suspension into a new ban.
 */
export class ErrorClassifier {
  private before: CompiledPattern[] = [];
  private after: CompiledPattern[] = [];

  register(pattern: ErrorPattern, options: RegisterPatternOptions = {}): void {
    // Copied first, then the copy validated and kept: each field is read once, so a getter
    // cannot pass validation and answer otherwise later.
    const copy = snapshot(pattern);
    validate(copy);
    const position = options?.position ?? 'before';
    if (position !== 'before' && position !== 'after') throw new ConfigError('position', position, "must be 'before' or 'after'");
    const compiled = compile(copy);
    const name = compiled.source.name;
    this.before = this.before.filter((c) => c.source.name !== name);
    this.after = this.after.filter((c) => c.source.name !== name);
    (position === 'after' ? this.after : this.before).push(compiled);
  }

  /** The whole table in the order it is tried (defaults included). */
  getPatterns(): readonly ErrorPattern[] {
    return Object.freeze([...this.before, ...COMPILED_DEFAULTS, ...this.after].map((c) => c.source));
  }

  /** Removes every user pattern. */
  clear(): void {
    this.before = [];
    this.after = [];
  }

  /**
   * Classifies anything thrown. `service` may be a service type or a scope key
   * (`social_media:reddit`): service-limited patterns match on the part before the colon too.
   * Never throws; returns a frozen plain object.
   */
  classify(error: unknown, service?: string): ErrorClassification {
    let facts: ErrorFacts | undefined;
    try {
      facts = extractFacts(error);
      const svc = typeof service === 'string' && service !== '' ? service : undefined;
      const colon = svc === undefined ? -1 : svc.indexOf(':');
      const serviceType = colon > 0 ? svc!.slice(0, colon) : undefined;
      const own = facts.floodgateCode !== undefined;
      const hit = own
        ? this.first(COMPILED_DEFAULTS, facts, svc, serviceType)
        : (this.first(this.before, facts, svc, serviceType) ??
          this.first(COMPILED_DEFAULTS, facts, svc, serviceType) ??
          this.first(this.after, facts, svc, serviceType));
      return build(hit, facts, own);
    } catch {
      // Only a pathological user RegExp (stack overflow) can get here; fall back to `default`.
      return build(undefined, facts, false);
    }
  }

  private first(table: readonly CompiledPattern[], facts: ErrorFacts, service: string | undefined, serviceType: string | undefined): CompiledPattern | undefined {
    for (const c of table) if (matches(c, facts, service, serviceType)) return c;
    return undefined;
  }
}

function build(hit: CompiledPattern | undefined, facts: ErrorFacts | undefined, own: boolean): ErrorClassification {
  const base = hit
    ? {
        category: hit.source.category,
        severity: hit.source.severity,
        retryable: hit.source.retryable,
        backoffMultiplier: hit.backoffMultiplier,
        isBan: own ? false : hit.isBan,
        pattern: hit.source.name,
      }
    : { ...DEFAULT_CLASSIFICATION };
  const out: { -readonly [K in keyof ErrorClassification]: ErrorClassification[K] } = base;
  if (facts?.statusCode !== undefined) out.statusCode = facts.statusCode;
  if (facts?.retryAfterMs !== undefined) out.retryAfterMs = facts.retryAfterMs;
  return Object.freeze(out);
}
