import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const script = fileURLToPath(new URL('./exits-by-itself.ts', import.meta.url));

describe('process lifetime', () => {
  it('a process that used floodgate exits by itself once no call waits (no close())', () => {
    const child = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', timeout: 20_000 });
    expect(child.error).toBeUndefined();
    expect(child.stderr).toBe('');
    expect(child.status).toBe(0);
    const output = JSON.parse(child.stdout.trim()) as { results: number[] };
    // The waiting calls completed first: the exit did not cut them off.
    expect(output.results).toEqual([0, 1, 2]);
  });
});
