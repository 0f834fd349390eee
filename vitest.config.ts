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
  floodgate: source('./src/index.ts'),
};

// Every test file runs twice: once with standard (TC39) decorators and once with
// TypeScript's `experimentalDecorators`, the two modes users compile with.
const decoratorModes = [
  { name: 'tc39', experimentalDecorators: false },
  { name: 'legacy', experimentalDecorators: true },
] as const;

export default defineConfig({
  test: {
    reporters: ['default', './scripts/summary-reporter.mjs'],
    projects: decoratorModes.map((mode) => ({
      resolve: { alias },
      esbuild: {
        target: 'es2022',
        tsconfigRaw: {
          compilerOptions: {
            experimentalDecorators: mode.experimentalDecorators,
            useDefineForClassFields: true,
          },
        },
      },
      test: {
        name: mode.name,
        include: ['test/**/*.test.ts'],
        // Inlined so that a test can give it the faked clock (its rotation timer comes from 'timers').
        server: { deps: { inline: ['rotating-file-stream'] } },
        environment: 'node',
        restoreMocks: true,
        unstubEnvs: true,
      },
    })),
  },
});
