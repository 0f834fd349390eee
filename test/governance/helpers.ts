/** Shared by the governance tests: a temporary directory per test and ledger-file edits. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import type { Ledger, LedgerEvents } from 'floodgate';

const made: string[] = [];
afterEach(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A fresh directory, removed after the test. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'floodgate-ledger-'));
  made.push(dir);
  return dir;
}

/** The file's complete lines (without the trailing newline). */
export function readLines(path: string): string[] {
  return readFileSync(path, 'utf8').split('\n').slice(0, -1);
}

export function writeLines(path: string, lines: readonly string[]): void {
  writeFileSync(path, lines.map((line) => `${line}\n`).join(''));
}

/** Resolves with the ledger's next `event`. */
export function next<E extends keyof LedgerEvents>(ledger: Ledger, event: E): Promise<LedgerEvents[E][0]> {
  return new Promise((resolve) => ledger.once(event, ((value: LedgerEvents[E][0]) => resolve(value)) as never));
}
