// `kubectl connectors curl NAME [PATH]`: one raw request to the Connector's tool through its proxy
// subresource (…/connectors/{name}/proxy/{path}), with curl's -X, -H, -d/--data-binary and -i. The
// API server authenticates you, checks RBAC on connectors/proxy for the method's verb, and adds the
// Connector's credential; the answer streams to stdout as it comes. A non-2xx answer goes to stderr
// (a Status as kubectl prints one) and the exit code is 1.

import { createReadStream } from 'node:fs';
import { STATUS_CODES } from 'node:http';
import type { Readable } from 'node:stream';
import { UsageError } from './args.js';
import { subresourcePath } from './api.js';
import type { Command } from './command.js';
import { errorText } from './errors.js';
import { write } from './io.js';
import { KubeApiError, type ApiStatus } from '../kube/client.js';

/** What of a failed answer is shown at most: a Status, or the start of a tool's error page. */
const maxErrorBytes = 64 * 1024;

/** Headers that are the API server's, not the tool's: who you are to Kubernetes. */
const kubernetesHeaders = /^(authorization|impersonate-.*)$/i;

function body(data: string | undefined, stdin: Readable): string | Readable | undefined {
  if (data === undefined) return undefined;
  if (data === '@-') return stdin;
  if (data.startsWith('@')) return createReadStream(data.slice(1));
  return data;
}

function headers(lines: readonly string[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    if (colon <= 0 || !/^[!#$%&'*+\-.^_`|~0-9a-z]+$/.test(name)) {
      throw new UsageError(`-H ${line}: write 'Name: value'`);
    }
    if (kubernetesHeaders.test(name)) {
      throw new UsageError(
        `-H ${line.slice(0, colon)}: the API server reads it to tell who you are (your kubeconfig's credentials); the Connector's credential is added by the server`,
      );
    }
    const value = line.slice(colon + 1).trim();
    const had = out[name];
    out[name] = had === undefined ? value : [...(Array.isArray(had) ? had : [had]), value];
  }
  return out;
}

async function readSome(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const b = chunk as Buffer;
    if (size < maxErrorBytes) chunks.push(b.subarray(0, maxErrorBytes - size));
    size += b.length;
  }
  return Buffer.concat(chunks);
}

function statusOf(text: string): ApiStatus | undefined {
  try {
    const parsed = JSON.parse(text) as ApiStatus;
    return parsed.kind === 'Status' ? parsed : undefined;
  } catch {
    return undefined;
  }
}

export const curl: Command = {
  name: 'curl',
  summary: "Send one HTTP request to a Connector's tool through its proxy subresource",
  description: `
Send one HTTP request to the tool of a Connector through the API server: PATH is the path on the
tool (under the Connector's address), and the server adds the Connector's credential, which you
never see. The answer's body goes to stdout as it arrives; -i prints the status line and the
headers first. An answer other than 2xx goes to stderr and the exit code is 1.

RBAC: the verb of the method on connectors/proxy (group subresources.connectors.alauda.io):
GET and HEAD need get, POST create, PUT update, PATCH patch, DELETE delete (see "kubectl
connectors can-i"). As with curl, -d sends POST unless -X says otherwise, with Content-Type
application/x-www-form-urlencoded unless -H sets one; -d and --data-binary send the bytes as given
(a file with @FILE, stdin with @-), unchanged. Your own Authorization and Impersonate-* headers are
refused: the API server reads those to tell who you are.`,
  usage: "NAME [PATH] [-X METHOD] [-H 'Name: value']... [-d DATA | --data-binary @FILE | -d @-] [-i]",
  examples: `
# GET / on the tool of Connector demo-tool
kubectl connectors curl demo-tool

# A JSON API, with the response headers
kubectl connectors curl demo-tool /api/v4/projects -H 'Accept: application/json' -i

# POST a JSON body
kubectl connectors curl demo-tool /api/items -d '{"name":"x"}' -H 'Content-Type: application/json'

# Upload a file with PUT
kubectl connectors curl demo-tool /upload/app.tar.gz -X PUT --data-binary @app.tar.gz`,
  flags: [
    {
      name: 'request',
      short: 'X',
      kind: 'string',
      value: 'METHOD',
      default: '',
      help: 'The method (default GET, or POST with data).',
    },
    {
      name: 'header',
      short: 'H',
      kind: 'list',
      value: "'Name: value'",
      help: 'A request header (repeat it for more).',
    },
    {
      name: 'data',
      short: 'd',
      kind: 'string',
      value: 'DATA',
      default: '',
      help: 'The request body: text, @FILE or @- (stdin).',
    },
    { name: 'data-binary', kind: 'string', value: 'DATA', default: '', help: 'The same as --data.' },
    {
      name: 'include',
      short: 'i',
      kind: 'bool',
      default: false,
      help: 'Print the status line and response headers first.',
    },
  ],
  async run(ctx, args) {
    const [name, path = '/', ...extra] = args.positionals;
    if (name === undefined || extra.length > 0)
      throw new UsageError('give a Connector NAME and at most one PATH');
    if (args.has('data') && args.has('data-binary'))
      throw new UsageError('give --data or --data-binary, not both');
    const data = args.has('data')
      ? args.str('data')
      : args.has('data-binary')
        ? args.str('data-binary')
        : undefined;
    const method = (args.str('request') || (data === undefined ? 'GET' : 'POST')).toUpperCase();
    const sent = headers(args.list('header'));
    if (data !== undefined && sent['content-type'] === undefined) {
      sent['content-type'] = 'application/x-www-form-urlencoded';
    }
    const { client, namespace, where } = ctx.cluster();
    const target = subresourcePath(namespace, name, `proxy/${path.replace(/^\/+/, '')}`);
    const res = await ctx.waiting(
      `${method} ${path} on the tool of ${namespace}/${name}…`,
      client.stream(method, target, { headers: sent, body: body(data, ctx.io.stdin) ?? null }),
    );
    if (args.bool('include')) {
      const lines = [`HTTP/1.1 ${res.statusCode} ${STATUS_CODES[res.statusCode] ?? ''}`];
      for (const [k, v] of Object.entries(res.headers)) {
        for (const one of Array.isArray(v) ? v : [v ?? '']) lines.push(`${k}: ${one}`);
      }
      await write(ctx.io.stdout, `${lines.join('\r\n')}\r\n\r\n`);
    }
    if (res.statusCode >= 200 && res.statusCode < 300) {
      for await (const chunk of res.body) await write(ctx.io.stdout, chunk as Buffer);
      return 0;
    }
    const text = (await readSome(res.body)).toString('utf8');
    const status = statusOf(text);
    if (status) {
      await write(
        ctx.io.stderr,
        errorText(KubeApiError.fromStatus(`${method} ${path}`, res.statusCode, status), where),
      );
    } else {
      if (text !== '') await write(ctx.io.stderr, text.endsWith('\n') ? text : `${text}\n`);
      await write(
        ctx.io.stderr,
        `error: the tool answered ${res.statusCode} ${STATUS_CODES[res.statusCode] ?? ''}\n`,
      );
    }
    return 1;
  },
};
