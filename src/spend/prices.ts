import { ConfigError } from '../errors/errors.js';

/** USD per million tokens for one model. `cachedInputPerMTok` defaults to `inputPerMTok`. */
export interface ModelPrice {
  readonly inputPerMTok: number;
  readonly outputPerMTok: number;
  readonly cachedInputPerMTok?: number;
}

export type PriceTable = Readonly<Record<string, ModelPrice>>;

/** When {@link DEFAULT_PRICES} were taken from the providers' public price lists. Prices change: set yours with `setPrices`. */
export const DEFAULT_PRICES_DATE = '2025-11-15';

/**
 * List prices (standard tier, USD per million tokens) of current OpenAI and Anthropic models as of
 * {@link DEFAULT_PRICES_DATE}. A model is matched by its name, or by the longest name here that
 * begins it (`gpt-4o-2024-08-06` → `gpt-4o`, `claude-sonnet-4-5-20250929` → `claude-sonnet-4-5`).
 */
export const DEFAULT_PRICES: PriceTable = Object.freeze({
  'gpt-5': price(1.25, 10, 0.125),
  'gpt-5-mini': price(0.25, 2, 0.025),
  'gpt-5-nano': price(0.05, 0.4, 0.005),
  'gpt-4.1': price(2, 8, 0.5),
  'gpt-4.1-mini': price(0.4, 1.6, 0.1),
  'gpt-4.1-nano': price(0.1, 0.4, 0.025),
  'gpt-4o': price(2.5, 10, 1.25),
  'gpt-4o-mini': price(0.15, 0.6, 0.075),
  o3: price(2, 8, 0.5),
  'o4-mini': price(1.1, 4.4, 0.275),
  'claude-opus-4-5': price(5, 25, 0.5),
  'claude-opus-4-1': price(15, 75, 1.5),
  'claude-opus-4': price(15, 75, 1.5),
  'claude-sonnet-4-5': price(3, 15, 0.3),
  'claude-sonnet-4': price(3, 15, 0.3),
  'claude-3-7-sonnet': price(3, 15, 0.3),
  'claude-haiku-4-5': price(1, 5, 0.1),
  'claude-3-5-haiku': price(0.8, 4, 0.08),
});

function price(inputPerMTok: number, outputPerMTok: number, cachedInputPerMTok: number): ModelPrice {
  return Object.freeze({ inputPerMTok, outputPerMTok, cachedInputPerMTok });
}

/** A manager's prices: the defaults, merged with or replaced by `setPrices`. */
export class Prices {
  private table = new Map<string, ModelPrice>(Object.entries(DEFAULT_PRICES));
  /** Resolved names (`gpt-4o-2024-08-06`), so that the prefix search runs once per name. */
  private readonly resolved = new Map<string, ModelPrice | null>();
  /** True once `setPrices` was called: calls then track their spend even without a budget or token cap. */
  inUse = false;

  set(prices: unknown, options: { readonly replace?: boolean } = {}): void {
    const checked = checkPrices(prices);
    if (options.replace === true) this.table = checked;
    else for (const [model, value] of checked) this.table.set(model, value);
    this.resolved.clear();
    this.inUse = true;
  }

  /** The price of `model`, exactly or by the longest known prefix; null when unknown. */
  of(model: string): ModelPrice | null {
    let found = this.resolved.get(model);
    if (found !== undefined) return found;
    found = this.table.get(model) ?? null;
    if (found === null) {
      let best = '';
      for (const name of this.table.keys()) if (name.length > best.length && model.startsWith(name)) best = name;
      found = best === '' ? null : this.table.get(best)!;
    }
    if (this.resolved.size >= 1_000) this.resolved.clear();
    this.resolved.set(model, found);
    return found;
  }

  /** USD for these tokens on `model`; 0 when the model is unknown or not given. */
  usd(model: string | undefined, input: number, output: number, cachedInput: number): number {
    return model === undefined ? 0 : priced(this.of(model), input, output, cachedInput);
  }

  toJSON(): Record<string, ModelPrice> {
    return Object.fromEntries(this.table);
  }
}

/** USD for these tokens at price `p` (0 when null: the model is unknown). */
function priced(p: ModelPrice | null, input: number, output: number, cachedInput: number): number {
  if (p === null) return 0;
  const cached = Math.min(cachedInput, input);
  return ((input - cached) * p.inputPerMTok + cached * (p.cachedInputPerMTok ?? p.inputPerMTok) + output * p.outputPerMTok) / 1e6;
}

/** Checks a price table as `setPrices` does (ConfigError naming the field), without changing anything. */
export function checkPrices(prices: unknown): Map<string, ModelPrice> {
  if (typeof prices !== 'object' || prices === null || Array.isArray(prices)) throw new ConfigError('setPrices', prices, 'must be an object of { [model]: { inputPerMTok, outputPerMTok, cachedInputPerMTok? } }');
  const checked = new Map<string, ModelPrice>();
  for (const [model, value] of Object.entries(prices)) checked.set(model, checkPrice(model, value));
  return checked;
}

function checkPrice(model: string, value: unknown): ModelPrice {
  if (model === '') throw new ConfigError('setPrices', model, 'model names must be non-empty');
  if (typeof value !== 'object' || value === null) throw new ConfigError(`setPrices.${model}`, value, 'must be { inputPerMTok, outputPerMTok, cachedInputPerMTok? }');
  const { inputPerMTok, outputPerMTok, cachedInputPerMTok } = value as Record<string, unknown>;
  const usd = (field: string, v: unknown): number => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new ConfigError(`setPrices.${model}.${field}`, v, 'must be a finite number of USD per million tokens >= 0');
    return v;
  };
  const checked = { inputPerMTok: usd('inputPerMTok', inputPerMTok), outputPerMTok: usd('outputPerMTok', outputPerMTok) };
  return Object.freeze(cachedInputPerMTok === undefined ? checked : { ...checked, cachedInputPerMTok: usd('cachedInputPerMTok', cachedInputPerMTok) });
}
