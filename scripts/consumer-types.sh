#!/usr/bin/env bash
# Packs the package, installs the tarball in an empty TypeScript project with none of the optional
# peers (ioredis, ...) and compiles a consumer against the published types with skipLibCheck: false,
# under both decorator modes (what a user without skipLibCheck sees).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
tarball="$(bash "$root/scripts/pack-install.sh" "$work")"
cd "$work"
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
// The metrics entry points: prom-client and @opentelemetry/api are optional peers, their types absent here.
import { collectMetrics, type PrometheusRegistry } from 'floodgate/prometheus';
import { instrument, type InstrumentOptions } from 'floodgate/otel';
const registry: PrometheusRegistry = { registerMetric() {}, getSingleMetric: () => undefined, removeSingleMetric() {} };
const metrics = collectMetrics(manager, { registry, prefix: 'app_floodgate_' });
const otelOptions: InstrumentOptions = { maxSeries: 100 };
export { Client, config, report, floodgate, status, statusRouter, statusPlugin, pluginOptions, metrics, instrument, otelOptions };
TS
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
