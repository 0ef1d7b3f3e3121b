// The controller's flags: defaults, the repeatable --service-url-override, and every invalid option
// reported at once with its fix.
import { expect } from 'chai';
import { ConfigError } from '../../../machinery/flags.js';
import { parseConfig } from '../../../controller/options.js';

describe('controller/options', () => {
  it('has the documented defaults', () => {
    const c = parseConfig([], {});
    expect(c).to.include({
      namespace: 'connectors-system',
      leaderElect: true,
      leaseName: 'connectors-controller',
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2000,
      probeIntervalMs: 60_000,
      probeTimeoutMs: 10_000,
      secretPollIntervalMs: 5000,
      workers: 8,
      healthPort: 8081,
    });
    expect(c.identity).to.match(/_[0-9a-f]{8}$/);
  });

  it('reads the test settings: seconds-long probe period (timeout capped by it), no election, overrides', () => {
    const c = parseConfig(
      [
        '--probe-interval=2s',
        '--leader-elect=false',
        '--service-url-override=connectors-system/connectors-classapi=http://127.0.0.1:8080/',
        '--service-url-override',
        'tools/git=https://git.local',
        '--namespace=ctl',
      ],
      { POD_NAMESPACE: 'ignored' },
    );
    expect(c.probeIntervalMs).to.equal(2000);
    expect(c.probeTimeoutMs).to.equal(2000);
    expect(c.leaderElect).to.equal(false);
    expect(c.namespace).to.equal('ctl');
    expect([...c.serviceUrlOverrides]).to.deep.equal([
      ['connectors-system/connectors-classapi', 'http://127.0.0.1:8080'],
      ['tools/git', 'https://git.local'],
    ]);
  });

  it('takes the namespace from POD_NAMESPACE', () => {
    expect(parseConfig([], { POD_NAMESPACE: 'ops' }).namespace).to.equal('ops');
  });

  it('reports every invalid option together', () => {
    try {
      parseConfig([
        '--leader-elect=maybe',
        '--probe-interval=soon',
        '--workers=0',
        '--service-url-override=nope',
        '--leader-elect-renew-deadline=20s',
        '--bogus=1',
      ]);
      expect.fail('expected a ConfigError');
    } catch (err) {
      expect(err).to.be.instanceOf(ConfigError);
      const problems = (err as ConfigError).problems.join('\n');
      expect(problems).to.contain('--leader-elect=maybe must be true or false');
      expect(problems).to.contain('--probe-interval=soon is not a positive duration');
      expect(problems).to.contain('--workers=0 must be a whole number');
      expect(problems).to.contain('--service-url-override=nope must be NAMESPACE/SERVICE=URL');
      expect(problems).to.contain('renew-deadline must be shorter than --leader-elect-lease-duration');
      expect(problems).to.contain('unknown flag --bogus');
    }
  });
});
