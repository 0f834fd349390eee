/**
 * An in-process stand-in for an outside API, for the examples: it enforces its own
 * limit (429 with Retry-After past `perSecond` calls in a second), fails now and then
 * with 503, and can be taken down for an outage.
 */
export class ProviderError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'ProviderError';
  }
}

export class FakeProvider {
  calls = 0;
  down = false;
  private recent: number[] = [];

  constructor(
    private readonly perSecond: number,
    private readonly flakyEvery = 0,
  ) {}

  async complete(prompt: string): Promise<string> {
    this.calls++;
    const now = Date.now();
    this.recent = this.recent.filter((time) => time > now - 1_000);
    this.recent.push(now);
    await new Promise((resolve) => setTimeout(resolve, 20));
    if (this.down) throw new ProviderError(503, 'Service Unavailable: upstream outage');
    if (this.recent.length > this.perSecond) throw new ProviderError(429, 'Too Many Requests', { 'retry-after': '1' });
    if (this.flakyEvery > 0 && this.calls % this.flakyEvery === 0) throw new ProviderError(503, 'Service Unavailable');
    return `answer to "${prompt}"`;
  }
}
