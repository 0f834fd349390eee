import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Tests import 'floodgate' exactly as users do; it resolves to the source here.
// Subpaths first: an alias also matches `floodgate/...`, and the first match wins.
const source = (path: string): string => fileURLToPath(new URL(path, import.meta.url));
const alias = {
  'floodgate/http': source('./src/http/index.ts'),
  'floodgate/express': source('./src/http/express.ts'),
  'floodgate/fastify': source('./src/http/fastify.ts'),
  'floodgate/prometheus': source('./src/metrics/prometheus.ts'),
  'floodgate/otel': source('./src/metrics/otel.ts'),
  'floodgate/undici': source('./src/outbound/undici.ts'),
  floodgate: source('./src/index.ts'),
};

// Every test file runs twice: once with standard (TC39) decorators and once with
// TypeScript's `experimentalDecorators`, the two modes users compile with.
const decoratorModes = [
  { name: 'tc39', experimentalDecorators: false },
  { name: 'legacy', experimentalDecorators: true },
] as const;

// The fleet tests run with every Redis client floodgate supports. In the two projects above
// they use ioredis 5; these projects run them again with each other client, under standard
// decorators only (the store tests declare no decorator). The worker-process tests (4 processes
// each, the slowest) run with one client of each library: ioredis 5 above, node-redis 6 here.
// The cluster test runs both libraries' cluster clients itself.
const clientRuns = [
  { client: 'ioredis6', include: ['test/stores/redis-store.test.ts'] },
  { client: 'node-redis5', include: ['test/stores/redis-store.test.ts'] },
  { client: 'node-redis6', include: ['test/stores/redis-store.test.ts', 'test/stores/fleet-processes.test.ts'] },
] as const;

function project(name: string, experimentalDecorators: boolean, include: readonly string[], env: Record<string, string> = {}) {
  return {
    resolve: { alias },
    esbuild: {
      target: 'es2022',
      tsconfigRaw: { compilerOptions: { experimentalDecorators, useDefineForClassFields: true } },
    },
    test: {
      name,
      include: [...include],
      // Inlined so that a test can give it the faked clock (its rotation timer comes from 'timers').
      server: { deps: { inline: ['rotating-file-stream'] } },
      environment: 'node' as const,
      // Tests with real servers and processes wait with deadlines of their own (until, waitFor);
      // on a busy machine vitest's 5 s default would cut them short first. Fake-timer tests
      // never come near it.
      testTimeout: 30_000,
      restoreMocks: true,
      unstubEnvs: true,
      env,
    },
  };
}

export default defineConfig({
  test: {
    reporters: ['default', './scripts/summary-reporter.mjs'],
    projects: [
      ...decoratorModes.map((mode) => project(mode.name, mode.experimentalDecorators, ['test/**/*.test.ts'])),
      ...clientRuns.map((run) => project(`tc39 ${run.client}`, false, run.include, { FLOODGATE_TEST_CLIENT: run.client })),
    ],
  },
});
