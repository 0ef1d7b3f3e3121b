// Reading a small JSON request body (machinery/body.ts), as the admission webhooks do: in pieces,
// and refused with the right Status when it is not JSON, late, cut short or too large.
import type { IncomingMessage } from 'node:http';
import { PassThrough, Readable } from 'node:stream';
import { expect } from 'chai';
import { hasBody, readJsonBody } from '../../../machinery/body.js';
import { StatusError } from '../../../machinery/status.js';

const roomy = { limit: 1024 * 1024, deadlineMs: 10_000 };
const tiny = { limit: 10, deadlineMs: 10_000, tooLargeHint: 'send less' };

describe('machinery/body readJsonBody', () => {
  const req = (chunks: string[], headers: Record<string, string> = {}): IncomingMessage =>
    Object.assign(Readable.from(chunks.map((c) => Buffer.from(c))), {
      headers,
    }) as unknown as IncomingMessage;

  async function statusOf(p: Promise<unknown>): Promise<StatusError> {
    try {
      await p;
    } catch (err) {
      expect(err).to.be.instanceOf(StatusError);
      return err as StatusError;
    }
    return expect.fail('expected a StatusError');
  }

  it('parses a body that arrives in pieces', async () => {
    expect(await readJsonBody(req(['{"a":', '[1,2]}']), roomy)).to.deep.equal({ a: [1, 2] });
  });

  it('refuses a body that is not JSON with 400', async () => {
    expect((await statusOf(readJsonBody(req(['{nope']), roomy))).code).to.equal(400);
  });

  it('refuses a body that does not arrive within the deadline with 408, and stops listening to it', async () => {
    const stalled = Object.assign(new PassThrough(), { headers: {} });
    stalled.write('{"a":');
    const err = await statusOf(
      readJsonBody(stalled as unknown as IncomingMessage, { limit: 1024, deadlineMs: 20 }),
    );
    expect(err.code).to.equal(408);
    expect(err.status.reason).to.equal('Timeout');
    expect(stalled.listenerCount('data')).to.equal(0);
    expect(stalled.listenerCount('end')).to.equal(0);
  });

  it('refuses a body whose sender goes away with 400', async () => {
    const gone = Object.assign(new PassThrough(), { headers: {} });
    gone.write('{"a":');
    const p = readJsonBody(gone as unknown as IncomingMessage, { limit: 1024, deadlineMs: 10_000 });
    gone.destroy();
    expect((await statusOf(p)).code).to.equal(400);
  });

  it('refuses a body over the limit with 413, by Content-Length or by what arrives, saying how to send it', async () => {
    for (const body of [req(['{}'], { 'content-length': '100' }), req(['{"a":"', 'x'.repeat(20), '"}'])]) {
      const err = await statusOf(readJsonBody(body, tiny));
      expect(err.code).to.equal(413);
      expect(err.message).to.equal('the request body exceeds 10 bytes; send less');
    }
  });
});

describe('machinery/body hasBody', () => {
  const cases: [Record<string, string>, boolean][] = [
    [{}, false],
    [{ 'content-length': '0' }, false],
    [{ 'content-length': '12' }, true],
    [{ 'transfer-encoding': 'chunked' }, true],
  ];
  for (const [headers, expected] of cases) {
    it(`${JSON.stringify(headers)}: ${expected}`, () => {
      expect(hasBody(headers)).to.equal(expected);
    });
  }
});
