// The leak scanner must be able to fail: a secret planted in each channel is found, at the right
// place, and the message names its label, never its value.
import { expect } from 'chai';
import type { RecordedRequest } from '../../../hack/tools/echo-tool.js';
import {
  describeFindings,
  scanForLeaks,
  type Finding,
  type Recorder,
  type ScanInput,
  type Secret,
} from '../../helpers/leaks.js';

const password: Secret = { label: 'tool-password', value: 'tool-password-k3x9q2ab-s3cr3t' };
const token: Secret = {
  label: 'token of ns/user',
  value: 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.c2lnbmF0dXJl',
};
const b64 = (s: string): string => Buffer.from(s).toString('base64');

function clean(): ScanInput {
  return {
    secrets: [password, token],
    logs: [{ file: 'server.log', text: '{"msg":"serving"}\n{"msg":"request","code":200}\n' }],
    responses: [{ where: 'kube-apiserver GET /x', headers: { 'content-type': 'text/plain' }, body: 'ok' }],
    recorders: [],
    metrics: [{ where: 'server /metrics', text: 'requests_total{code="200"} 3\n' }],
    objects: [{ where: 'Connector ns/echo', text: '{"status":{"conditions":[{"message":"ok"}]}}' }],
  };
}

function request(url: string, headers: Record<string, string>, method = 'GET'): RecordedRequest {
  return { method, url, headers, bodyBytes: 0, remoteAddress: '127.0.0.1' };
}

function scan(change: (input: ScanInput) => void): Finding[] {
  const input = clean();
  change(input);
  return scanForLeaks(input).findings;
}

