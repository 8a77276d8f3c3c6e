import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { InvalidConfigError } from '@regionstore/core';

export const ENV_PREFIX = 'REGIONSTORE_';

export interface ConfigIssue {
  path: string;
  message: string;
}

export interface LoadConfigOptions {
  /** A YAML or JSON file; YAML unless the name ends in `.json`. */
  file?: string;
  /** Environment to read `REGIONSTORE_*` overrides from (default: process.env). */
  env?: NodeJS.ProcessEnv;
  /** Values from code (CLI flags); applied last. */
  overrides?: Record<string, unknown>;
}

/**
 * Loads a config from file, then `REGIONSTORE_*` env overrides, then code overrides, and validates
 * it with the schema. Env names map to paths: `__` separates levels, `_` starts a camelCase word,
 * so `REGIONSTORE_WAL__MIN_REPLICAS=2` sets `wal.minReplicas`. Values are read as JSON when they
 * parse (numbers, booleans, arrays) and as strings otherwise.
 *
 * Every problem is reported at once in an InvalidConfigError whose details list `{path, message}`.
 */
export function loadConfig<S extends z.ZodType>(schema: S, options: LoadConfigOptions = {}): z.output<S> {
  const fromFile = options.file ? readConfigFile(options.file) : {};
  const merged = deepMerge(
    deepMerge(fromFile, envOverrides(options.env ?? process.env)),
    options.overrides ?? {},
  );
  return parseConfig(schema, merged, options.file);
}

export function parseConfig<S extends z.ZodType>(schema: S, raw: unknown, source?: string): z.output<S> {
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  const issues: ConfigIssue[] = result.error.issues.map((issue) => ({
    path: issue.path.length ? issue.path.map(String).join('.') : '(root)',
    message: issue.message,
  }));
  const where = source ? ` (from ${source} and ${ENV_PREFIX}* environment)` : '';
  const lines = issues.map((issue) => `  - ${issue.path}: ${issue.message}`).join('\n');
  throw new InvalidConfigError(`invalid configuration${where}:\n${lines}`, { issues });
}

function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new InvalidConfigError(`cannot read config file ${file}: ${(err as Error).message}`, { file });
  }
  let parsed: unknown;
  try {
    parsed = extname(file) === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new InvalidConfigError(`config file ${file} is not valid: ${(err as Error).message}`, { file });
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new InvalidConfigError(`config file ${file} must hold an object at the top level`, { file });
  }
  return parsed as Record<string, unknown>;
}

function envOverrides(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || value === undefined) continue;
    const path = name
      .slice(ENV_PREFIX.length)
      .split('__')
      .map((part) => part.toLowerCase().replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase()));
    if (path.some((part) => part === '')) continue;
    setPath(out, path, parseEnvValue(value));
  }
  return out;
}

function parseEnvValue(value: string): unknown {
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const part of path.slice(0, -1)) {
    const next = node[part];
    if (!isPlainObject(next)) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !Buffer.isBuffer(value);
}

function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const current = out[key];
    out[key] = isPlainObject(current) && isPlainObject(value) ? deepMerge(current, value) : value;
  }
  return out;
}
