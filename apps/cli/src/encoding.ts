import { InvalidArgumentError } from '@regionstore/core';

/** How keys and values are written on the command line and printed: `--hex`, `--base64`, else UTF-8. */
export type Encoding = 'utf8' | 'hex' | 'base64';

// Buffer.from skips what it cannot decode: checked whole, a typo is an error, not other bytes.
const WHOLE: Record<Exclude<Encoding, 'utf8'>, RegExp> = {
  hex: /^(?:[0-9a-fA-F]{2})*$/,
  base64: /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/,
};

/** The bytes an argument stands for; `what` names it in the error. */
export function bytesFrom(text: string, encoding: Encoding, what: string): Buffer {
  if (encoding !== 'utf8' && !WHOLE[encoding].test(text)) {
    throw new InvalidArgumentError(`${what} '${text}' is not ${encoding}`, { [what]: text, encoding });
  }
  return Buffer.from(text, encoding);
}

/** The encoding `--hex` / `--base64` ask for; both at once is an error. */
export function encodingOf(options: { hex?: boolean; base64?: boolean }): Encoding {
  if (options.hex && options.base64) {
    throw new InvalidArgumentError('--hex and --base64 exclude each other: keys and values use one encoding');
  }
  return options.hex ? 'hex' : options.base64 ? 'base64' : 'utf8';
}
