// Runs last (mocha loads files in name order): after every other integration test has pushed
// known passwords and tokens through the server, none of them may appear in its log.

import { expect } from 'chai';
import { knownSecrets, serverLogText } from '../helpers/env.js';

describe('secrets never reach the logs', function () {
  it('no test password or token appears anywhere in the server log', function () {
    const log = serverLogText();
    expect(log.length).to.be.greaterThan(0);
    expect(knownSecrets.length).to.be.greaterThan(0);
    for (const secret of knownSecrets) {
      expect(log.includes(secret), `a known secret leaked into the log`).to.equal(false);
      expect(log.includes(Buffer.from(secret).toString('base64'))).to.equal(false);
    }
    expect(log).not.to.match(/Basic [A-Za-z0-9+/=]{8,}/);
    expect(log).not.to.match(/Bearer [A-Za-z0-9._-]{8,}/);
  });
});
