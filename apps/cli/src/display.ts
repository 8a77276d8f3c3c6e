/** How much of a key or value a table cell shows. */
const CELL_CHARS = 48;
const PRINTABLE = /^[\P{Cc}\t]*$/u;

/**
 * Bytes for a table cell: printable UTF-8 as text, anything else as hex (`0x…`); long ones cut, with
 * their full size (`--json` and `get` print them whole). Whitespace at either end goes as hex too: a
 * cell cannot show it (a region starting at the key " " showed as a blank).
 */
export function displayBytes(bytes: Buffer): string {
  const text = bytes.toString('utf8');
  const readable = PRINTABLE.test(text) && text.trim() === text && Buffer.from(text, 'utf8').equals(bytes);
  const shown = readable ? text : `0x${bytes.toString('hex')}`;
  if (shown.length <= CELL_CHARS) return shown;
  return `${shown.slice(0, CELL_CHARS)}… (${bytes.length} bytes)`;
}

/** A region's key range as `start .. end`, its open ends as `-∞` and `+∞`. */
export function displayRange(start: Buffer, end: Buffer): string {
  return `${start.length > 0 ? displayBytes(start) : '-∞'} .. ${end.length > 0 ? displayBytes(end) : '+∞'}`;
}

/** A region epoch as `v<version>/c<confVer>`. */
export function displayEpoch(epoch: unknown): string {
  const { version, confVer } = (epoch ?? {}) as { version?: number; confVer?: number };
  return `v${version ?? '?'}/c${confVer ?? '?'}`;
}

/** A size in MiB with one decimal (region sizes: RocksDB's estimate, not exact to the byte). */
export function displaySize(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}
