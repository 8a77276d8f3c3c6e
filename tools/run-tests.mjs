// `npm test`: every project's jest suite through Nx, then one closing line with the totals.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const summaryDir = mkdtempSync(join(tmpdir(), 'regionstore-tests-'));
const extra = process.argv.slice(2);
const run = spawnSync('npx', ['nx', 'run-many', '-t', 'test', '--outputStyle=stream', ...extra], {
  stdio: 'inherit',
  env: { ...process.env, REGIONSTORE_TEST_SUMMARY_DIR: summaryDir, NX_DAEMON: 'false' },
});

let passed = 0;
let failed = 0;
let skipped = 0;
for (const file of readdirSync(summaryDir)) {
  const summary = JSON.parse(readFileSync(join(summaryDir, file), 'utf8'));
  passed += summary.passed;
  failed += summary.failed + summary.suitesFailed;
  skipped += summary.skipped;
}
rmSync(summaryDir, { recursive: true, force: true });

const status = run.status ?? 1;
if (status !== 0 && failed === 0) failed = 1;
console.log(`\ntests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(status);
