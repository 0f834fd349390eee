// Runs every examples/*.ts as a user would (tsx, importing 'floodgate' from dist) and
// fails when one exits non-zero or runs longer than a minute.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';

const files = readdirSync('examples').filter((file) => file.endsWith('.ts')).sort();
let failed = 0;
for (const file of files) {
  const started = Date.now();
  const run = spawnSync(process.execPath, ['--import', 'tsx', `examples/${file}`], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000, encoding: 'utf8' });
  const ok = run.status === 0;
  if (!ok) failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} examples/${file} (${Date.now() - started} ms)`);
  if (!ok) console.log(run.stdout, run.stderr, run.error ?? '');
}
console.log(`${files.length - failed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
