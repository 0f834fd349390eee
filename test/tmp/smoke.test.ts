import { it, expect, vi } from 'vitest';
import { ThrottleManager, ServiceType } from 'floodgate';
it('smoke', async () => {
  const m = new ThrottleManager({ env: {} });
  for (const e of [{status:503},{status:429, headers:{'retry-after':'5'}},{status:400},{status:401},{code:'ECONNRESET'}, Object.assign(new Error('x'),{code:'ECONNRESET'})]) console.log(JSON.stringify(m.classifyError(e)));
  expect(await m.execute(ServiceType.LLM_API, async () => 1)).toBe(1);
});
