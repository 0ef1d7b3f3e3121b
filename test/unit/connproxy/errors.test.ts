// Requests inside an intercepted CONNECT are parsed by a server that never listens and handles
// 'clientError' itself: a malformed request there must still get the answer Node gives on the
// listening server, not a dropped connection.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { createLogger } from '../../../machinery/log.js';
import { answerClientError } from '../../../connproxy/errors.js';
import { rawRequest } from '../helpers/raw.js';

function send(server: Server, head: string): Promise<string> {
  return rawRequest((server.address() as AddressInfo).port, head);
}

describe('connproxy/errors answerClientError', () => {
  let server: Server;

  before(async () => {
    server = createServer(() => {
      throw new Error('no request here is valid');
    });
    server.on('clientError', answerClientError(createLogger({ level: 'error', write: () => undefined })));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });

  after(() => {
    server.close();
  });

  it('answers a malformed head with 400 and closes', async () => {
    expect(await send(server, 'GET / HTTP/1.1\r\nHost: x\r\nX-\x00: 1\r\n\r\n')).to.equal(
      'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n',
    );
  });

  it('answers an oversized head with 431 and closes', async () => {
    const head = `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`;
    expect(await send(server, head)).to.equal(
      'HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n',
    );
  });
});
