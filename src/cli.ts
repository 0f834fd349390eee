#!/usr/bin/env node
/**
 * `floodgate verify-ledger <path>`: prints verifyLedger's result as one JSON line.
 * Exit status: 0 intact, 1 not intact, 2 usage error or unreadable file.
 */
import { verifyLedger } from './governance/verify.js';

const USAGE = 'usage: floodgate verify-ledger <path>';

async function main(args: readonly string[]): Promise<number> {
  const [command, path, ...rest] = args;
  if (command === '--help' || command === '-h') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (command !== 'verify-ledger' || path === undefined || path === '' || rest.length > 0) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  try {
    const result = await verifyLedger(path);
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return result.ok ? 0 : 1;
  } catch (error) {
    process.stderr.write(`floodgate: cannot read ${path}: ${(error as Error).message}\n`);
    return 2;
  }
}

process.exitCode = await main(process.argv.slice(2));
