// The mysql family's reading of a Connector address: host, port (3306 by default) and TLS, and
// refusals that name the problem without repeating the address (it may carry a credential). The
// probes themselves run against a real MariaDB in test/integration/mysql.test.ts.
import { expect } from 'chai';
import { parseMysqlAddress } from '../../../classapi/mysql/api.js';
import { StatusError } from '../../../machinery/status.js';

describe('classapi/mysql parseMysqlAddress', function () {
  const cases: [string, { host: string; port: number; tls: boolean }][] = [
    ['mysql://db.example.com', { host: 'db.example.com', port: 3306, tls: false }],
    ['mysql://db.example.com:3307/', { host: 'db.example.com', port: 3307, tls: false }],
    ['MySQL://10.0.0.5:3306?tls=true', { host: '10.0.0.5', port: 3306, tls: true }],
    ['mysql://[fd00::5]:3306/?tls=false', { host: 'fd00::5', port: 3306, tls: false }],
  ];
  for (const [address, want] of cases) {
    it(`reads ${address}`, function () {
      expect(parseMysqlAddress(address)).to.deep.equal(want);
    });
  }

  const refused: [string, string][] = [
    ['db.example.com:3306', 'the Connector address is not a URL; write mysql://host:port'],
    ['root:hunter22@db.example.com', 'the Connector address is not a URL; write mysql://host:port'],
    ['https://db.example.com', 'the Connector address must be a mysql:// URL, not https'],
    [
      'mysql://root:hunter22@db.example.com',
      'the Connector address must not contain user information; use the Secret',
    ],
    ['mysql://db.example.com/orders', 'the Connector address must not have a path; write mysql://host:port'],
    ['mysql://db.example.com?tls=yes', 'the tls parameter of the Connector address must be true or false'],
  ];
  for (const [address, message] of refused) {
    it(`refuses ${address} with a 400 that does not repeat it`, function () {
      let err: unknown;
      try {
        parseMysqlAddress(address);
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(StatusError);
      expect((err as StatusError).code).to.equal(400);
      expect((err as StatusError).message).to.equal(message);
    });
  }
});
