// The README is the reference: these checks keep its tables in step with the code.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CUSTOM_SERVICE_PRESET, DEFAULT_ERROR_PATTERNS, SERVICE_PRESETS, ServiceType, type ThrottleConfig } from 'floodgate';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const tableRow = (first: string): string[] => {
  const line = readme.split('\n').find((l) => l.startsWith(`| ${first} |`) || l.startsWith(`| \`${first}\` |`));
  if (line === undefined) throw new Error(`README has no table row for ${first}`);
  return line.split('|').slice(2, -1).map((cell) => cell.trim());
};

describe('README', () => {
  it('lists every default error pattern with its category and retry decision', () => {
    for (const pattern of DEFAULT_ERROR_PATTERNS) {
      const [category, severity, retry] = tableRow(pattern.name);
      expect([category, severity, retry]).toEqual([pattern.category, pattern.severity, pattern.retryable ? 'yes' : 'no']);
    }
  });

  it('documents every configuration field', () => {
    for (const field of Object.keys(CUSTOM_SERVICE_PRESET)) expect(tableRow(`\`${field}\``)).toHaveLength(2);
  });

  it('shows the preset values the code uses', () => {
    const columns = [ServiceType.LLM_API, ServiceType.SOCIAL_MEDIA, ServiceType.EXCHANGE_API, ServiceType.WEB_SCRAPER, ServiceType.INTERNAL_API];
    const parse = (cell: string): number => {
      if (cell === 'off') return 0;
      const match = /^([\d.,]+)\s*(ms|s|min|h)?$/.exec(cell);
      if (!match) throw new Error(`unreadable preset cell ${cell}`);
      const value = Number(match[1]!.replace(/,/g, ''));
      return value * ({ ms: 1, s: 1_000, min: 60_000, h: 3_600_000 }[match[2] ?? ''] ?? 1);
    };
    for (const field of Object.keys(CUSTOM_SERVICE_PRESET) as (keyof ThrottleConfig)[]) {
      const cells = tableRow(field).map(parse);
      expect(cells).toEqual([...columns.map((service) => SERVICE_PRESETS[service][field]), CUSTOM_SERVICE_PRESET[field]]);
    }
  });
});
