import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Tests import 'floodgate' exactly as users do; it resolves to the source here.
// Subpaths first: an alias also matches the paths below its key.
const alias = {
  'floodgate/prometheus': fileURLToPath(new URL('./src/metrics/prometheus.ts', import.meta.url)),
  'floodgate/otel': fileURLToPath(new URL('./src/metrics/otel.ts', import.meta.url)),
  floodgate: fileURLToPath(new URL('./src/index.ts', import.meta.url)),
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
