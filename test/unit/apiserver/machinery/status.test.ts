// A Status written straight to a socket (a CONNECT nobody serves) must still be one well-framed
// HTTP/1.1 response that ends the connection.
import { expect } from 'chai';
import { methodNotAllowed, rawStatusResponse } from '../../../../apiserver/machinery/status.js';

describe('apiserver/machinery/status rawStatusResponse', () => {
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
