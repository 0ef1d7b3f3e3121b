// The files of a volume: built-in files, the shipped classes' configurations rendered with the
// published variables, exclusions, configuration params (validated, defaults), several Connectors,
// and every refusal (missing Connector, class, configuration, param, proxy address or CA; scope;
// RBAC) with the gRPC code and a message naming the problem and never the token.

import { createDecipheriv } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { loadAllYaml } from '@kubernetes/client-node';
import { expect } from 'chai';
import type { UserInfo } from '../../../kube/tokenreview.js';
import { forbidden } from '../../../machinery/status.js';
import type { ConnectorRef } from '../../../registry/types.js';
import { ConnectorAccess, serviceAccountUser } from '../../../csi/access.js';
import type { ClusterReader, ConfiguredClass, ProxiedConnector } from '../../../csi/cluster.js';
import { ConnectorVolumeContent } from '../../../csi/content.js';
import { CsiError } from '../../../csi/errors.js';
import type { PublishRequest } from '../../../csi/node.js';
import type { TokenSource } from '../../../csi/tokens.js';
import { repoRoot } from '../../../hack/binaries.js';

const token = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ0ZXN0In0.c2lnbmF0dXJl-unit-token';
const caCert = '-----BEGIN CERTIFICATE-----\nMIIBproxyca\n-----END CERTIFICATE-----\n';
const b64 = (s: string): string => Buffer.from(s).toString('base64');

const shipped = new Map<string, ConfiguredClass>();
for (const file of readdirSync(join(repoRoot(), 'manifests', 'classes'))) {
  for (const doc of loadAllYaml(readFileSync(join(repoRoot(), 'manifests', 'classes', file), 'utf8'))) {
    const obj = doc as ConfiguredClass;
    if (obj.kind === 'ConnectorClass' && obj.metadata?.name) shipped.set(obj.metadata.name, obj);
  }
}

function connector(
  namespace: string,
  name: string,
  className: string,
  address: string,
  extra: { params?: { name: string; value: string }[]; proxy?: string } = {},
): ProxiedConnector {
  return {
    apiVersion: 'connectors.alauda.io/v1alpha1',
    kind: 'Connector',
    metadata: { name, namespace, uid: `uid-${name}` },
    spec: { connectorClassName: className, address, ...(extra.params ? { params: extra.params } : {}) },
    status: {
      proxy: { httpAddress: { url: extra.proxy ?? `http://c-${name}.${namespace}.svc.cluster.local` } },
    },
  };
}

class FakeCluster implements ClusterReader {
  connectors = new Map<string, ProxiedConnector>();
  classes = new Map<string, ConfiguredClass>(shipped);
  labels = new Map<string, Record<string, string>>();
  ca: string | undefined = caCert;

  add(...cs: ProxiedConnector[]): void {
    for (const c of cs) this.connectors.set(`${c.metadata?.namespace ?? ''}/${c.metadata?.name ?? ''}`, c);
  }
  connector(namespace: string, name: string): Promise<ProxiedConnector | undefined> {
    return Promise.resolve(this.connectors.get(`${namespace}/${name}`));
  }
  connectorClass(name: string): Promise<ConfiguredClass | undefined> {
    return Promise.resolve(this.classes.get(name));
  }
  namespaceLabels(name: string): Promise<Record<string, string> | undefined> {
    return Promise.resolve(this.labels.get(name) ?? {});
  }
  proxyCaCert(): Promise<string | undefined> {
    return Promise.resolve(this.ca);
  }
}

/** RBAC as a set of `namespace/name` the pod's ServiceAccount may use. */
class FakeRbac {
  allowed = new Set<string>();
  authorize(user: UserInfo, refs: readonly ConnectorRef[]): Promise<void> {
    for (const r of refs) {
      if (!this.allowed.has(`${r.namespace}/${r.name}`)) {
        return Promise.reject(
          forbidden(
            { group: 'connectors.alauda.io', resource: 'connectors' },
            r.name,
            `User "${user.username}" cannot get resource "connectors" in API group "connectors.alauda.io" in the namespace "${r.namespace}"`,
          ),
        );
      }
    }
    return Promise.resolve();
  }
}

