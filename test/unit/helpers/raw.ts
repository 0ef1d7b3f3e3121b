// One request written as raw bytes to a local server, for unit tests of what a server does with
// request heads no client library sends.
import { connect } from 'node:net';

/** Writes `head` on a fresh connection and resolves with all it reads until the server closes. */
export function rawRequest(port: number, head: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' }, () => socket.write(head));
    let text = '';
    socket.on('data', (c: Buffer) => (text += c.toString()));
    socket.once('close', () => {
      resolve(text);
    });
    socket.once('error', reject);
    socket.setTimeout(3_000, () =>
      socket.destroy(new Error(`no close within 3 s; read: ${JSON.stringify(text)}`)),
    );
  });
}
