#!/usr/bin/env node
import { CommanderError } from 'commander';
import { buildProgram } from './program';

buildProgram({
  out: (text) => process.stdout.write(text),
  ...(process.stderr.isTTY ? { progress: process.stderr } : {}),
})
  .parseAsync(process.argv)
  .catch((err: unknown) => {
    if (err instanceof CommanderError) process.exit(err.exitCode);
    const e = err as { code?: string; message?: string };
    process.stderr.write(`error${e.code ? ` [${e.code}]` : ''}: ${e.message ?? String(err)}\n`);
    process.exit(1);
  });
