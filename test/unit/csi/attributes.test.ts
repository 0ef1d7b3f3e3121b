// Volume attributes as published, and the pod keys kubelet adds: what each form means, and the
// INVALID_ARGUMENT (naming the attribute) for everything a pod author can get wrong.

import { status } from '@grpc/grpc-js';
import { expect } from 'chai';
import { parseGoDuration, parseVolumeAttributes, type VolumeAttributes } from '../../../csi/attributes.js';
import { CsiError } from '../../../csi/errors.js';

const pod = {
  'csi.storage.k8s.io/pod.name': 'app',
  'csi.storage.k8s.io/pod.namespace': 'team-a',
  'csi.storage.k8s.io/pod.uid': 'uid-1',
  'csi.storage.k8s.io/serviceAccount.name': 'builder',
  'csi.storage.k8s.io/ephemeral': 'true',
};

const parse = (attrs: Record<string, string>, multiConnector = false): VolumeAttributes =>
  parseVolumeAttributes({ ...pod, ...attrs }, { multiConnector });

describe('csi/attributes', function () {
  it('reads the pod kubelet describes', function () {
    expect(parse({ connectors: 'git' }).pod).to.deep.equal({
      name: 'app',
      namespace: 'team-a',
      uid: 'uid-1',
      serviceAccount: 'builder',
    });
  });

  const refs: { name: string; attrs: Record<string, string>; want: string[]; multi?: boolean }[] = [
    { name: 'a bare name is in the pod’s namespace', attrs: { connectors: 'git' }, want: ['team-a/git'] },
    { name: 'ns/name', attrs: { connectors: 'kube-public/git' }, want: ['kube-public/git'] },
    {
      name: 'a comma list, spaces and repeats dropped',
      attrs: { connectors: ' git , other/npm,git' },
      want: ['team-a/git', 'other/npm'],
      multi: true,
    },
    {
      name: 'deprecated connector.name with connector.namespace',
      attrs: { 'connector.name': 'git', 'connector.namespace': 'tools' },
      want: ['tools/git'],
    },
    { name: 'deprecated connector.name alone', attrs: { 'connector.name': 'git' }, want: ['team-a/git'] },
  ];
  for (const c of refs) {
    it(`connectors: ${c.name}`, function () {
      const got = parse(c.attrs, c.multi).connectors.map((r) => `${r.namespace}/${r.name}`);
      expect(got).to.deep.equal(c.want);
    });
  }

  it('configuration.names: names, and !file exclusions', function () {
    const a = parse({
      connectors: 'git',
      'configuration.names': 'gitconfig, !context.token,!.env,gitconfig',
    });
    expect(a.configurationNames).to.deep.equal(['gitconfig']);
    expect([...a.excludedFiles]).to.deep.equal(['context.token', '.env']);
    expect(parse({ connectors: 'git' }).configurationNames).to.deep.equal([]);
  });

  it('configuration.params: per configuration', function () {
    const a = parse({
      connectors: 'm',
      'configuration.names': 'settings',
      'configuration.params': '{"settings":{"mirrorRepository":"maven-public"}}',
    });
    expect(a.configurationParams).to.deep.equal({ settings: { mirrorRepository: 'maven-public' } });
  });

  it('token.expiration as a Go duration', function () {
    expect(parse({ connectors: 'g', 'token.expiration': '1h30m' }).tokenExpirationSeconds).to.equal(5400);
    expect(parse({ connectors: 'g' }).tokenExpirationSeconds).to.equal(undefined);
    expect(parseGoDuration('10m')).to.equal(600);
    expect(parseGoDuration('1.5h')).to.equal(5400);
    expect(parseGoDuration('3600s')).to.equal(3600);
    expect(parseGoDuration('10')).to.equal(null);
    expect(parseGoDuration('ten minutes')).to.equal(null);
  });

  const invalid: { name: string; context: Record<string, string>; message: RegExp; multi?: boolean }[] = [
    {
      name: 'no pod info (podInfoOnMount off)',
      context: { connectors: 'git' },
      message: /no csi.storage.k8s.io\/pod.name: the CSIDriver connectors-csi must set podInfoOnMount: true/,
    },
    {
      name: 'a PersistentVolume',
      context: { ...pod, 'csi.storage.k8s.io/ephemeral': 'false', connectors: 'git' },
      message: /inline ephemeral volumes only/,
    },
    {
      name: 'no Connector',
      context: { ...pod },
      message: /no Connector given: set the volume attribute "connectors"/,
    },
    {
      name: 'both forms',
      context: { ...pod, connectors: 'git', 'connector.name': 'git' },
      message: /either in "connectors" or in the deprecated/,
    },
    {
      name: 'a bad reference',
      context: { ...pod, connectors: 'a/b/c' },
      message: /"a\/b\/c" is not a Connector reference/,
    },
    {
      name: 'an uppercase name',
      context: { ...pod, connectors: 'Git' },
      message: /"Git" is not a Connector reference/,
    },
    {
      name: 'several Connectors without --enable-multi-connector',
      context: { ...pod, connectors: 'a,b' },
      message: /2 Connectors given, .*--enable-multi-connector/,
    },
    {
      name: 'configuration.params not JSON',
      context: { ...pod, connectors: 'g', 'configuration.names': 'x', 'configuration.params': '{x' },
      message: /configuration.params is not valid JSON/,
    },
    {
      name: 'configuration.params not an object',
      context: { ...pod, connectors: 'g', 'configuration.names': 'x', 'configuration.params': '[1]' },
      message: /must be a JSON object keyed by configuration name/,
    },
    {
      name: 'configuration.params for a configuration not requested',
      context: { ...pod, connectors: 'g', 'configuration.names': 'x', 'configuration.params': '{"y":{}}' },
      message: /params of configuration "y", which configuration.names does not request/,
    },
    {
      name: 'configuration.params values not an object',
      context: { ...pod, connectors: 'g', 'configuration.names': 'x', 'configuration.params': '{"x":"v"}' },
      message: /configuration.params\["x"\] must be an object/,
    },
    {
      name: 'token.expiration not a duration',
      context: { ...pod, connectors: 'g', 'token.expiration': '30' },
      message: /token.expiration "30" is not a duration/,
    },
    {
      name: 'token.expiration under 10m',
      context: { ...pod, connectors: 'g', 'token.expiration': '9m59s' },
      message: /shorter than 10m/,
    },
  ];
  for (const c of invalid) {
    it(`INVALID_ARGUMENT: ${c.name}`, function () {
      let error: unknown;
      try {
        parseVolumeAttributes(c.context, { multiConnector: c.multi ?? false });
      } catch (err) {
        error = err;
      }
      expect(error).to.be.instanceOf(CsiError);
      expect((error as CsiError).code).to.equal(status.INVALID_ARGUMENT);
      expect((error as CsiError).message).to.match(c.message);
    });
  }
});