const fixedToken: TokenSource = {
  token: (_req, attrs) => Promise.resolve({ token, user: serviceAccountUser(attrs.pod) }),
  forget: () => undefined,
};

const podKeys = {
  'csi.storage.k8s.io/pod.name': 'app',
  'csi.storage.k8s.io/pod.namespace': 'team-a',
  'csi.storage.k8s.io/pod.uid': 'uid-pod',
  'csi.storage.k8s.io/serviceAccount.name': 'builder',
  'csi.storage.k8s.io/ephemeral': 'true',
};

const request = (attributes: Record<string, string>): PublishRequest => ({
  volumeId: 'vol-1',
  targetPath: '/var/lib/kubelet/pods/uid-pod/volumes/kubernetes.io~csi/connectors/mount',
  volumeContext: { ...podKeys, ...attributes },
  secrets: {},
  republish: false,
});

async function refusal(p: Promise<unknown>): Promise<CsiError> {
  try {
    await p;
  } catch (err) {
    expect(err).to.be.instanceOf(CsiError);
    expect((err as CsiError).message).not.to.contain(token);
    return err as CsiError;
  }
  throw new Error('expected a refusal');
}

describe('csi/content', function () {
  let cluster: FakeCluster;
  let rbac: FakeRbac;
  let content: ConnectorVolumeContent;
  const make = (multiConnector = false): ConnectorVolumeContent =>
    new ConnectorVolumeContent({
      cluster,
      access: new ConnectorAccess(cluster, rbac),
      tokens: fixedToken,
      multiConnector,
      noProxy: 'localhost,127.0.0.1',
    });

  beforeEach(function () {
    cluster = new FakeCluster();
    rbac = new FakeRbac();
    cluster.add(
      connector('team-a', 'git', 'git', 'https://git.example.com/scm'),
      connector('team-a', 'gitlab', 'gitlab', 'https://gitlab.example.com'),
      connector('team-a', 'registry', 'oci', 'https://registry.example.com', {
        proxy: 'http://connectors-proxy.connectors-system.svc/namespaces/team-a/connectors/registry',
      }),
      connector('team-a', 'cluster', 'k8s', 'https://10.0.0.1:6443'),
      connector('team-a', 'maven', 'maven', 'https://nexus.example.com/repository/maven-public/', {
        params: [{ name: 'useAsMirror', value: 'true' }],
      }),
      connector('team-a', 'npm', 'npm', 'https://nexus.example.com/repository/npm-group/'),
      connector('team-a', 'pypi', 'pypi', 'https://nexus.example.com/repository/pypi-group/'),
      connector('team-a', 'pypi-http', 'pypi', 'http://pypi.example.com', {
        proxy: 'http://10.0.0.5:31080/namespaces/team-a/connectors/pypi-http',
      }),
      connector('team-a', 'sonar', 'sonarqube', 'https://sonar.example.com/sonarqube/'),
      connector('team-a', 'harbor', 'harbor', 'https://harbor.example.com', {
        proxy: 'http://connectors-proxy.connectors-system.svc/namespaces/team-a/connectors/harbor',
      }),
      connector('team-a', 'harbor-2', 'harbor', 'https://harbor2.example.com/', {
        proxy: 'http://connectors-proxy.connectors-system.svc/namespaces/team-a/connectors/harbor-2',
      }),
      connector('kube-public', 'shared', 'git', 'https://shared.example.com'),
      connector('tools', 'project-git', 'git', 'https://project.example.com'),
      connector('other', 'private', 'git', 'https://private.example.com'),
    );
    for (const c of cluster.connectors.keys()) rbac.allowed.add(c);
    content = make();
  });

  it('built-in files: .env, forward-proxy URLs (always with a port), token, CA, proxy address', async function () {
    const files = await content.render(request({ connectors: 'git' }));
    // :80 written out: curl and git take 1080 for a proxy URL without a port.
    const proxy = `http://team-a%2Fgit:${token}@c-git.team-a.svc.cluster.local:80`;
    expect(Object.fromEntries(files)).to.deep.equal({
      '.env': `http_proxy=${proxy}\nhttps_proxy=${proxy}\nno_proxy=localhost,127.0.0.1\n`,
      'http.proxy': proxy,
      'https.proxy': proxy,
      'context.token': token,
      'context.proxy.caCert': caCert,
      'ca.crt': caCert,
      'ca.cert': caCert,
      'connector.status.proxyAddress': 'http://c-git.team-a.svc.cluster.local',
    });
  });

  it('gitconfig: the address goes to the proxy address, which gets the token as Basic', async function () {
    const files = await content.render(request({ connectors: 'git', 'configuration.names': 'gitconfig' }));
    const gitconfig = files.get('.gitconfig') ?? '';
    expect(gitconfig).to.contain(
      '[url "http://c-git.team-a.svc.cluster.local/"]\n    insteadOf = https://git.example.com/scm/',
    );
    expect(gitconfig).to.contain(
      `[http "http://c-git.team-a.svc.cluster.local/"]\n    extraHeader = Authorization: Basic ${b64(`:${token}`)}`,
    );
  });

  it('!name excludes built-in and rendered files', async function () {
    const files = await content.render(
      request({ connectors: 'git', 'configuration.names': 'gitconfig,!context.token,!.gitconfig,!ca.cert' }),
    );
    expect([...files.keys()].sort()).to.deep.equal(
      [
        '.env',
        'ca.crt',
        'connector.status.proxyAddress',
        'context.proxy.caCert',
        'http.proxy',
        'https.proxy',
      ].sort(),
    );
  });

  it('registry-config: docker config.json logging in to the proxy host with the token', async function () {
    const files = await content.render(
      request({ connectors: 'registry', 'configuration.names': 'registry-config,buildkitd' }),
    );
    const config = JSON.parse(files.get('config.json') ?? '') as { auths: Record<string, { auth: string }> };
    expect(config).to.deep.equal({
      auths: { 'connectors-proxy.connectors-system.svc': { auth: b64(`connectors:${token}`) } },
    });
    expect(files.get('buildkitd.toml')).to.contain('[registry."connectors-proxy.connectors-system.svc"]');
  });

  it('kubeconfig: the real server, the proxy as proxy-url with the token, the proxy CA', async function () {
    const files = await content.render(
      request({ connectors: 'cluster', 'configuration.names': 'kubeconfig' }),
    );
    const kubeconfig = files.get('kubeconfig') ?? '';
    expect(kubeconfig).to.contain('server: https://10.0.0.1:6443');
    expect(kubeconfig).to.contain(
      `proxy-url: http://team-a%2Fcluster:${token}@c-cluster.team-a.svc.cluster.local`,
    );
    expect(kubeconfig).to.contain(`certificate-authority-data: ${b64(caCert)}`);
    expect(kubeconfig).to.contain('token: fake-token');
  });

  it('settings.xml: the proxy with the Connector as user and the token as password; the mirror', async function () {
    const files = await content.render(request({ connectors: 'maven', 'configuration.names': 'settings' }));
    const xml = files.get('settings.xml') ?? '';
    expect(xml).to.match(/^<\?xml version="1.0"/);
    expect(xml).to.contain('<host>c-maven.team-a.svc.cluster.local</host>');
    expect(xml).to.contain('<port>80</port>');
    expect(xml).to.contain('<username>team-a/maven</username>');
    expect(xml).to.contain(`<password>${token}</password>`);
    expect(xml).to.contain('<mirrorOf>*</mirrorOf>');
    // A proxy address with a port (e.g. a NodePort) keeps it.
    cluster.add(
      connector('team-a', 'maven-port', 'maven', 'https://nexus.example.com/repository/maven-public/', {
        proxy: 'http://10.0.0.5:31080/namespaces/team-a/connectors/maven-port',
      }),
    );
    rbac.allowed.add('team-a/maven-port');
    const ported = await content.render(
      request({ connectors: 'maven-port', 'configuration.names': 'settings' }),
    );
    expect(ported.get('settings.xml')).to.contain('<host>10.0.0.5</host>').and.contain('<port>31080</port>');
    expect(ported.get('settings.xml')).to.contain('<repository>').and.not.contain('<mirrorOf>');
  });

  it('.npmrc: registry, proxies with the token, the proxy CA on one line', async function () {
    const files = await content.render(request({ connectors: 'npm', 'configuration.names': 'npmrc' }));
    const npmrc = files.get('.npmrc') ?? '';
    const proxy = `http://team-a%2Fnpm:${token}@c-npm.team-a.svc.cluster.local`;
    expect(npmrc).to.contain('registry=https://nexus.example.com/repository/npm-group/\n');
    expect(npmrc).to.contain(`proxy=${proxy}\nhttps-proxy=${proxy}\n`);
    expect(npmrc).to.contain('ca="-----BEGIN CERTIFICATE-----\\nMIIBproxyca\\n-----END CERTIFICATE-----"');
  });

  it('my.cnf: the proxy host on 3306, {namespace}/{name} with the token, cleartext plugin, verified TLS', async function () {
    cluster.add(connector('team-a', 'db', 'mysql', 'mysql://db.example.com:3306'));
    rbac.allowed.add('team-a/db');
    const files = await content.render(
      request({
        connectors: 'db',
        'configuration.names': 'mycnf',
        'configuration.params': JSON.stringify({ mycnf: { mountPath: '/etc/connectors/mysql/' } }),
      }),
    );
    const mycnf = files.get('my.cnf') ?? '';
    expect(mycnf.slice(mycnf.indexOf('[client]'))).to.equal(
      [
        '[client]',
        'host = c-db.team-a.svc.cluster.local',
        'port = 3306',
        'user = team-a/db',
        `password = ${token}`,
        'default-auth = mysql_clear_password',
        'ssl-ca = /etc/connectors/mysql/ca.crt',
        'loose-ssl-verify-server-cert',
        '',
      ].join('\n'),
    );
    expect(mycnf).to.match(
      /^# Generated by Connectors: the mariadb and mysql clients reach mysql:\/\/db\.example\.com:3306/,
    );
    // The CA it names is in the same volume.
    expect(files.get('ca.crt')).to.equal(caCert);
  });

  it('my.cnf without the mount path: refused, saying which param to set', async function () {
    cluster.add(connector('team-a', 'db', 'mysql', 'mysql://db.example.com:3306'));
    rbac.allowed.add('team-a/db');
    const err = await refusal(content.render(request({ connectors: 'db', 'configuration.names': 'mycnf' })));
    expect(err.code).to.equal(status.INVALID_ARGUMENT);
    expect(err.message).to.equal(
      'configuration "mycnf" of ConnectorClass "mysql" needs the param "mountPath": set it in configuration.params, ' +
        'e.g. {"mycnf": {"mountPath": "…"}}',
    );
  });

  describe('pip.conf, .pypirc, sonar-project.properties, glab config.yml, harbor-cli config.yaml', function () {
    /** An INI file as section → key → value (continuation lines joined with \n). */
    function ini(text: string): Record<string, Record<string, string>> {
      const out: Record<string, Record<string, string>> = {};
      let section: Record<string, string> | undefined;
      let last = '';
      for (const line of text.split('\n')) {
        if (line.trim() === '' || line.trimStart().startsWith('#')) continue;
        const head = /^\[(.+)\]$/.exec(line);
        if (head) {
          section = out[head[1] ?? ''] = {};
        } else if (/^\s/.test(line) && section) {
          section[last] = `${section[last] ?? ''}\n${line.trim()}`;
        } else if (section) {
          const at = line.indexOf('=');
          last = line.slice(0, at).trim();
          section[last] = line.slice(at + 1).trim();
        } else {
          throw new Error(`a line outside a section: ${line}`);
        }
      }
      return out;
    }

    /** A Java properties file (key=value lines; # comments). */
    function properties(text: string): Record<string, string> {
      const out: Record<string, string> = {};
      for (const line of text.split('\n')) {
        if (line.trim() === '' || line.startsWith('#')) continue;
        const at = line.indexOf('=');
        out[line.slice(0, at)] = line.slice(at + 1);
      }
      return out;
    }

    const cases: {
      title: string;
      attributes: Record<string, string>;
      file: string;
      parse: (text: string) => unknown;
      want: unknown;
    }[] = [
      {
        title:
          'pip.conf: the index, the proxy with the token (port written out), the CA at the default mountPath',
        attributes: { connectors: 'pypi', 'configuration.names': 'pipconf' },
        file: 'pip.conf',
        parse: ini,
        want: {
          global: {
            'index-url': 'https://nexus.example.com/repository/pypi-group/simple/',
            proxy: `http://team-a%2Fpypi:${token}@c-pypi.team-a.svc.cluster.local:80`,
            cert: '/etc/xdg/pip/ca.crt',
          },
        },
      },
      {
        title: 'pip.conf: a given mountPath; an http index needs no cert; a proxy port is kept',
        attributes: {
          connectors: 'pypi-http',
          'configuration.names': 'pipconf',
          'configuration.params': '{"pipconf":{"mountPath":"/root/.pip/"}}',
        },
        file: 'pip.conf',
        parse: ini,
        want: {
          global: {
            'index-url': 'http://pypi.example.com/simple/',
            proxy: `http://team-a%2Fpypi-http:${token}@10.0.0.5:31080`,
          },
        },
      },
      {
        title: 'pip.conf: the given mountPath names the CA',
        attributes: {
          connectors: 'pypi',
          'configuration.names': 'pipconf',
          'configuration.params': '{"pipconf":{"mountPath":"/root/.pip/"}}',
        },
        file: 'pip.conf',
        parse: (text) => ini(text)['global']?.['cert'],
        want: '/root/.pip/ca.crt',
      },
      {
        title: '.pypirc: index server connectors-pypi, the address, a placeholder login, the CA',
        attributes: { connectors: 'pypi', 'configuration.names': 'pypirc' },
        file: '.pypirc',
        parse: ini,
        want: {
          distutils: { 'index-servers': '\nconnectors-pypi' },
          'connectors-pypi': {
            repository: 'https://nexus.example.com/repository/pypi-group/',
            username: 'connectors',
            password: 'placeholder',
            ca_cert: '/etc/xdg/pip/ca.crt',
          },
        },
      },
      {
        title: 'sonar-project.properties: the server, the Connector proxy with the Connector and the token',
        attributes: { connectors: 'sonar', 'configuration.names': 'sonar-scanner' },
        file: 'sonar-project.properties',
        parse: properties,
        want: {
          'sonar.host.url': 'https://sonar.example.com/sonarqube',
          'sonar.scanner.proxyHost': 'c-sonar.team-a.svc.cluster.local',
          'sonar.scanner.proxyPort': '80',
          'sonar.scanner.proxyUser': 'team-a%2Fsonar',
          'sonar.scanner.proxyPassword': token,
        },
      },
      {
        title: 'glab config.yml: the proxy host as host and API host over http, the token',
        attributes: { connectors: 'gitlab', 'configuration.names': 'gitlabconfig' },
        file: 'config.yml',
        parse: (text) => loadAllYaml(text)[0] as unknown,
        want: {
          host: 'c-gitlab.team-a.svc.cluster.local',
          git_protocol: 'http',
          no_prompt: true,
          check_update: false,
          telemetry: false,
          hosts: {
            'c-gitlab.team-a.svc.cluster.local': {
              api_host: 'c-gitlab.team-a.svc.cluster.local',
              api_protocol: 'http',
              git_protocol: 'http',
              token,
              user: 'team-a/gitlab',
            },
          },
        },
      },
      {
        title:
          'harbor-cli config.yaml: one credential per Connector, the first current, the placeholder login',
        attributes: { connectors: 'harbor,harbor-2', 'configuration.names': 'harbor-cli-config' },
        file: 'config.yaml',
        parse: (text) => loadAllYaml(text)[0] as unknown,
        want: {
          'current-credential-name': 'team-a/harbor',
          credentials: [
            {
              name: 'team-a/harbor',
              username: 'connector-proxy',
              password: 'Y29ubmVjdG9yc3ByQWfSdknclnlMUbAVjLFiYLGxdy7zzqYUObOMugo5Yg==',
              serveraddress: 'https://harbor.example.com',
            },
            {
              name: 'team-a/harbor-2',
              username: 'connector-proxy',
              password: 'Y29ubmVjdG9yc3ByQWfSdknclnlMUbAVjLFiYLGxdy7zzqYUObOMugo5Yg==',
              serveraddress: 'https://harbor2.example.com',
            },
          ],
        },
      },
    ];
    for (const c of cases) {
      it(c.title, async function () {
        const files = await make(true).render(request(c.attributes));
        expect(c.parse(files.get(c.file) ?? '')).to.deep.equal(c.want);
      });
    }

    it('harbor-cli decrypts the placeholder password with the shipped HARBOR_ENCRYPTION_KEY', async function () {
      const files = await content.render(
        request({ connectors: 'harbor', 'configuration.names': 'harbor-cli-config' }),
      );
      const config = loadAllYaml(files.get('config.yaml') ?? '')[0] as {
        credentials: { password: string }[];
      };
      // harbor-cli's format: base64(nonce(12) ‖ AES-GCM ciphertext ‖ tag(16)), the key base64 of 32 bytes.
      const key = Buffer.from(files.get('HARBOR_ENCRYPTION_KEY') ?? '', 'base64');
      expect(key).to.have.length(32);
      const sealed = Buffer.from(config.credentials[0]?.password ?? '', 'base64');
      const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, 12));
      decipher.setAuthTag(sealed.subarray(-16));
      const plain = Buffer.concat([decipher.update(sealed.subarray(12, -16)), decipher.final()]);
      expect(plain.toString('utf8')).to.equal('connector-proxy');
    });
  });

  it('renders every configuration of every shipped class', async function () {
    let rendered = 0;
    for (const [className, cls] of shipped) {
      const name = `any-${className}`;
      cluster.add(connector('team-a', name, className, 'https://tool.example.com/base/'));
      rbac.allowed.add(`team-a/${name}`);
      for (const configuration of cls.spec?.configurations ?? []) {
        // A value for each param without a default (mysql's mountPath).
        const params = Object.fromEntries(
          (configuration.params ?? [])
            .filter((p) => p.default === undefined)
            .map((p) => [p.name, '/etc/connectors']),
        );
        const files = await content.render(
          request({
            connectors: name,
            'configuration.names': configuration.name,
            'configuration.params': JSON.stringify({ [configuration.name]: params }),
          }),
        );
        for (const file of Object.keys(configuration.data ?? {})) {
          expect(files.get(file), `${className}/${configuration.name}/${file}`).to.be.a('string').that.is.not
            .empty;
          expect(files.get(file)).not.to.contain('<no value>');
          rendered++;
        }
      }
    }
    // Not vacuous: an empty manifests/classes, or classes without configurations, would pass above.
    expect(rendered).to.be.greaterThan(0);
  });

  it('several Connectors: one .gitconfig over git and gitlab; the proxy username lists both', async function () {
    const files = await make(true).render(
      request({ connectors: 'git,gitlab', 'configuration.names': 'gitconfig' }),
    );
    const gitconfig = files.get('.gitconfig') ?? '';
    expect(gitconfig).to.contain('insteadOf = https://git.example.com/scm/');
    expect(gitconfig).to.contain('insteadOf = https://gitlab.example.com/');
    expect(files.get('http.proxy')).to.equal(
      `http://team-a%2Fgit,team-a%2Fgitlab:${token}@c-gitlab.team-a.svc.cluster.local:80`,
    );
    expect(files.get('connector.status.proxyAddress')).to.equal('http://c-gitlab.team-a.svc.cluster.local');
  });

  describe('configuration params', function () {
    beforeEach(function () {
      cluster.classes.set('params-test', {
        metadata: { name: 'params-test' },
        spec: {
          configurations: [
            {
              name: 'conf',
              params: [
                { name: 'repository' },
                { name: 'strictSSL', default: 'true', enum: ['true', 'false'] },
                { name: 'list', type: 'array', default: ['a', 'b'] },
              ],
              data: {
                'conf.txt':
                  'repo={{ .configurations.repository }} ssl={{ .configurations.strictSSL }} list={{ range .configurations.list }}{{ . }}{{ end }} class={{ .connectorclass.name }}',
              },
            },
          ],
        },
      });
      cluster.add(connector('team-a', 'p', 'params-test', 'https://p.example.com'));
      rbac.allowed.add('team-a/p');
    });

    const conf = (params?: object): PublishRequest =>
      request({
        connectors: 'p',
        'configuration.names': 'conf',
        ...(params ? { 'configuration.params': JSON.stringify({ conf: params }) } : {}),
      });

    it('given values and defaults become .configurations', async function () {
      const files = await content.render(conf({ repository: 'maven-public' }));
      expect(files.get('conf.txt')).to.equal('repo=maven-public ssl=true list=ab class=params-test');
      const all = await content.render(conf({ repository: 'r', strictSSL: 'false', list: ['x'] }));
      expect(all.get('conf.txt')).to.equal('repo=r ssl=false list=x class=params-test');
    });

    const refusals: { name: string; params?: object; message: RegExp }[] = [
      {
        name: 'a required param missing',
        message:
          /configuration "conf" of ConnectorClass "params-test" needs the param "repository": set it in configuration.params/,
      },
      {
        name: 'an undeclared param',
        params: { repository: 'r', nope: 'x' },
        message: /has no param "nope" \(it declares "repository", "strictSSL", "list"\)/,
      },
      {
        name: 'a value outside the enum',
        params: { repository: 'r', strictSSL: 'maybe' },
        message: /param "strictSSL" must be one of "true", "false"/,
      },
      {
        name: 'a value of the wrong type',
        params: { repository: ['r'] },
        message: /param "repository" must be of type string, not array/,
      },
    ];
    for (const c of refusals) {
      it(`INVALID_ARGUMENT: ${c.name}`, async function () {
        const err = await refusal(content.render(conf(c.params)));
        expect(err.code).to.equal(status.INVALID_ARGUMENT);
        expect(err.message).to.match(c.message);
      });
    }
  });

  describe('refusals name the problem', function () {
    it('a Connector that does not exist: NOT_FOUND (once RBAC allows it)', async function () {
      rbac.allowed.add('team-a/ghost'); // e.g. a Role granting every Connector of the namespace
      const err = await refusal(content.render(request({ connectors: 'ghost' })));
      expect(err.code).to.equal(status.NOT_FOUND);
      expect(err.message).to.equal('connector "team-a/ghost" not found');
    });

    it('a class that is not installed: NOT_FOUND', async function () {
      cluster.add(connector('team-a', 'orphan', 'nope', 'https://x.example.com'));
      rbac.allowed.add('team-a/orphan');
      const err = await refusal(content.render(request({ connectors: 'orphan' })));
      expect(err.code).to.equal(status.NOT_FOUND);
      expect(err.message).to.equal('connectorclass "nope" of connector "team-a/orphan" not found');
    });

    it('an unknown configuration name: NOT_FOUND with what the class offers', async function () {
      const err = await refusal(
        content.render(request({ connectors: 'git', 'configuration.names': 'npmrc' })),
      );
      expect(err.code).to.equal(status.NOT_FOUND);
      expect(err.message).to.equal(
        'configuration "npmrc" not found: ConnectorClass "git" declares gitconfig',
      );
    });

    it('no proxy address yet: UNAVAILABLE (kubelet retries)', async function () {
      const c = connector('team-a', 'fresh', 'git', 'https://x.example.com');
      delete c.status;
      cluster.add(c);
      rbac.allowed.add('team-a/fresh');
      const err = await refusal(content.render(request({ connectors: 'fresh' })));
      expect(err.code).to.equal(status.UNAVAILABLE);
      expect(err.message).to.contain('connector "team-a/fresh" has no proxy address yet');
    });

    it('no published proxy CA: UNAVAILABLE', async function () {
      cluster.ca = undefined;
      const err = await refusal(content.render(request({ connectors: 'git' })));
      expect(err.code).to.equal(status.UNAVAILABLE);
      expect(err.message).to.contain('CA certificate is not published yet');
    });

    it('RBAC refuses: PERMISSION_DENIED naming the Connector, before it is read', async function () {
      rbac.allowed.delete('team-a/git');
      const err = await refusal(content.render(request({ connectors: 'git' })));
      expect(err.code).to.equal(status.PERMISSION_DENIED);
      expect(err.message).to.equal(
        'connectors.connectors.alauda.io "git" is forbidden: User "system:serviceaccount:team-a:builder" cannot get resource "connectors" in API group "connectors.alauda.io" in the namespace "team-a"',
      );
      const ghost = await refusal(content.render(request({ connectors: 'ghost-without-rbac' })));
      expect(ghost.code).to.equal(status.PERMISSION_DENIED);
    });

    it('a template that fails: INTERNAL naming the configuration, class and file', async function () {
      cluster.classes.set('broken', {
        metadata: { name: 'broken' },
        spec: {
          configurations: [{ name: 'b', data: { 'b.txt': '{{ .context.token.nope }}{{ urlParse "x" }}' } }],
        },
      });
      cluster.add(connector('team-a', 'b', 'broken', 'https://b.example.com'));
      rbac.allowed.add('team-a/b');
      const err = await refusal(content.render(request({ connectors: 'b', 'configuration.names': 'b' })));
      expect(err.code).to.equal(status.INTERNAL);
      expect(err.message).to.match(
        /^failed to generate configuration "b" of ConnectorClass "broken" \(b.txt\): template: 1:/,
      );
    });

    it('a configuration naming a file that is not a plain name: FAILED_PRECONDITION', async function () {
      cluster.classes.set('escape', {
        metadata: { name: 'escape' },
        spec: { configurations: [{ name: 'e', data: { '../evil': 'x' } }] },
      });
      cluster.add(connector('team-a', 'e', 'escape', 'https://e.example.com'));
      rbac.allowed.add('team-a/e');
      const err = await refusal(content.render(request({ connectors: 'e', 'configuration.names': 'e' })));
      expect(err.code).to.equal(status.FAILED_PRECONDITION);
      expect(err.message).to.contain('names the file "../evil"');
    });
  });

  describe('scope: which namespaces a pod may use Connectors of', function () {
    it('kube-public: from every namespace', async function () {
      const files = await content.render(request({ connectors: 'kube-public/shared' }));
      expect(files.get('connector.status.proxyAddress')).to.equal(
        'http://c-shared.kube-public.svc.cluster.local',
      );
    });

    it('a project namespace: from the namespaces of that project only', async function () {
      cluster.labels.set('tools', { 'cpaas.io/inner-namespace': 'proj' });
      const outside = await refusal(content.render(request({ connectors: 'tools/project-git' })));
      expect(outside.code).to.equal(status.PERMISSION_DENIED);
      cluster.labels.set('team-a', { 'cpaas.io/project': 'proj' });
      const files = await content.render(request({ connectors: 'tools/project-git' }));
      expect(files.has('context.token')).to.equal(true);
    });

    it('any other namespace: PERMISSION_DENIED naming the Connector, even with RBAC', async function () {
      const err = await refusal(content.render(request({ connectors: 'other/private' })));
      expect(err.code).to.equal(status.PERMISSION_DENIED);
      expect(err.message).to.match(/^connector "other\/private" cannot be used from namespace "team-a"/);
    });
  });
});
