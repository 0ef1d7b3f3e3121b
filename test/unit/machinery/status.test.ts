// A Status written straight to a socket (a CONNECT or an Upgrade request nobody serves) must
// still be one well-framed HTTP/1.1 response that ends the connection.
import { createServer } from 'node:http';
import { expect } from 'chai';
import { drain, listen } from '../../../machinery/lifecycle.js';
import { createLogger } from '../../../machinery/log.js';
import { badRequest, methodNotAllowed, rawStatusResponse, refuseHandOff } from '../../../machinery/status.js';
import { rawRequest } from '../helpers/raw.js';

describe('machinery/status rawStatusResponse', () => {
  it('frames the Status body with its byte length and closes the connection', () => {
    const text = rawStatusResponse(methodNotAllowed('CONNECT is not served — here'), { 'x-extra': 'yes' });
    const [head = '', body = ''] = text.split('\r\n\r\n');
    const [statusLine, ...lines] = head.split('\r\n');
    expect(statusLine).to.equal('HTTP/1.1 405 Method Not Allowed');
    expect(lines).to.include.members([
      'content-type: application/json',
      `content-length: ${Buffer.byteLength(body)}`,
      'x-extra: yes',
      'connection: close',
    ]);
    expect(JSON.parse(body)).to.include({ kind: 'Status', reason: 'MethodNotAllowed', code: 405 });
  });
});

describe('machinery/status refuseHandOff', () => {
  it('answers an Upgrade request handed over to it with the Status and closes', async () => {
    const server = createServer(() => {
      throw new Error('an Upgrade request must not be served as an ordinary one here');
    });
    server.on('upgrade', refuseHandOff(badRequest('upgrading the connection is not supported')));
    const port = await listen(server, 0, '127.0.0.1');
    try {
      const text = await rawRequest(
        port,
        'GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n',
      );
      expect(text).to.match(/^HTTP\/1\.1 400 Bad Request\r\n/);
      expect(JSON.parse(text.split('\r\n\r\n')[1] ?? '')).to.include({
        kind: 'Status',
        message: 'upgrading the connection is not supported',
      });
    } finally {
      await drain(server, 1_000, createLogger({ level: 'error', write: () => undefined }));
    }
  });
});
