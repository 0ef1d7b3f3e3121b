// OpenAPI for the aggregated group, for `kubectl explain`-style tooling and SDK generators. The
// aggregator polls these every minute, so they carry ETags and are built once.

import { createHash } from 'node:crypto';
import type { OpenAPIV2, OpenAPIV3 } from 'openapi-types';
import { subresourceGroup, subresourceVersion } from '../registry/types.js';
import type { DiscoveredSubresource } from './discovery.js';

const base = `/apis/${subresourceGroup}/${subresourceVersion}/namespaces/{namespace}/connectors/{name}`;
const methodsByVerb: Record<string, 'get' | 'post' | 'put' | 'patch' | 'delete'> = {
  get: 'get',
  create: 'post',
  update: 'put',
  patch: 'patch',
  delete: 'delete',
};

export interface OpenApiDocuments {
  v2: { body: string; etag: string };
  v3root: { body: string; etag: string };
  v3: { body: string; etag: string };
}

function etagOf(body: string): string {
  return `"${createHash('sha256').update(body).digest('hex').slice(0, 32)}"`;
}

function operations<T>(s: DiscoveredSubresource, op: (method: string) => T): Record<string, T> {
  const out: Record<string, T> = {};
  for (const verb of s.verbs) {
    const method = methodsByVerb[verb];
    if (method) out[method] = op(method);
  }
  return out;
}

function description(s: DiscoveredSubresource, method: string): string {
  return s.name === 'proxy'
    ? `${method.toUpperCase()} on the tool's own API through the Connector; the Connector's credential is injected.`
    : `${method.toUpperCase()} ${s.name} of the tool, as declared by the Connector's ConnectorClass.`;
}

export function openApiDocuments(subresources: readonly DiscoveredSubresource[]): OpenApiDocuments {
  const params2: OpenAPIV2.GeneralParameterObject[] = [
    {
      name: 'namespace',
      in: 'path',
      required: true,
      type: 'string',
      description: 'namespace of the Connector',
    },
    { name: 'name', in: 'path', required: true, type: 'string', description: 'name of the Connector' },
  ];
  const v2: OpenAPIV2.Document = {
    swagger: '2.0',
    info: { title: 'Connectors subresources', version: subresourceVersion },
    paths: {},
  };
  const v3: OpenAPIV3.Document = {
    openapi: '3.0.0',
    info: { title: 'Connectors subresources', version: subresourceVersion },
    paths: {},
  };
  for (const s of subresources) {
    const paths = s.name === 'proxy' ? [`${base}/proxy`, `${base}/proxy/{path}`] : [`${base}/${s.name}`];
    for (const p of paths) {
      const withPath = p.endsWith('{path}');
      const pathParam2: OpenAPIV2.GeneralParameterObject[] = withPath
        ? [
            {
              name: 'path',
              in: 'path',
              required: true,
              type: 'string',
              description: "path on the tool's API",
            },
          ]
        : [];
      v2.paths[p] = {
        parameters: [...params2, ...pathParam2],
        ...operations(s, (m) => ({
          description: description(s, m),
          operationId: `${m}ConnectorsNamespaced${s.name}${withPath ? 'WithPath' : ''}`,
          tags: [`${subresourceGroup}_${subresourceVersion}`],
          produces: ['*/*'],
          responses: { '200': { description: 'the answer of the tool or class API' } },
        })),
      };
      v3.paths[p] = {
        parameters: [...params2, ...pathParam2].map((q) => ({
          name: q.name,
          in: q.in,
          required: true,
          description: q.description,
          schema: { type: 'string' as const },
        })),
        ...operations(s, (m) => ({
          description: description(s, m),
          operationId: `${m}ConnectorsNamespaced${s.name}${withPath ? 'WithPath' : ''}`,
          responses: { '200': { description: 'the answer of the tool or class API' } },
        })),
      };
    }
  }
  const v2body = JSON.stringify(v2);
  const v3body = JSON.stringify(v3);
  const v3etag = etagOf(v3body);
  const v3root = JSON.stringify({
    paths: {
      [`apis/${subresourceGroup}/${subresourceVersion}`]: {
        serverRelativeURL: `/openapi/v3/apis/${subresourceGroup}/${subresourceVersion}?hash=${v3etag.replaceAll('"', '')}`,
      },
    },
  });
  return {
    v2: { body: v2body, etag: etagOf(v2body) },
    v3root: { body: v3root, etag: etagOf(v3root) },
    v3: { body: v3body, etag: v3etag },
  };
}