describe('test/helpers/leaks: the leak scanner', () => {
  it('finds nothing in clean input, and counts what it scanned', () => {
    const result = scanForLeaks(clean());
    expect(result.findings).to.deep.equal([]);
    expect(result.scanned).to.deep.include({
      secrets: 2,
      logFiles: 1,
      logLines: 2,
      responses: 1,
      metrics: 1,
    });
  });

  describe('logs', () => {
    it('a secret in a log line: file and line', () => {
      const findings = scan((i) => {
        i.logs.push({ file: 'proxy.log', text: `line one\nline two\n{"error":"bad ${password.value}"}\n` });
      });
      expect(findings).to.deep.equal([
        { channel: 'log', where: 'proxy.log:3', label: 'tool-password', form: 'plain' },
      ]);
    });

    it('inside a Basic header at any alignment, and as a credential shape', () => {
      for (const user of ['a', 'ab', 'abc']) {
        const findings = scan((i) => {
          i.logs[0]!.text += `authorization=Basic ${b64(`${user}:${password.value}`)}\n`;
        });
        expect(
          findings.map((f) => [f.where, f.label, f.form]),
          user,
        ).to.deep.include.members([
          ['server.log:3', 'tool-password', 'base64'],
          ['server.log:3', 'an Authorization value', 'Basic/Bearer'],
        ]);
      }
    });

    it('percent-encoded, and base64 inside base64 (X-Plugin-Secret)', () => {
      const special: Secret = { label: 'git-password', value: 'git-password-7hq2x0pd:p@ss/w rd' };
      const pluginSecret = b64(JSON.stringify({ password: b64(password.value) }));
      const findings = scan((i) => {
        i.secrets.push(special);
        i.logs[0]!.text += `url=http://u:${encodeURIComponent(special.value)}@h/\nheader=${pluginSecret}\n`;
      });
      expect(findings.map((f) => [f.where, f.label, f.form])).to.deep.equal([
        ['server.log:3', 'git-password', 'percent-encoded'],
        ['server.log:4', 'tool-password', 'inside base64: base64'],
      ]);
    });
  });

  describe('answers to test clients', () => {
    it('in a body and in a header, named by the request', () => {
      const findings = scan((i) => {
        i.responses.push({
          where: 'direct GET /status',
          headers: {},
          body: `{"message":"${password.value}"}`,
        });
        i.responses.push({
          where: 'connectors-proxy GET /y',
          headers: { 'x-debug': ['a', token.value] },
          body: '',
        });
      });
      expect(findings).to.deep.equal([
        { channel: 'response', where: 'direct GET /status (body)', label: 'tool-password', form: 'plain' },
        {
          channel: 'response',
          where: 'connectors-proxy GET /y (header x-debug)',
          label: 'token of ns/user',
          form: 'plain',
        },
      ]);
    });

    it('a tool echo is exempt only when it is exactly a request a recorder holds', () => {
      const seen = request('/base/who', { authorization: `Basic ${b64(`u:${password.value}`)}` });
      const recorder: Recorder = {
        name: 'echo',
        requests: [seen],
        allowed: [{ secret: password.value, pathPrefix: '' }],
      };
      const echo = JSON.stringify(seen);
      expect(
        scan((i) => {
          i.recorders.push(recorder);
          i.responses.push({ where: 'kubectl get --raw /echo (stdout)', headers: {}, body: echo });
        }),
      ).to.deep.equal([]);
      // The same body without the recorder, or altered on the way, is ours and is a leak.
      const tampered = JSON.stringify({ ...seen, url: '/base/other' });
      for (const [recorders, body] of [
        [[], echo],
        [[recorder], tampered],
      ] as const) {
        const findings = scan((i) => {
          i.recorders.push(...recorders);
          i.responses.push({ where: 'kubectl get --raw /echo (stdout)', headers: {}, body });
        });
        expect(findings).to.deep.equal([
          {
            channel: 'response',
            where: 'kubectl get --raw /echo (stdout) (body)',
            label: 'tool-password',
            form: 'base64',
          },
        ]);
      }
    });
  });

  describe('requests the recording tools received', () => {
    const tool = (requests: RecordedRequest[], allowed: Recorder['allowed']): Recorder => ({
      name: 'the shared echo tool',
      requests,
      allowed,
    });

    it('a secret of another Connector, or beyond its Connector’s path, is a finding naming tool, request and part', () => {
      const findings = scan((i) => {
        i.recorders.push(
          tool(
            [
              request('/base/a', { authorization: `Basic ${b64(`u:${password.value}`)}` }),
              request('/other/b', { authorization: `Basic ${b64(`u:${password.value}`)}` }),
              request('/base/c', { 'private-token': token.value }),
              request(`/base/d?access_token=${token.value}`, {}),
            ],
            [{ secret: password.value, pathPrefix: '/base' }],
          ),
        );
      });
      expect(findings).to.deep.equal([
        {
          channel: 'tool',
          where: 'the shared echo tool: GET /other/b (header authorization)',
          label: 'tool-password',
          form: 'base64',
        },
        {
          channel: 'tool',
          where: 'the shared echo tool: GET /base/c (header private-token)',
          label: 'token of ns/user',
          form: 'plain',
        },
        {
          channel: 'tool',
          where: 'the shared echo tool: GET /base/d?access_token=<token of ns/user> (URL)',
          label: 'token of ns/user',
          form: 'plain',
        },
      ]);
    });

    it('counts the secrets it saw where they belong', () => {
      const input = clean();
      input.recorders.push(
        tool(
          [
            request('/base/a', { authorization: `Basic ${b64(`u:${password.value}`)}` }),
            request('/base/b', {}),
          ],
          [{ secret: password.value, pathPrefix: '/base' }],
        ),
      );
      const result = scanForLeaks(input);
      expect(result.findings).to.deep.equal([]);
      expect(result.scanned).to.deep.include({ toolRequests: 2, allowedAtTools: 1 });
    });

    it('a path prefix is a path, not a string prefix', () => {
      const findings = scan((i) => {
        i.recorders.push(
          tool(
            [request('/base-other/x', { 'private-token': token.value })],
            [{ secret: token.value, pathPrefix: '/base' }],
          ),
        );
      });
      expect(findings.map((f) => f.where)).to.deep.equal([
        'the shared echo tool: GET /base-other/x (header private-token)',
      ]);
    });
  });

  it('metrics: a secret in a label value', () => {
    const findings = scan((i) => {
      i.metrics.push({
        where: 'connectors-controller a /metrics',
        text: `probes_total{url="http://u:${password.value}@h"} 1`,
      });
    });
    expect(findings).to.deep.equal([
      {
        channel: 'metrics',
        where: 'connectors-controller a /metrics',
        label: 'tool-password',
        form: 'plain',
      },
    ]);
  });

  it('objects: a secret in a condition message or an event', () => {
    const findings = scan((i) => {
      i.objects.push({
        where: 'Connector ns/git',
        text: `{"status":{"conditions":[{"message":"401 for ${password.value}"}]}}`,
      });
      i.objects.push({
        where: 'Event ns/git.1 about Connector git',
        text: `{"message":"Bearer ${token.value}"}`,
      });
    });
    expect(findings.map((f) => [f.channel, f.where, f.label])).to.deep.equal([
      ['object', 'Connector ns/git', 'tool-password'],
      ['object', 'Event ns/git.1 about Connector git', 'token of ns/user'],
      ['object', 'Event ns/git.1 about Connector git', 'an Authorization value'],
    ]);
  });

  it('the message says where and which secret, never the secret in any form', () => {
    const findings = scan((i) => {
      i.logs.push({ file: 'a.log', text: `${password.value} Basic ${b64(`u:${token.value}`)}` });
      i.responses.push({
        where: `GET /x?p=${encodeURIComponent(password.value)}`,
        headers: {},
        body: token.value,
      });
    });
    const message = describeFindings(findings);
    expect(message).to.contain('[log] tool-password (plain) in a.log:1');
    expect(message).to.contain('[response] token of ns/user (plain) in GET /x?p=<tool-password> (body)');
    for (const s of [password, token]) {
      for (const form of [s.value, b64(s.value), encodeURIComponent(s.value)]) {
        expect(message).not.to.contain(form);
      }
    }
    // Only the label, which starts the value, may show: never what comes after it.
    expect(message).not.to.contain('k3x9q2ab');
    expect(message).not.to.contain('c2lnbmF0dXJl');
  });
});
