import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const repoRoot = join(__dirname, '..', '..');

/** Lints `source` as if it were the file at `path` (which need not exist), with the repo's config. */
function lint(path: string, source: string): { status: number | null; output: string } {
  const run = spawnSync(
    process.execPath,
    [join(repoRoot, 'node_modules', 'eslint', 'bin', 'eslint.js'), '--stdin', '--stdin-filename', path],
    { cwd: repoRoot, input: source, encoding: 'utf8' },
  );
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

describe('the layer rule (npm run lint)', () => {
  it('fails a wrong-way import and passes a right-way one', () => {
    const upward = lint(
      'packages/engine/src/wrong-way.ts',
      "import { WorkerGroup } from '@regionstore/worker-group';\nexport const group = WorkerGroup;\n",
    );
    expect(upward.status).toBe(1);
    expect(upward.output).toMatch(/layering: engine \(layer 2\) may import only lower layers/);

    const sideways = lint(
      'packages/supervisor/src/wrong-way.ts',
      "import { BackupTask } from '@regionstore/backup';\nexport const task = BackupTask;\n",
    );
    expect(sideways.status).toBe(1);

    const intoApp = lint(
      'packages/core/src/wrong-way.ts',
      "import { buildProgram } from '@regionstore/cli';\nexport const program = buildProgram;\n",
    );
    expect(intoApp.status).toBe(1);

    const downward = lint(
      'packages/worker-group/src/right-way.ts',
      "import { WriteBatch } from '@regionstore/engine';\nexport const batch = new WriteBatch();\n",
    );
    expect([downward.status, downward.output.trim()]).toEqual([0, '']);
  });
});
