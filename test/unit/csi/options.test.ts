// The driver's flags and environment: defaults, CSI_ENDPOINT/NODE_NAME, and every invalid option
// reported together with its fix.

import { expect } from 'chai';
import { ConfigError } from '../../../machinery/flags.js';
import { parseConfig } from '../../../csi/options.js';

describe('csi/options', function () {
  it('defaults, with the endpoint and node from the environment', function () {
    const c = parseConfig([], { CSI_ENDPOINT: 'unix:///csi/csi.sock', NODE_NAME: 'node-1' });
    expect(c).to.deep.include({
      socketPath: '/csi/csi.sock',
      nodeId: 'node-1',
      tokenSource: 'kubelet',
      tokenAudience: 'connectors-proxy',
      proxyCaConfigMap: { namespace: 'connectors-system', name: 'connectors-proxy-ca' },
      medium: 'tmpfs',
      tmpfsSize: '4m',
      multiConnector: false,
      noProxy: 'localhost,127.0.0.1',
      registration: undefined,
      healthPort: 0,
    });
  });

  it('self-registration takes the registration directory and the socket as kubelet sees it', function () {
    const c = parseConfig(
      [
        '--plugin-registration-dir=/registration',
        '--kubelet-registration-path=/var/lib/kubelet/plugins/connectors-csi/csi.sock',
        '--health-port=9808',
      ],
      { CSI_ENDPOINT: 'unix:///csi/csi.sock', NODE_NAME: 'node-1' },
    );
    expect(c.registration).to.deep.equal({
      dir: '/registration',
      kubeletEndpoint: '/var/lib/kubelet/plugins/connectors-csi/csi.sock',
    });
    expect(c.healthPort).to.equal(9808);
  });

  it('refuses half a registration setting, relative paths and a bad health port', function () {
    const env = { CSI_ENDPOINT: 'unix:///csi/csi.sock', NODE_NAME: 'node-1' };
    const problems = (argv: string[]): string[] => {
      try {
        parseConfig(argv, env);
      } catch (err) {
        return (err as ConfigError).problems;
      }
      return [];
    };
    expect(problems(['--plugin-registration-dir=/registration'])).to.deep.equal([
      '--plugin-registration-dir needs --kubelet-registration-path: the CSI socket as kubelet sees it, ' +
        'e.g. /var/lib/kubelet/plugins/connectors-csi/csi.sock',
    ]);
    expect(problems(['--kubelet-registration-path=/x/csi.sock'])).to.deep.equal([
      '--kubelet-registration-path is only used with --plugin-registration-dir; set both',
    ]);
    expect(problems(['--plugin-registration-dir=reg', '--kubelet-registration-path=csi.sock'])).to.deep.equal(
      [
        '--plugin-registration-dir=reg must be an absolute path',
        '--kubelet-registration-path=csi.sock must be an absolute path',
      ],
    );
    expect(problems(['--health-port=99999'])).to.deep.equal([
      '--health-port=99999 must be a port number, or 0 for none',
    ]);
  });

  it('flags win over the environment', function () {
    const c = parseConfig(
      [
        '--endpoint=unix:///tmp/x.sock',
        '--node-id=n2',
        '--token-source=request',
        '--volume-medium=directory',
        '--enable-multi-connector=true',
        '--proxy-ca-configmap=ns/ca',
      ],
      { CSI_ENDPOINT: 'unix:///csi/csi.sock', NODE_NAME: 'node-1' },
    );
    expect(c).to.deep.include({
      socketPath: '/tmp/x.sock',
      nodeId: 'n2',
      tokenSource: 'request',
      medium: 'directory',
      multiConnector: true,
      proxyCaConfigMap: { namespace: 'ns', name: 'ca' },
    });
  });

  it('reports every problem at once, each with the fix', function () {
    let error: unknown;
    try {
      parseConfig(
        [
          '--token-source=minted',
          '--volume-medium=disk',
          '--tmpfs-size=lots',
          '--enable-multi-connector=yes',
          '--proxy-ca-configmap=x',
        ],
        {},
      );
    } catch (err) {
      error = err;
    }
    expect(error).to.be.instanceOf(ConfigError);
    expect((error as ConfigError).problems).to.deep.equal([
      '--endpoint (or $CSI_ENDPOINT) is required, e.g. unix:///csi/csi.sock',
      '--node-id (or $NODE_NAME, from the downward API spec.nodeName) is required',
      '--tmpfs-size=lots must be a size such as 4m',
      '--token-source=minted must be kubelet or request',
      '--proxy-ca-configmap=x must be <namespace>/<name> of a ConfigMap, e.g. connectors-system/connectors-proxy-ca',
      '--volume-medium=disk must be tmpfs or directory',
      '--enable-multi-connector=yes must be true or false',
    ]);
  });

  it('a relative or too long socket path', function () {
    for (const endpoint of ['unix://csi.sock', `unix:///${'x'.repeat(120)}.sock`]) {
      expect(() => parseConfig([`--endpoint=${endpoint}`, '--node-id=n'], {})).to.throw(
        ConfigError,
        /--endpoint=/,
      );
    }
  });
});
