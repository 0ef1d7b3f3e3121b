// Who may open a MySQL session, and to where: the user names the Connector, the token is reviewed,
// RBAC is asked before anything about the Connector is told, the class must be one the proxy
// serves, and the address and Secret give the server and its credential.
import { expect } from 'chai';
import { CallerChecks } from '../../../kube/callers.js';
import type { RequestInfo } from '../../../machinery/requestinfo.js';
import { StatusError } from '../../../machinery/status.js';
import { Gate } from '../../../kit/index.js';
import { MysqlGate, parseMysqlAddress, parseUser } from '../../../mysqlproxy/admission.js';
import { Refusal } from '../../../mysqlproxy/errors.js';
import { certificateNames } from '../../../mysqlproxy/server.js';
import type { Connector } from '../../../registry/types.js';

function connector(name: string, cls: string, address: string, ca = false): Connector {
  return {
    metadata: { name, namespace: 'team' },
    spec: {
      connectorClassName: cls,
      address,
      auth: { secretRef: { name: 'creds' } },
      ...(ca ? { caCertSecretRef: { name: 'ca' } } : {}),
    },
  };
}

describe('mysqlproxy/admission', function () {
  it('parses mysql:// addresses, and says what is wrong with others without repeating them', function () {
    expect(parseMysqlAddress('mysql://db.example.com')).to.deep.equal({
      host: 'db.example.com',
      port: 3306,
      tls: false,
    });
    expect(parseMysqlAddress('mysql://[::1]:3307/?tls=true')).to.deep.equal({
      host: '::1',
      port: 3307,
      tls: true,
    });
    expect(parseMysqlAddress('https://db')).to.equal('the address must use mysql://, not https://');
    expect(parseMysqlAddress('mysql://u:hunter2@db')).to.match(/user information/);
    expect(parseMysqlAddress('mysql://db/appdb')).to.match(/no path/);
    expect(parseMysqlAddress('mysql://db?ssl=1')).to.match(/only \?tls=true/);
  });

  it('reads the user as <namespace>/<connector>', function () {
    expect(parseUser('team/db')).to.deep.equal({ namespace: 'team', name: 'db' });
    for (const bad of ['db', 'team/db/x', 'Team/db', '/db', 'team/'])
      expect(parseUser(bad), bad).to.equal(undefined);
  });

  it('mints for the name asked when it is the proxy’s or a Connector Service’s, else its own', function () {
    const own = ['mysql.connectors-system.svc', 'localhost'];
    const none = (): Connector[] => [];
    expect(certificateNames('LOCALHOST', own, none)).to.deep.equal(['localhost']);
    expect(certificateNames('c-db.team.svc', own, none)).to.deep.equal(['c-db.team.svc']);
    expect(certificateNames('c-db.team.svc.cluster.local', own, none)).to.deep.equal([
      'c-db.team.svc.cluster.local',
    ]);
    expect(certificateNames('evil.example.com', own, none)).to.deep.equal(own);
  });

  it('without a name asked (MariaDB’s and MySQL’s clients), one certificate for ours and every served Connector’s addresses', function () {
    const own = ['mysql.connectors-system.svc'];
    const served = [connector('orders', 'mysql', 'mysql://a'), connector('db', 'mysql', 'mysql://b')];
    expect(certificateNames(undefined, own, () => served)).to.deep.equal([
      'mysql.connectors-system.svc',
      'c-db.team.svc',
      'c-db.team.svc.cluster.local',
      'c-orders.team.svc',
      'c-orders.team.svc.cluster.local',
    ]);
    expect(certificateNames(undefined, own, () => [])).to.deep.equal(own);
  });

  describe('Gate', function () {
    let asked: RequestInfo[];
    let allowed: boolean;
    let synced: boolean;
    let gate: MysqlGate;
    const connectors = new Map<string, Connector>([
      ['db', connector('db', 'mysql', 'mysql://db.team.svc:3306')],
      ['tls', connector('tls', 'mysql', 'mysql://db.example.com', true)],
      ['web', connector('web', 'http-test', 'mysql://db.team.svc')],
    ]);
    const secrets = {
      material: () =>
        Promise.resolve({
          found: true as const,
          type: 'kubernetes.io/basic-auth',
          data: { username: Buffer.from('app'), password: Buffer.from('hunter2') },
        }),
      caBundle: () => Promise.resolve({ found: true as const, pem: 'CA PEM' }),
    };

    beforeEach(function () {
      asked = [];
      allowed = true;
      synced = true;
      gate = new MysqlGate({
        gate: new Gate({
          callers: new CallerChecks(
            {
              review: (token) =>
                Promise.resolve(token === 'good' ? { username: 'alice', groups: [], extra: {} } : null),
            },
            {
              authorize: (_user, info) => {
                asked.push(info);
                return Promise.resolve({ allowed, reason: allowed ? '' : `cannot ${info.verb}` });
              },
            },
          ),
          lister: {
            connector: (_ns, name) => connectors.get(name),
            connectorClass: (name) => ({ metadata: { name } }),
            connectorClasses: () => [],
          },
          secrets,
          classes: new Set(['mysql']),
        }),
        ready: () => synced,
      });
    });

    const refusal = (p: Promise<unknown>): Promise<Refusal | StatusError> =>
      p.then(
        () => {
          throw new Error('admitted');
        },
        (err: unknown) => err as Refusal | StatusError,
      );

    it('admits a reviewed caller allowed get and create, with the server and credential', async function () {
      const admission = await gate.admit('team/db', 'good');
      expect(admission).to.deep.equal({
        caller: 'alice',
        target: { host: 'db.team.svc', port: 3306, tls: undefined, username: 'app', password: 'hunter2' },
      });
      expect(
        asked.map((i) => `${i.verb} ${i.resource}${i.subresource ? `/${i.subresource}` : ''} ${i.name}`),
      ).to.deep.equal(['get connectors db', 'create connectors/proxy db']);
      expect((await gate.admit('team/tls', 'good')).target.tls).to.deep.equal({ ca: 'CA PEM' });
    });

    it('refuses a bad token, then RBAC, before telling whether the Connector exists', async function () {
      expect(await refusal(gate.admit('team/db', 'bad'))).to.include({
        outcome: 'unauthenticated',
        errno: 1045,
      });
      allowed = false;
      const denied = await refusal(gate.admit('team/missing', 'good'));
      expect(denied).to.be.instanceOf(StatusError);
      expect((denied as StatusError).code).to.equal(403);
      allowed = true;
      expect(((await refusal(gate.admit('team/missing', 'good'))) as StatusError).code).to.equal(404);
    });

    it('refuses a Connector of another class and a malformed user', async function () {
      expect((await refusal(gate.admit('team/web', 'good'))).message).to.equal(
        'Connector team/web is of class http-test, which this proxy does not serve',
      );
      expect(await refusal(gate.admit('nonsense', 'good'))).to.include({ outcome: 'connector_refused' });
      expect(asked).to.have.length(2);
    });

    it('asks the client to retry, after the token and RBAC, until the Connectors are loaded', async function () {
      synced = false;
      expect(await refusal(gate.admit('team/db', 'good'))).to.include({
        outcome: 'unavailable',
        errno: 1105,
      });
      expect(asked).to.have.length(2);
      expect(await refusal(gate.admit('team/db', 'bad'))).to.include({ outcome: 'unauthenticated' });
    });
  });
});
