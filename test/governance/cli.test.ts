/** `floodgate verify-ledger <path>`: the CLI run as users run it (node on src/cli.ts through tsx). */
import { spawnSync } from 'node:child_process';
import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createLedger, verifyLedger } from 'floodgate';
import { tempDir } from './helpers.js';

const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));
const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { bin: Record<string, string> };

function run(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const { status, stdout, stderr } = spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], { encoding: 'utf8', timeout: 30_000 });
  return { status, stdout, stderr };
}

async function ledgerOf(count: number): Promise<string> {
  const path = join(tempDir(), 'decisions.jsonl');
  const ledger = createLedger({ path });
  for (let n = 1; n <= count; n++) ledger.record({ scope: 's', decision: 'refuse', reason: 'queue_full', n });
  await ledger.close();
  return path;
}

describe('floodgate verify-ledger', () => {
  it('is the package bin, built to dist/cli.js', () => {
    expect(pkg.bin).toEqual({ floodgate: './dist/cli.js' });
    expect(readFileSync(CLI, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
  });

  it('prints verifyLedger’s result as one JSON line; exit 0 when intact', async () => {
    const path = await ledgerOf(5);
    const { status, stdout } = run('verify-ledger', path);
    expect(status).toBe(0);
    expect(stdout.endsWith('\n') && stdout.trim().split('\n')).toHaveLength(1);
    expect(JSON.parse(stdout)).toEqual(await verifyLedger(path));
  });

  it('exit 1 when not intact (a torn last line here), with the same result', async () => {
    const path = await ledgerOf(3);
    appendFileSync(path, '{"seq":4');
    const { status, stdout } = run('verify-ledger', path);
    expect(status).toBe(1);
    expect(JSON.parse(stdout)).toEqual({ ok: false, records: 3, firstBadSeq: 4, reason: 'torn', lastHash: expect.stringMatching(/^[0-9a-f]{64}$/) });
  });

  it('exit 2 with the usage on stderr for a wrong command line; exit 2 for a file it cannot read', () => {
    for (const args of [[], ['verify-ledger'], ['verify'], ['verify-ledger', 'a', 'b']]) {
      const { status, stdout, stderr } = run(...args);
      expect(status, args.join(' ')).toBe(2);
      expect(stdout).toBe('');
      expect(stderr).toContain('usage: floodgate verify-ledger <path>');
    }
    const missing = run('verify-ledger', join(tempDir(), 'missing.jsonl'));
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('ENOENT');
  });
});
