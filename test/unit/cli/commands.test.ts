// The plugin's commands against a stand-in kube-apiserver reached through a real kubeconfig: what
// each one asks (paths, queries, methods, headers, the review it posts) and what it prints (tables,
// JSON, YAML, exit codes, kubectl's error words), the kubeconfig choices (--kubeconfig,
// $KUBECONFIG, --context and its namespace, -n), help for every command, and the waiting line
// that shows only on a terminal.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { commands } from '../../../cli/run.js';
import { runPlugin, status, useFakeCluster, type FakeCluster } from './fake-cluster.js';

const connectorsPath = '/apis/connectors.alauda.io/v1alpha1';
const subPath = '/apis/subresources.connectors.alauda.io/v1alpha1';

function connector(ns: string, name: string, cls: string, ready?: [string, string]): object {
  return {
    apiVersion: 'connectors.alauda.io/v1alpha1',
    kind: 'Connector',
    metadata: { name, namespace: ns, creationTimestamp: '2025-06-01T11:55:00Z' },
    spec: { connectorClassName: cls, address: `https://${name}.example.com` },
    ...(ready ? { status: { conditions: [{ type: 'Ready', status: ready[0], reason: ready[1] }] } } : {}),
  };
}

const gitClass = {
  metadata: {
    name: 'git',
    labels: {
      'connectors.cpaas.io/git': 'true',
      'resourceinterface.connectors.cpaas.io/gitcoderepository': 'true',
      'resourceinterface.connectors.cpaas.io/other': 'false',
    },
  },
  spec: { api: { openapi: { paths: { '/branches': {}, '/tags': {}, '/git/gitrefs': {} } } } },
};

