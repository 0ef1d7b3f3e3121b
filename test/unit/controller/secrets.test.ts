// Secret change detection without a watch: the poller asks for the resourceVersion of referenced
// Secrets only, once per Secret however many Connectors share it, and wakes exactly their owners.
import { expect } from 'chai';
import { createLogger } from '../../../machinery/log.js';
import { SecretPoller } from '../../../controller/secrets.js';

const log = createLogger({ level: 'error', write: () => undefined });

describe('controller/secrets SecretPoller', () => {
  it('polls each referenced Secret once and wakes its owners when it changes, appears or goes', async () => {
    const versions = new Map([
      ['ns/shared', '1'],
      ['ns/own', '7'],
    ]);
    const asked: string[] = [];
    const woken: string[] = [];
    const poller = new SecretPoller(
      {
        version: (ns, name) => {
          asked.push(`${ns}/${name}`);
          return Promise.resolve(versions.get(`${ns}/${name}`) ?? '');
        },
      },
      60_000,
      (owner) => woken.push(owner),
      log,
    );
    poller.track('connector/ns/a', ['ns/shared']);
    poller.track('connector/ns/b', ['ns/shared', 'ns/own']);
    poller.track('connector/ns/c', ['ns/missing']);
    expect(poller.size).to.equal(3);

    await poller.pollOnce(); // first sighting: versions recorded, nobody woken
    expect(asked.sort()).to.deep.equal(['ns/missing', 'ns/own', 'ns/shared']);
    expect(woken).to.deep.equal([]);

    versions.set('ns/shared', '2');
    versions.set('ns/missing', '9');
    await poller.pollOnce();
    expect(woken.sort()).to.deep.equal(['connector/ns/a', 'connector/ns/b', 'connector/ns/c']);

    woken.length = 0;
    versions.delete('ns/own');
    await poller.pollOnce();
    expect(woken).to.deep.equal(['connector/ns/b']);
  });

  it('compares with the version a reconcile read, and forgets untracked Secrets', async () => {
    let version = '5';
    const woken: string[] = [];
    const poller = new SecretPoller(
      { version: () => Promise.resolve(version) },
      60_000,
      (o) => woken.push(o),
      log,
    );
    poller.track('o', ['ns/s']);
    poller.noteVersion('ns/s', '4');
    await poller.pollOnce();
    expect(woken).to.deep.equal(['o']);
    poller.track('o', []);
    expect(poller.size).to.equal(0);
    version = '6';
    await poller.pollOnce();
    expect(woken).to.deep.equal(['o']);
  });

  it('keeps polling after a failed read', async () => {
    let fail = true;
    const poller = new SecretPoller(
      { version: () => (fail ? Promise.reject(new Error('boom')) : Promise.resolve('1')) },
      60_000,
      () => undefined,
      log,
    );
    poller.track('o', ['ns/s']);
    await poller.pollOnce();
    fail = false;
    await poller.pollOnce();
  });
});
