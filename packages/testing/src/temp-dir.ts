import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A fresh directory under the OS temp dir, removed with everything in it after the file's tests. */
export function useTempDir(label = 'test'): { readonly path: string; sub(name: string): string } {
  const path = mkdtempSync(join(tmpdir(), `regionstore-${label}-`));
  afterAll(() => rmSync(path, { recursive: true, force: true }));
  let counter = 0;
  return {
    path,
    sub(name: string) {
      return join(path, `${name}-${counter++}`);
    },
  };
}
