// Secret change detection without a watch: the poller asks for the resourceVersion of referenced
// Secrets only, once per Secret however many Connectors share it, and wakes exactly their owners.
import { mock } from 'node:test';
import { expect } from 'chai';
import { createLogger } from '../../../machinery/log.js';
import { SecretPoller } from '../../../controller/secrets.js';

const log = createLogger({ level: 'error', write: () => undefined });

/** Lets the round the fake clock started run until `asked` holds `n` reads and they are handled. */
async function settled(asked: string[], n: number): Promise<void> {
  for (let i = 0; i < 100 && asked.length < n; i++) await new Promise((r) => setImmediate(r));
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
  expect(asked).to.have.length(n);
}

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

  it('a failed read ends neither the round nor the polling: the next round reads that Secret again', async () => {
    const versions = new Map([
      ['ns/s', '2'],
      ['ns/t', '2'],
    ]);
    let failing = true;
    const asked: string[] = [];
    const woken: string[] = [];
    const poller = new SecretPoller(
      {
        version: (ns, name) => {
          const key = `${ns}/${name}`;
          asked.push(key);
          if (key === 'ns/s' && failing) return Promise.reject(new Error('boom'));
          return Promise.resolve(versions.get(key) ?? '');
        },
      },
      60_000,
      (owner) => woken.push(owner),
      log,
      1, // one at a time: the failing read comes first and the other Secret still follows
    );
    poller.track('a', ['ns/s']);
    poller.track('b', ['ns/t']);
    poller.noteVersion('ns/s', '1');
    poller.noteVersion('ns/t', '1');

    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      poller.start();
      mock.timers.tick(60_000);
      await settled(asked, 2);
      expect(asked).to.deep.equal(['ns/s', 'ns/t']);
      expect(woken).to.deep.equal(['b']); // ns/s failed and is not taken as changed

      failing = false;
      mock.timers.tick(60_000); // the next round comes all the same, and reads ns/s again
      await settled(asked, 4);
      expect(woken).to.deep.equal(['b', 'a']);
    } finally {
      await poller.stop();
      mock.timers.reset();
    }
  });
});
