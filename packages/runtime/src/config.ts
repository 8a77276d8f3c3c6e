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
  /**
   * Names every key the file may hold, where `schema` leaves sections to the packages that parse
   * them later (default: `schema`).
   */
  keys?: z.ZodType;
}

/**
 * Loads a config from file, then `REGIONSTORE_*` env overrides, then code overrides, and validates
 * it with the schema. Env names map to paths: `__` separates levels, `_` starts a camelCase word,
 * so `REGIONSTORE_WAL__MIN_REPLICAS=2` sets `wal.minReplicas`. Values are read as JSON when they
 * parse (numbers, booleans, arrays) and as strings otherwise.
 *
 * Every problem is reported at once in an InvalidConfigError whose details list `{path, message}`.
 * A key in the file that the schema does not know is one (a misspelt `wal.durabilty` would otherwise
 * leave the default in force without a word); `REGIONSTORE_*` variables it does not know are not,
 * since one environment often serves several processes (a metasrv's and a node's keys differ).
 */
export function loadConfig<S extends z.ZodType>(schema: S, options: LoadConfigOptions = {}): z.output<S> {
  const fromFile = options.file ? readConfigFile(options.file) : {};
  const merged = deepMerge(
    deepMerge(fromFile, envOverrides(options.env ?? process.env)),
    options.overrides ?? {},
  );
  const unknown = unknownKeys(options.keys ?? schema, fromFile).map((path) => ({
    path,
    message: 'unknown key (misspelt, or not a setting of this process)',
  }));
  return parseConfig(schema, merged, options.file, unknown);
}

export function parseConfig<S extends z.ZodType>(
  schema: S,
  raw: unknown,
  source?: string,
  moreIssues: readonly ConfigIssue[] = [],
): z.output<S> {
  const result = schema.safeParse(raw);
  if (result.success && moreIssues.length === 0) return result.data;
  const issues: ConfigIssue[] = [
    ...moreIssues,
    ...(result.error?.issues ?? []).map((issue) => ({
      path: issue.path.length ? issue.path.map(String).join('.') : '(root)',
      message: issue.message,
    })),
  ];
  const where = source ? ` (from ${source} and ${ENV_PREFIX}* environment)` : '';
  const lines = issues.map((issue) => `  - ${issue.path}: ${issue.message}`).join('\n');
  throw new InvalidConfigError(`invalid configuration${where}:\n${lines}`, { issues });
}

/** What a zod schema node is, as far as finding the keys its objects name goes. */
interface SchemaDef {
  type: string;
  shape?: Record<string, z.ZodType>;
  catchall?: z.ZodType;
  innerType?: z.ZodType;
  in?: z.ZodType;
  element?: z.ZodType;
  getter?: () => z.ZodType;
}

const defOf = (schema: z.ZodType): SchemaDef => (schema as unknown as { _zod: { def: SchemaDef } })._zod.def;

/**
 * The dotted paths of `raw`'s keys that no object of `schema` names (zod's objects drop such keys
 * without a word). Objects that take any key (a catchall) and unions are not looked into.
 */
export function unknownKeys(schema: z.ZodType, raw: unknown, path: readonly string[] = []): string[] {
  const def = defOf(schema);
  switch (def.type) {
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'catch':
    case 'readonly':
    case 'nonoptional':
      return unknownKeys(def.innerType!, raw, path);
    case 'pipe':
      return unknownKeys(def.in!, raw, path);
    case 'lazy':
      return unknownKeys(def.getter!(), raw, path);
    case 'array':
      return Array.isArray(raw)
        ? raw.flatMap((item, i) => unknownKeys(def.element!, item, [...path, String(i)]))
        : [];
    case 'object': {
      if (!isPlainObject(raw) || (def.catchall && defOf(def.catchall).type !== 'never')) return [];
      const shape = def.shape!;
      return Object.entries(raw).flatMap(([key, value]) =>
        Object.hasOwn(shape, key)
          ? unknownKeys(shape[key]!, value, [...path, key])
          : [[...path, key].join('.')],
      );
    }
    default:
      return [];
  }
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
