// /proxy through the real kube-apiserver: kubectl, @kubernetes/client-node and ServiceAccount
// tokens, each checked against what the recording tool actually received.

import { expect } from 'chai';
import { CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import {
  apply,
  basicAuthSecret,
  connector,
  connectorClass,
  env,
  grant,
  kubectl,
  kubectlOk,
  kubeRequest,
  namespace,
  proxyPath,
  secretValue,
  userKubeconfig,
} from '../helpers/env.js';
import { allowSecret, recordResponse } from '../helpers/leaks.js';

interface Echo {
  method: string;
  url: string;
  headers: Record<string, string>;
  bodyBytes: number;
}

describe('connectors/{name}/proxy through kube-apiserver', function () {
  let ns: string;
  let reader: string; // kubeconfig: get only
  let writer: string; // kubeconfig: get, create, delete
  const callerPassword = secretValue('caller-password');

  before(async function () {
    ns = await namespace('proxy');
    const { tool, toolUser, toolPassword } = env();
    await apply([
      connectorClass('http-test'),
      basicAuthSecret(ns, 'tool-creds', toolUser, toolPassword),
      connector(ns, 'echo', { address: `${tool.url}/base`, secret: 'tool-creds' }),
      ...grant(ns, 'alice-read', { kind: 'User', name: 'alice' }, ['get']),
      ...grant(ns, 'bob-write', { kind: 'User', name: 'bob' }, ['get', 'create', 'delete']),
    ]);
    reader = await userKubeconfig('alice', ['dev']);
    writer = await userKubeconfig('bob', ['dev']);
  });

  it('GET returns the tool response; the tool saw the Connector credential, not the caller', async function () {
    const { tool, toolUser, toolPassword } = env();
    const before = tool.requests.length;
    const out = await kubectlOk(
      ['get', '--raw', proxyPath(ns, 'echo', '/api/v4/projects?simple=true&page=2')],
      {
        kubeconfig: reader,
      },
    );
    const echo = JSON.parse(out) as Echo;
    expect(echo.method).to.equal('GET');
    expect(echo.url).to.equal('/base/api/v4/projects?page=2&simple=true'); // prefix kept; kube-apiserver sorts the query
    const seen = tool.requests.slice(before);
    expect(seen).to.have.length(1);
    expect(seen[0]?.headers.authorization).to.equal(
      `Basic ${Buffer.from(`${toolUser}:${toolPassword}`).toString('base64')}`,
    );
    for (const h of Object.keys(seen[0]?.headers ?? {})) {
      expect(h).not.to.match(/^(x-remote-|impersonate-|x-forwarded-)/);
    }
    expect(seen[0]?.headers.cookie).to.equal(undefined);
  });

  it('the caller’s own Authorization and cookies never reach the tool', async function () {
    const { tool } = env();
    const token = await env().sys.cp.createToken(ns, 'caller');
    await apply(grant(ns, 'caller-read', { kind: 'ServiceAccount', name: 'caller' }, ['get']));
    const before = tool.requests.length;
    // A raw HTTPS call to kube-apiserver carrying a bearer token, a cookie and a PRIVATE-TOKEN.
    const r = await kubeRequest(proxyPath(ns, 'echo', '/who'), {
      token,
      headers: { cookie: `session=${callerPassword}`, 'private-token': callerPassword },
    });
    expect(r.status).to.equal(200);
    const seen = tool.requests.slice(before);
    expect(seen).to.have.length(1);
    const all = JSON.stringify(seen[0]?.headers);
    expect(all).not.to.contain(token);
    expect(all).not.to.contain(callerPassword);
    expect(seen[0]?.headers.authorization).to.match(/^Basic /);
  });

  it('hop-by-hop headers are stripped and tool session cookies are not returned', async function () {
    const token = await env().sys.cp.createToken(ns, 'caller');
    const r = await kubeRequest(proxyPath(ns, 'echo', '/hop'), {
      token,
      headers: {
        'x-custom': 'kept',
        te: 'trailers',
        'proxy-authorization': `Basic ${Buffer.from(`foo:${callerPassword}`).toString('base64')}`,
      },
    });
    const echo = JSON.parse(r.body) as Echo;
    expect(echo.headers['x-custom']).to.equal('kept');
    expect(echo.headers['proxy-authorization']).to.equal(undefined);
    expect(echo.headers.te).to.equal(undefined);
    expect(r.headers['set-cookie']).to.equal(undefined);
    expect(r.headers['content-type']).to.equal('application/json');
  });

  it('POST (kubectl create --raw) works with `create` and is 403 with only `get`', async function () {
    const { tool } = env();
    const body = JSON.stringify({ name: 'new-branch', ref: 'main' });
    const before = tool.requests.length;
    const ok = await kubectl(['create', '--raw', proxyPath(ns, 'echo', '/api/v4/branches'), '-f', '-'], {
      kubeconfig: writer,
      input: body,
    });
    expect(ok.code, ok.stderr).to.equal(0);
    const echo = JSON.parse(ok.stdout) as Echo;
    expect(echo.method).to.equal('POST');
    expect(echo.bodyBytes).to.equal(body.length);

    const denied = await kubectl(['create', '--raw', proxyPath(ns, 'echo', '/api/v4/branches'), '-f', '-'], {
      kubeconfig: reader,
      input: body,
    });
    expect(denied.code).to.not.equal(0);
    expect(denied.stderr).to.match(/Forbidden|forbidden/);
    expect(denied.stderr).to.contain('cannot create resource "connectors/proxy"');
    expect(tool.requests.slice(before)).to.have.length(1); // the denied POST never reached the tool
  });

  it('DELETE (kubectl delete --raw) works with `delete` and is 403 with only `get`', async function () {
    const ok = await kubectl(['delete', '--raw', proxyPath(ns, 'echo', '/api/v4/branches/x')], {
      kubeconfig: writer,
    });
    expect(ok.code, ok.stderr).to.equal(0);
    expect((JSON.parse(ok.stdout) as Echo).method).to.equal('DELETE');
    const denied = await kubectl(['delete', '--raw', proxyPath(ns, 'echo', '/api/v4/branches/x')], {
      kubeconfig: reader,
    });
    expect(denied.code).to.not.equal(0);
    expect(denied.stderr).to.contain('cannot delete resource "connectors/proxy"');
  });

  it('works from @kubernetes/client-node', async function () {
    const kc = new KubeConfig();
    kc.loadFromFile(reader);
    // The generic custom-objects client addresses any group/version/plural/name path.
    const api = kc.makeApiClient(CustomObjectsApi);
    const res = (await api.getNamespacedCustomObject({
      group: 'subresources.connectors.alauda.io',
      version: 'v1alpha1',
      namespace: ns,
      plural: 'connectors',
      name: 'echo/proxy/from-client-node',
    })) as Echo;
    recordResponse('client-node GET …/echo/proxy/from-client-node', {}, JSON.stringify(res));
    expect(res.method).to.equal('GET');
    expect(res.url).to.equal('/base/from-client-node');
    expect(res.headers.authorization).to.match(/^Basic /);
  });

  it('a ServiceAccount token without RBAC gets 403; with RBAC on connectors/proxy it gets 200', async function () {
    const token = await env().sys.cp.createToken(ns, 'robot');
    const denied = await kubeRequest(proxyPath(ns, 'echo', '/robot'), { token });
    expect(denied.status).to.equal(403);
    const status = JSON.parse(denied.body) as { kind: string; reason: string };
    expect(status.kind).to.equal('Status');
    expect(status.reason).to.equal('Forbidden');

    await apply(grant(ns, 'robot-read', { kind: 'ServiceAccount', name: 'robot' }, ['get']));
    let ok = await kubeRequest(proxyPath(ns, 'echo', '/robot'), { token });
    for (let i = 0; i < 50 && ok.status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 200)); // RBAC changes take a moment to reach the authorizer cache
      ok = await kubeRequest(proxyPath(ns, 'echo', '/robot'), { token });
    }
    expect(ok.status).to.equal(200);
    expect((JSON.parse(ok.body) as Echo).url).to.equal('/base/robot');
  });

  describe('every Secret type injects its own credential', function () {
    const token = secretValue('tool-token');
    const cases = [
      {
        type: 'connectors.cpaas.io/bearer-token',
        data: { token },
        header: 'authorization',
        value: `Bearer ${token}`,
      },
      { type: 'Opaque', data: { token }, header: 'authorization', value: `Bearer ${token}` },
      { type: 'connectors.cpaas.io/gitlab-pat-auth', data: { token }, header: 'private-token', value: token },
    ];
    before(function () {
      allowSecret(env().tool, token); // the Secret of the Connectors below
      env().tool.setCredentials(null); // the recording tool accepts any credential in this block
    });
    after(function () {
      env().tool.setCredentials({ username: env().toolUser, password: env().toolPassword });
    });
    for (const c of cases) {
      it(`${c.type} → ${c.header}`, async function () {
        const name = c.type.replace(/[^a-z]+/gi, '-').toLowerCase();
        await apply([
          {
            apiVersion: 'v1',
            kind: 'Secret',
            metadata: { name, namespace: ns },
            type: c.type,
            stringData: c.data,
          },
          connector(ns, name, { address: env().tool.url, secret: name }),
        ]);
        const echo = JSON.parse(await kubectlOk(['get', '--raw', proxyPath(ns, name, '/typed')])) as Echo;
        expect(echo.headers[c.header]).to.equal(c.value);
        if (c.header !== 'authorization') expect(echo.headers.authorization).to.equal(undefined);
      });
    }
  });

  it('PATCH needs `patch`; HEAD is a `get` and returns the tool’s headers without a body', async function () {
    const token = await env().sys.cp.createToken(ns, 'patcher');
    await apply(grant(ns, 'patcher', { kind: 'ServiceAccount', name: 'patcher' }, ['get', 'patch']));
    let patched = await kubeRequest(proxyPath(ns, 'echo', '/items/1'), {
      token,
      method: 'PATCH',
      body: '{"a":1}',
    });
    for (let i = 0; i < 50 && patched.status === 403; i++) {
      await new Promise((r) => setTimeout(r, 200));
      patched = await kubeRequest(proxyPath(ns, 'echo', '/items/1'), {
        token,
        method: 'PATCH',
        body: '{"a":1}',
      });
    }
    expect(patched.status).to.equal(200);
    expect((JSON.parse(patched.body) as Echo).method).to.equal('PATCH');
    const head = await kubeRequest(proxyPath(ns, 'echo', '/items/1'), { token, method: 'HEAD' });
    expect(head.status).to.equal(200);
    expect(head.headers['content-type']).to.equal('application/json');
    expect(head.body).to.equal('');
    const put = await kubeRequest(proxyPath(ns, 'echo', '/items/1'), { token, method: 'PUT', body: '{}' });
    expect(put.status).to.equal(403); // no `update` granted
  });
});
