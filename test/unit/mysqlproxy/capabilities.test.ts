// The MySQL Connectors Proxy's capability negotiation: what the greeting offers, which of the
// client's choices reach the server, and which servers cannot carry them.
import { expect } from 'chai';
import {
  advertisedCapabilities,
  clientProblem,
  missingOnServer,
  serverLoginFlags,
  sessionCapabilities,
  sessionFlagsOf,
} from '../../../mysqlproxy/capabilities.js';
import { clientFlags as F } from '../../../mysqlproxy/mysql2.js';

const bits = (...names: string[]): number => names.reduce((m, n) => (m | (F[n] ?? 0)) >>> 0, 0);

describe('mysqlproxy/capabilities', function () {
  it('offers TLS and the session capabilities, never compression, query attributes or multi-factor', function () {
    for (const name of [
      'SSL',
      'PROTOCOL_41',
      'PLUGIN_AUTH',
      'SECURE_CONNECTION',
      'CONNECT_WITH_DB',
      ...sessionCapabilities,
    ]) {
      expect(advertisedCapabilities & bits(name), name).to.not.equal(0);
    }
    for (const name of [
      'COMPRESS',
      'CLIENT_QUERY_ATTRIBUTES',
      'MULTI_FACTOR_AUTHENTICATION',
      'CAN_HANDLE_EXPIRED_PASSWORDS',
    ]) {
      expect(advertisedCapabilities & bits(name), name).to.equal(0);
    }
    // CLIENT_MYSQL set: a MariaDB client sends no extended capabilities the relay could not carry.
    expect(advertisedCapabilities & bits('LONG_PASSWORD')).to.not.equal(0);
  });

  it('keeps the client’s command-phase choices and drops its connection-phase ones', function () {
    const client = bits(
      'PROTOCOL_41',
      'MULTI_STATEMENTS',
      'SESSION_TRACK',
      'SSL',
      'PLUGIN_AUTH',
      'CONNECT_ATTRS',
      'COMPRESS',
    );
    expect(sessionFlagsOf(client)).to.equal(bits('PROTOCOL_41', 'MULTI_STATEMENTS', 'SESSION_TRACK'));
  });

  it('asks the server for exactly the session flags: each named, the others refused', function () {
    const flags = serverLoginFlags(bits('PROTOCOL_41', 'FOUND_ROWS'));
    expect(flags).to.include.members([
      'PROTOCOL_41',
      'FOUND_ROWS',
      '-MULTI_STATEMENTS',
      '-SESSION_TRACK',
      '-LOCAL_FILES',
    ]);
    // mysql2's default it would add on its own, never offered to the client.
    expect(flags).to.include('-CLIENT_QUERY_ATTRIBUTES');
    expect(flags.filter((f) => !f.startsWith('-'))).to.have.members(['PROTOCOL_41', 'FOUND_ROWS']);
  });

  it('names the session flags a server lacks, except those mysql2 sends anyway', function () {
    const session = bits('PROTOCOL_41', 'SESSION_TRACK', 'MULTI_STATEMENTS', 'TRANSACTIONS');
    expect(missingOnServer(session, bits('PROTOCOL_41', 'TRANSACTIONS'))).to.deep.equal(['SESSION_TRACK']);
    expect(missingOnServer(session, bits('PROTOCOL_41', 'SESSION_TRACK', 'TRANSACTIONS'))).to.deep.equal([]);
  });

  it('refuses clients of the pre-4.1 protocol', function () {
    expect(clientProblem(bits('SSL'))).to.match(/4\.1 protocol/);
    expect(clientProblem(bits('SSL', 'PROTOCOL_41'))).to.equal(undefined);
  });
});
