import { connect } from 'node:net';

/**
 * Sends one request exactly as written (no client normalising the path) and returns the status line's
 * code and the headers: how an attacker reaches a server.
 */
export function rawRequest(
  address: string,
  method: string,
  target: string,
  body?: string,
): Promise<{ status: number; head: string }> {
  const { hostname, port } = new URL(address);
  const payload = body ?? '';
  const request =
    `${method} ${target} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nConnection: close\r\n` +
    (body === undefined
      ? ''
      : `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(payload)}\r\n`) +
    `\r\n${payload}`;
  return new Promise((resolve, reject) => {
    // write, not end: a half-closed socket may be dropped before a slow handler answers
    const socket = connect(Number(port), hostname, () => socket.write(request));
    let reply = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk) => (reply += chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const head = reply.split('\r\n\r\n')[0] ?? '';
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), head });
    });
  });
}

/** The spellings of `path` a router may decode to the same route, or a naive prefix check may miss. */
export function pathVariants(path: string, host: string): string[] {
  const [, first = '', ...rest] = path.split('/');
  const tail = rest.length > 0 ? `/${rest.join('/')}` : '';
  const encodeAll = [...first].map((c) => `%${c.charCodeAt(0).toString(16)}`).join('');
  return [
    path,
    `/%${first.charCodeAt(0).toString(16)}${first.slice(1)}${tail}`, // percent-encoded first letter
    `/${encodeAll}${tail}`, // every letter encoded
    `/%25${first.charCodeAt(0).toString(16)}${first.slice(1)}${tail}`, // double-encoded
    `/${first.toUpperCase()}${tail}`, // other case
    `/${first[0]!.toUpperCase()}${first.slice(1)}${tail}`,
    `/x/../${first}${tail}`, // dot segments
    `/${first}/.${tail}`,
    `//${first}${tail}`,
    `${path}/`, // trailing slash
    `${path}?x=1`,
    `/${first}${tail.replace('/', '%2F')}`, // encoded separator
    `http://${host}${path}`, // absolute form
  ];
}