describe('cli: the commands against a stand-in kube-apiserver', function () {
  const held = useFakeCluster();
  let fake: FakeCluster;
  let kc: string[];
  let dir: string;
  beforeEach(() => {
    ({ fake, kc, dir } = held);
  });

  describe('get', () => {
    beforeEach(() => {
      fake.routes = (req) => {
        if (req.url === `${connectorsPath}/namespaces/team-a/connectors`) {
          return {
            body: {
              kind: 'ConnectorList',
              items: [
                connector('team-a', 'demo-git', 'git', ['True', 'Ready']),
                connector('team-a', 'lost', 'gone'),
              ],
            },
          };
        }
        if (req.url === `${connectorsPath}/connectors`) {
          return {
            body: {
              kind: 'ConnectorList',
              items: [connector('team-a', 'demo-git', 'git'), connector('team-b', 'x', 'git')],
            },
          };
        }
        if (req.url === `${connectorsPath}/namespaces/team-a/connectors/demo-git`)
          return { body: connector('team-a', 'demo-git', 'git') };
        if (req.url === `${connectorsPath}/connectorclasses`) return { body: { items: [gitClass] } };
        if (req.url.startsWith(`${connectorsPath}/namespaces/empty/`)) return { body: { items: [] } };
        return undefined;
      };
    });

    it("a table of the context's namespace, with the token of the kubeconfig's user", async () => {
      const r = await runPlugin(['get', ...kc]);
      expect(r).to.deep.equal({
        code: 0,
        stderr: '',
        stdout: [
          'NAME       CLASS   ADDRESS                        READY   REASON   AGE',
          'demo-git   git     https://demo-git.example.com   True    Ready    5m',
          'lost       gone    https://lost.example.com                        5m',
          '',
        ].join('\n'),
      });
      expect(fake.seen[0]?.headers.authorization).to.equal('Bearer main-token');
      expect(fake.seen[0]?.headers['user-agent']).to.equal('kubectl-connectors');
    });

    it('-o wide: the APIs and ResourceInterfaces of each class', async () => {
      const r = await runPlugin(['get', '-o', 'wide', ...kc]);
      expect(r.stdout.split('\n')[0]).to.match(/AGE +APIS +RESOURCEINTERFACES$/);
      expect(r.stdout.split('\n')[1]).to.match(/5m +branches,tags,git,proxy +gitcoderepository$/);
      expect(r.stdout.split('\n')[2]).to.match(/5m +<no class> +<no class>$/);
    });

    it('-o wide without the right to list classes: a warning, and the columns say unknown', async () => {
      const routes = fake.routes;
      fake.routes = (req) =>
        req.url.endsWith('/connectorclasses')
          ? status(403, 'Forbidden', 'connectorclasses is forbidden')
          : routes(req);
      const r = await runPlugin(['get', '-owide', ...kc]);
      expect(r.code).to.equal(0);
      expect(r.stderr).to.contain('Warning: you may not list ConnectorClasses');
      expect(r.stdout.split('\n')[1]).to.match(/<unknown> +<unknown>$/);
    });

    it('-A: every namespace, with a NAMESPACE column; a name with -A is refused', async () => {
      const r = await runPlugin(['get', '-A', ...kc]);
      expect(r.stdout.split('\n').map((l) => l.split(/ +/).slice(0, 2).join(' '))).to.deep.equal([
        'NAMESPACE NAME',
        'team-a demo-git',
        'team-b x',
        '',
      ]);
      const named = await runPlugin(['get', 'x', '-A', ...kc]);
      expect(named.code).to.equal(1);
      expect(named.stderr).to.equal(
        "error: a resource cannot be retrieved by name across all namespaces\nSee 'kubectl connectors get --help' for usage.\n",
      );
    });

    it('-o json, -o yaml, -o name; a bad -o is refused before any request', async () => {
      const json = await runPlugin(['get', 'demo-git', '-o', 'json', ...kc]);
      expect(JSON.parse(json.stdout)).to.deep.equal(connector('team-a', 'demo-git', 'git'));
      expect((await runPlugin(['get', 'demo-git', '-oyaml', ...kc])).stdout).to.contain('kind: Connector\n');
      expect((await runPlugin(['get', '-o', 'name', ...kc])).stdout).to.equal(
        'connector.connectors.alauda.io/demo-git\nconnector.connectors.alauda.io/lost\n',
      );
      fake.seen.length = 0;
      const bad = await runPlugin(['get', '-o', 'xml', ...kc]);
      expect(bad.stderr).to.contain(
        'unable to match a printer suitable for the output format "xml", allowed formats are: json,name,wide,yaml',
      );
      expect(fake.seen).to.have.length(0);
    });

    it('nothing there: kubectl’s "No resources found" on stderr, exit 0', async () => {
      expect(await runPlugin(['get', '-n', 'empty', ...kc])).to.deep.equal({
        code: 0,
        stdout: '',
        stderr: 'No resources found in empty namespace.\n',
      });
    });

    it('a Status from the server as kubectl prints it, exit 1', async () => {
      const r = await runPlugin(['get', 'nope', ...kc]);
      expect(r).to.deep.equal({
        code: 1,
        stdout: '',
        stderr: 'Error from server (NotFound): the server could not find the requested resource\n',
      });
      fake.routes = () => status(401, 'Unauthorized', 'Unauthorized');
      expect((await runPlugin(['get', ...kc])).stderr).to.equal(
        'error: You must be logged in to the server (Unauthorized)\n',
      );
      fake.routes = () => ({ status: 502, body: '<html>bad gateway</html>' });
      expect((await runPlugin(['get', ...kc])).stderr).to.equal(
        'error: the server responded with the status code 502 but did not return more information\n',
      );
    });
  });

  describe('which cluster, which user, which namespace', () => {
    beforeEach(() => {
      fake.routes = () => ({ body: { items: [] } });
    });

    it('--context picks the context and its namespace (default when it has none); -n wins', async () => {
      await runPlugin(['get', '--context', 'other', ...kc]);
      expect(fake.seen.at(-1)?.url).to.equal(`${connectorsPath}/namespaces/default/connectors`);
      expect(fake.seen.at(-1)?.headers.authorization).to.equal('Bearer other-token');
      await runPlugin(['-n', 'ns-flag', 'get', '--context=other', ...kc]);
      expect(fake.seen.at(-1)?.url).to.equal(`${connectorsPath}/namespaces/ns-flag/connectors`);
    });

    it('$KUBECONFIG when no --kubeconfig; --kubeconfig wins', async () => {
      await runPlugin(['get'], { env: { KUBECONFIG: fake.kubeconfig } });
      expect(fake.seen.at(-1)?.headers.authorization).to.equal('Bearer main-token');
      const r = await runPlugin(['get', '--kubeconfig', join(dir, 'missing')], {
        env: { KUBECONFIG: fake.kubeconfig },
      });
      expect(r.stderr).to.equal(`error: cannot read kubeconfig ${join(dir, 'missing')}: ENOENT\n`);
    });

    it('a context the kubeconfig does not have is named, with those it has', async () => {
      const r = await runPlugin(['get', '--context', 'prod', ...kc]);
      expect(r.code).to.equal(1);
      expect(r.stderr).to.equal(
        `error: kubeconfig ${fake.kubeconfig}: has no context "prod" (its contexts: main, other)\n`,
      );
    });

    it('a server that cannot be reached: which one, from where, and what to check', async () => {
      const closed = join(dir, 'closed.kubeconfig');
      writeFileSync(
        closed,
        JSON.stringify({
          clusters: [{ name: 'c', cluster: { server: 'https://127.0.0.1:1' } }],
          contexts: [{ name: 'gone', context: { cluster: 'c' } }],
          'current-context': 'gone',
        }),
      );
      const r = await runPlugin(['get', '--kubeconfig', closed]);
      expect(r.code).to.equal(1);
      expect(r.stderr).to.equal(
        `error: cannot talk to the Kubernetes API server at https://127.0.0.1:1 (context "gone" of ${closed}): connection refused; is the cluster running, and is this its address?\n`,
      );
    });
  });

  describe('class APIs', () => {
    const refs = {
      listMeta: { totalItems: 3 },
      items: [
        { name: 'main', commitID: 'a1' },
        { name: 'develop', commitID: 'b2' },
      ],
    };
    beforeEach(() => {
      fake.routes = (req) =>
        req.url.startsWith(`${subPath}/namespaces/team-a/connectors/demo-git/`) ? { body: refs } : undefined;
    });

    it('branches: GET …/branches?repository=…&search=…, the items as a table, a note when there are more', async () => {
      const r = await runPlugin([
        'branches',
        'demo-git',
        '--repository',
        'org/app.git',
        '--search',
        'ma',
        ...kc,
      ]);
      expect(fake.seen[0]?.url).to.equal(
        `${subPath}/namespaces/team-a/connectors/demo-git/branches?repository=org%2Fapp.git&search=ma`,
      );
      expect(r).to.deep.equal({
        code: 0,
        stdout: 'NAME      COMMITID\nmain      a1\ndevelop   b2\n',
        stderr: '2 of 3 items: --param page=N (and --param itemsPerPage=N) for the others\n',
      });
    });

    it('tags needs --repository; -o json prints the answer as it came', async () => {
      const missing = await runPlugin(['tags', 'demo-git', ...kc]);
      expect(missing.code).to.equal(1);
      expect(missing.stderr).to.contain('--repository is required');
      const r = await runPlugin([
        'tags',
        'demo-git',
        '--repository=org/app.git',
        '--param',
        'page=2',
        '-o',
        'json',
        ...kc,
      ]);
      expect(fake.seen.at(-1)?.url).to.match(/\/tags\?repository=org%2Fapp.git&page=2$/);
      expect(JSON.parse(r.stdout)).to.deep.equal(refs);
    });

    it('api: any declared path, with a query in the path and from --param', async () => {
      await runPlugin([
        'api',
        'demo-git',
        '/git/gitrefs?search=v1',
        '--param',
        'repositoryUrl=https://g/x.git',
        ...kc,
      ]);
      expect(fake.seen.at(-1)?.url).to.equal(
        `${subPath}/namespaces/team-a/connectors/demo-git/git/gitrefs?search=v1&repositoryUrl=https%3A%2F%2Fg%2Fx.git`,
      );
      fake.routes = () => ({ body: { name: 'not a list' } });
      expect((await runPlugin(['api', 'demo-git', 'user', ...kc])).stdout).to.equal('name: not a list\n');
    });
  });

  describe('curl', () => {
    it('GET: the path under …/proxy/, the body to stdout; -i prints the status line and headers first', async () => {
      fake.routes = () => ({ body: 'hello', headers: { 'x-tool': 'yes' } });
      const r = await runPlugin(['curl', 'demo-tool', '/api/v1/items?x=1', '-i', ...kc]);
      expect(fake.seen[0]).to.include({
        method: 'GET',
        url: `${subPath}/namespaces/team-a/connectors/demo-tool/proxy/api/v1/items?x=1`,
      });
      expect(r.code).to.equal(0);
      expect(r.stdout).to.match(/^HTTP\/1\.1 200 OK\r\n/);
      expect(r.stdout).to.contain('x-tool: yes\r\n');
      expect(r.stdout.endsWith('\r\n\r\nhello')).to.equal(true);
    });

    it('-d: POST with curl’s Content-Type; -X and -H; --data-binary @- reads stdin', async () => {
      fake.routes = () => ({ body: 'ok' });
      await runPlugin(['curl', 'demo-tool', 'items', '-d', 'a=1', ...kc]);
      expect(fake.seen[0]).to.include({ method: 'POST', body: 'a=1' });
      expect(fake.seen[0]?.headers['content-type']).to.equal('application/x-www-form-urlencoded');
      await runPlugin(
        [
          'curl',
          'demo-tool',
          '/x',
          '-X',
          'put',
          '-H',
          'Content-Type: application/json',
          '--data-binary',
          '@-',
          ...kc,
        ],
        {
          stdin: '{"a":1}\n',
        },
      );
      expect(fake.seen[1]).to.include({ method: 'PUT', body: '{"a":1}\n' });
      expect(fake.seen[1]?.headers['content-type']).to.equal('application/json');
      const file = join(dir, 'body.bin');
      writeFileSync(file, 'from a file');
      await runPlugin(['curl', 'demo-tool', '-d', `@${file}`, ...kc]);
      expect(fake.seen[2]).to.include({
        method: 'POST',
        body: 'from a file',
        url: `${subPath}/namespaces/team-a/connectors/demo-tool/proxy/`,
      });
    });

    it('your own Authorization or Impersonate-* header is refused: it is who you are to the API server', async () => {
      const r = await runPlugin(['curl', 'demo-tool', '-H', 'Authorization: Bearer x', ...kc]);
      expect(r.code).to.equal(1);
      expect(r.stderr).to.contain('-H Authorization: the API server reads it to tell who you are');
      expect((await runPlugin(['curl', 'demo-tool', '-H', 'Impersonate-User: admin', ...kc])).code).to.equal(
        1,
      );
      expect(fake.seen).to.have.length(0);
    });

    it('not 2xx: a Status as kubectl prints it, a tool’s own answer as it came, exit 1', async () => {
      fake.routes = () =>
        status(403, 'Forbidden', 'connectors.subresources.connectors.alauda.io "demo-tool" is forbidden');
      expect(await runPlugin(['curl', 'demo-tool', '-d', 'x', ...kc])).to.deep.equal({
        code: 1,
        stdout: '',
        stderr:
          'Error from server (Forbidden): connectors.subresources.connectors.alauda.io "demo-tool" is forbidden\n',
      });
      fake.routes = () => ({ status: 404, body: 'no such page' });
      expect(await runPlugin(['curl', 'demo-tool', '/nope', ...kc])).to.deep.equal({
        code: 1,
        stdout: '',
        stderr: 'no such page\nerror: the tool answered 404 Not Found\n',
      });
    });
  });

  describe('can-i', () => {
    let allowed = true;
    beforeEach(() => {
      fake.routes = (req) =>
        req.url === '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews'
          ? {
              status: 201,
              body: {
                status: allowed ? { allowed: true } : { allowed: false, reason: 'no RBAC policy matched' },
              },
            }
          : undefined;
    });

    const review = (): unknown => (JSON.parse(fake.seen.at(-1)?.body ?? '{}') as { spec: unknown }).spec;

    it('yes: exit 0; the review is for connectors/SUBRESOURCE of the subresources group', async () => {
      allowed = true;
      expect(await runPlugin(['can-i', 'create', 'proxy', 'demo-tool', ...kc])).to.deep.equal({
        code: 0,
        stdout: 'yes\n',
        stderr: '',
      });
      expect(review()).to.deep.equal({
        resourceAttributes: {
          namespace: 'team-a',
          verb: 'create',
          group: 'subresources.connectors.alauda.io',
          resource: 'connectors',
          subresource: 'proxy',
          name: 'demo-tool',
        },
      });
    });

    it('no: exit 1, with the reason; -q prints nothing', async () => {
      allowed = false;
      expect(await runPlugin(['can-i', 'get', 'branches', 'demo-git', ...kc])).to.deep.equal({
        code: 1,
        stdout: 'no - no RBAC policy matched\n',
        stderr: '',
      });
      expect(await runPlugin(['can-i', 'get', 'branches', '-q', ...kc])).to.deep.equal({
        code: 1,
        stdout: '',
        stderr: '',
      });
    });

    it('an HTTP method is the verb our server checks; a path is checked on its first segment; - is the Connector', async () => {
      allowed = true;
      const verbs: [string, string][] = [
        ['GET', 'get'],
        ['HEAD', 'get'],
        ['POST', 'create'],
        ['PUT', 'update'],
        ['PATCH', 'patch'],
        ['DELETE', 'delete'],
      ];
      for (const [method, verb] of verbs) {
        await runPlugin(['can-i', method, 'proxy', 'x', ...kc]);
        expect((review() as { resourceAttributes: { verb: string } }).resourceAttributes.verb).to.equal(verb);
      }
      await runPlugin(['can-i', 'get', '/git/gitrefs', 'x', ...kc]);
      expect(review()).to.have.nested.property('resourceAttributes.subresource', 'git');
      await runPlugin(['can-i', 'delete', '-', 'x', ...kc]);
      expect(review()).to.have.nested.include({
        'resourceAttributes.group': 'connectors.alauda.io',
        'resourceAttributes.subresource': '',
      });
      const trace = await runPlugin(['can-i', 'TRACE', 'proxy', 'x', ...kc]);
      expect(trace.stderr).to.contain('TRACE is never served to a tool');
      expect((await runPlugin(['can-i', 'fly', 'proxy', ...kc])).stderr).to.contain('unknown verb "fly"');
    });
  });

  describe('help, and the waiting line', () => {
    it('--help on every command: Examples, Options, Usage; the list of commands names each one', async () => {
      const root = await runPlugin(['--help']);
      for (const c of commands) {
        expect(root.stdout).to.contain(`\n  ${c.name} `);
        const help = await runPlugin([c.name, '--help']);
        expect(help.code, c.name).to.equal(0);
        expect(help.stdout, c.name).to.match(/\nExamples:\n {2}# .+\n {2}kubectl connectors /);
        expect(help.stdout, c.name).to.contain(`\nUsage:\n  kubectl connectors ${c.name} `);
        expect(help.stdout, c.name).to.contain('    --kubeconfig=');
      }
      expect((await runPlugin([])).stdout).to.equal(root.stdout);
      const unknown = await runPlugin(['frobnicate']);
      expect(unknown.code).to.equal(1);
      expect(unknown.stderr).to.contain('error: unknown command "frobnicate" for "kubectl connectors"');
    });

    it('a slow call shows a spinner on a terminal’s stderr, erased at the end; never on a pipe', async () => {
      fake.routes = () => ({ body: { items: [] }, delayMs: 700 });
      const tty = await runPlugin(['get', '-n', 'slow', ...kc], { tty: true });
      expect(tty.stderr).to.match(/^\r. Reading Connectors…/);
      expect(tty.stderr.split('\r')[1]?.endsWith('Reading Connectors…\u001b[K')).to.equal(true);
      expect(tty.stderr).to.contain('\r\u001b[KNo resources found in slow namespace.\n');
      const pipe = await runPlugin(['get', '-n', 'slow', ...kc]);
      expect(pipe.stderr).to.equal('No resources found in slow namespace.\n');
      fake.routes = () => ({ body: { items: [] } });
      expect((await runPlugin(['get', '-n', 'quick', ...kc], { tty: true })).stderr).to.equal(
        'No resources found in quick namespace.\n',
      );
    });
  });
});
