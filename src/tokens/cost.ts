import { ConfigError } from '../errors/errors.js';

/** What a call costs: a number of tokens, or input and output tokens apart (providers that limit them apart). */
export type Cost = number | { readonly input: number; readonly output: number };

/** Tokens a call used, as read from a result or reported by the call. `cachedInput`: input tokens billed at the cached price. */
export interface Usage {
  readonly input: number;
  readonly output: number;
  readonly cachedInput: number;
}

/**
 * Guesses a call's cost when the caller gives none (README "Estimating a cost"). Receives the
 * decorated method's arguments (empty for `execute`); returns a {@link Cost}.
 */
export type CostEstimator = (args: readonly unknown[]) => Cost;

/**
 * The default estimator: about 4 characters per input token over the text found in the arguments
 * (strings, and the `content`, `prompt`, `input`, `system`, `text` and `messages` fields of
 * objects, to a depth of 4), and the request's own `max_tokens` / `max_completion_tokens` /
 * `max_output_tokens` as the output. An `execute` call (no arguments) estimates 0: it is admitted
 * while its windows are not full, and its real usage is charged afterwards.
 */
export const defaultEstimator: CostEstimator = (args) => {
  let chars = 0;
  let output = 0;
  const visit = (value: unknown, depth: number): void => {
    if (typeof value === 'string') chars += value.length;
    else if (Array.isArray(value)) {
      if (depth < 4) for (const item of value.slice(0, 1_000)) visit(item, depth + 1);
    } else if (typeof value === 'object' && value !== null && depth < 4) {
      const record = value as Record<string, unknown>;
      for (const key of TEXT_FIELDS) if (Object.hasOwn(record, key)) visit(record[key], depth + 1);
      for (const key of OUTPUT_FIELDS) {
        const max = Object.hasOwn(record, key) ? record[key] : undefined;
        if (typeof max === 'number' && Number.isFinite(max) && max > output) output = max;
      }
    }
  };
  try {
    for (const arg of args) visit(arg, 0);
  } catch {
    // A hostile argument (throwing getter, Proxy) estimates what was read before it.
  }
  return { input: Math.ceil(chars / 4), output: Math.floor(output) };
};

const TEXT_FIELDS = ['content', 'prompt', 'input', 'system', 'text', 'messages'] as const;
const OUTPUT_FIELDS = ['max_tokens', 'max_completion_tokens', 'max_output_tokens'] as const;

/** A cost checked and split: `input` and `output` (a plain number counts as input). Throws ConfigError naming `field`. */
export function splitCost(cost: unknown, field: string): { input: number; output: number } {
  if (typeof cost === 'number') return { input: checkTokens(cost, field), output: 0 };
  if (typeof cost === 'object' && cost !== null) {
    let input: unknown;
    let output: unknown;
    try {
      ({ input, output } = cost as { input?: unknown; output?: unknown });
    } catch {
      throw new ConfigError(field, cost, 'could not be read (a Proxy or a throwing getter)');
    }
    return { input: checkTokens(input ?? 0, `${field}.input`), output: checkTokens(output ?? 0, `${field}.output`) };
  }
  throw new ConfigError(field, cost, 'must be a number of tokens >= 0, or { input, output }');
}

function checkTokens(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw new ConfigError(field, value, 'must be a finite number of tokens >= 0');
  return value;
}

/**
 * The usage an OpenAI-shaped (`usage.prompt_tokens` / `completion_tokens`, `prompt_tokens_details.cached_tokens`;
 * Responses API `input_tokens` / `output_tokens`) or Anthropic-shaped (`usage.input_tokens` / `output_tokens`,
 * `cache_read_input_tokens`, `cache_creation_input_tokens`) result carries; null when it has none.
 * Never throws: a hostile result reads as no usage.
 */
export function usageOf(result: unknown): Usage | null {
  try {
    if (typeof result !== 'object' || result === null) return null;
    const usage = (result as { usage?: unknown }).usage;
    if (typeof usage !== 'object' || usage === null) return null;
    const u = usage as Record<string, unknown>;
    if (isCount(u.prompt_tokens) || isCount(u.completion_tokens)) {
      const details = u.prompt_tokens_details as { cached_tokens?: unknown } | null | undefined;
      const cached = typeof details === 'object' && details !== null && isCount(details.cached_tokens) ? details.cached_tokens : 0;
      return { input: count(u.prompt_tokens), output: count(u.completion_tokens), cachedInput: cached };
    }
    if (isCount(u.input_tokens) || isCount(u.output_tokens)) {
      // Anthropic's input_tokens leave out cache reads and writes; OpenAI's Responses API counts them in (input_tokens_details).
      const cacheRead = count(u.cache_read_input_tokens);
      const details = u.input_tokens_details as { cached_tokens?: unknown } | null | undefined;
      const responsesCached = typeof details === 'object' && details !== null && isCount(details.cached_tokens) ? details.cached_tokens : 0;
      return { input: count(u.input_tokens) + count(u.cache_creation_input_tokens) + cacheRead, output: count(u.output_tokens), cachedInput: cacheRead + responsesCached };
    }
  } catch {
    // A getter that throws, a revoked Proxy: no usage to read.
  }
  return null;
}

/** The `model` field of a result, when it is a non-empty string of sane length. */
export function modelOf(result: unknown): string | undefined {
  try {
    if (typeof result !== 'object' || result === null) return undefined;
    const model = (result as { model?: unknown }).model;
    return typeof model === 'string' && model !== '' && model.length <= 200 ? model : undefined;
  } catch {
    return undefined;
  }
}

const isCount = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value) && value >= 0;
const count = (value: unknown): number => (isCount(value) ? value : 0);
