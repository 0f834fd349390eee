#!/usr/bin/env bash
# Packs the package, installs the tarball in an empty TypeScript project with none of the optional
# peers (ioredis, ...) and compiles a consumer against the published types with skipLibCheck: false,
# under both decorator modes (what a user without skipLibCheck sees).
set -euo pipefail
source "$(dirname "$0")/packed-project.sh" # sets root, work (the current folder, removed at exit) and tarball
mkdir -p node_modules/@types
ln -s "$root/node_modules/typescript" node_modules/typescript
ln -s "$root/node_modules/@types/node" node_modules/@types/node
cat > consumer.ts <<'TS'
import * as floodgate from 'floodgate';
import { ServiceType, throttled, unifiedErrorHandling, ThrottleManager, type StatusReport, type ThrottleConfig } from 'floodgate';
const manager = new ThrottleManager({ env: {} });
class Client {
  @throttled(ServiceType.LLM_API, { manager, endpoint: 'x' })
  @unifiedErrorHandling(ServiceType.LLM_API, { manager })
  async call(text: string): Promise<number> {
    return text.length;
  }
}
const config: ThrottleConfig = manager.getConfig(ServiceType.LLM_API);
const report: StatusReport = manager.getStatusReport();
// The status routes' entry points: Express and Fastify are optional peers, their types absent here.
import { createStatusHandler, type StatusHandler } from 'floodgate/http';
import { statusRouter } from 'floodgate/express';
import { statusPlugin, type StatusPluginOptions } from 'floodgate/fastify';
const status: StatusHandler = createStatusHandler({ prefix: '/traffic-control', manager });
const pluginOptions: StatusPluginOptions = { manager, authorize: (request) => request.headers['x-admin'] === 'yes' };
// The inbound limiter's entry points, the same way.
import { createLimiter, type LimiterOptions } from 'floodgate/http';
import { limiterMiddleware } from 'floodgate/express';
import { limiterPlugin, type LimiterPluginOptions } from 'floodgate/fastify';
const limiterOptions: LimiterOptions = { manager, groups: { '/api/*': { requestsPerMinute: 60 } }, headers: 'draft-8' };
const limiter = createLimiter(limiterOptions);
const fastifyLimiter: LimiterPluginOptions = { manager, keys: { actor: (request) => request.headers['x-user'] as string | undefined } };
// Fleet mode: the client's type is floodgate's own (neither ioredis nor redis is installed here).
declare const client: floodgate.RedisClient;
const store = new floodgate.RedisStore({ client, prefix: 'app:' } satisfies floodgate.RedisStoreOptions);
// The metrics entry points: prom-client and @opentelemetry/api are optional peers, their types absent here.
import { collectMetrics, type PrometheusRegistry } from 'floodgate/prometheus';
import { instrument, type InstrumentOptions } from 'floodgate/otel';
const registry: PrometheusRegistry = { registerMetric() {}, getSingleMetric: () => undefined, removeSingleMetric() {} };
const metrics = collectMetrics(manager, { registry, prefix: 'app_floodgate_' });
const otelOptions: InstrumentOptions = { maxSeries: 100 };
// The undici interceptor: undici is an optional peer, its types absent here.
import { floodgateInterceptor, type InterceptorOptions } from 'floodgate/undici';
const interceptor = floodgateInterceptor({ manager, provider: 'openai', routes: ['/v1/*'] } satisfies InterceptorOptions);
export { Client, config, report, floodgate, store, status, statusRouter, statusPlugin, pluginOptions, limiter, limiterMiddleware, limiterPlugin, fastifyLimiter, metrics, instrument, otelOptions, interceptor };

TS
if [ -e node_modules/ioredis ] || [ -e node_modules/redis ]; then echo "an optional peer was installed" >&2; exit 1; fi
for mode in standard legacy; do
  legacy=$([ "$mode" = legacy ] && echo true || echo false)
  cat > "tsconfig.$mode.json" <<JSON
{ "compilerOptions": { "target": "ES2022", "module": "NodeNext", "moduleResolution": "NodeNext", "strict": true,
  "skipLibCheck": false, "noEmit": true, "types": ["node"], "experimentalDecorators": $legacy, "emitDecoratorMetadata": $legacy },
  "files": ["consumer.ts"] }
JSON
  node_modules/typescript/bin/tsc -p "tsconfig.$mode.json"
  echo "consumer types ok ($mode decorators, skipLibCheck false, no optional peer installed)"
done
