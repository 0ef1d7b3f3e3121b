// nginx processes for the benchmarks: one process each (master_process off), so "one worker" is
// literal and the comparison with our single Node process is at equal cores.

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, ManagedProcess } from '../hack/process.js';
import { findBinary } from '../hack/tools/gitserver.js';

export interface Nginx {
  url: string;
  process: ManagedProcess;
}

async function start(
  dir: string,
  name: string,
  server: string,
  port: number,
  scheme: 'http' | 'https',
): Promise<Nginx> {
  const root = join(dir, name);
  await mkdir(join(root, 'tmp'), { recursive: true });
  const user = process.getuid?.() === 0 ? 'user root root;' : '';
  const conf = `${user}
daemon off;
master_process off;
worker_processes 1;
error_log ${root}/error.log warn;
pid ${root}/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${root}/tmp/body;
  proxy_temp_path ${root}/tmp/proxy;
  fastcgi_temp_path ${root}/tmp/fastcgi;
  uwsgi_temp_path ${root}/tmp/uwsgi;
  scgi_temp_path ${root}/tmp/scgi;
  keepalive_requests 1000000;
  ${server}
}
`;
  const confFile = join(root, 'nginx.conf');
  await writeFile(confFile, conf);
  const proc = ManagedProcess.start({
    name: `nginx-${name}`,
    binary: findBinary('nginx', 'nginx'),
    args: ['-p', root, '-e', join(root, 'error.log'), '-c', confFile],
    logFile: join(root, 'stdout.log'),
    cwd: root,
  });
  const url = `${scheme}://127.0.0.1:${port}`;
  await proc.waitUntil(
    async () => {
      try {
        const { request, Agent } = await import('undici');
        const agent = new Agent({ connect: { rejectUnauthorized: false } });
        const r = await request(`${url}/`, { dispatcher: agent });
        await r.body.dump();
        await agent.close();
        return true;
      } catch {
        return false;
      }
    },
    { timeoutMs: 10_000, what: `nginx ${name}` },
  );
  return { url, process: proc };
}

/**
 * A static tool answering /data.json (about 1 KiB of JSON), as fast as a tool can be. It answers
 * 401 unless the request carries `basic` (base64 of user:password), so a row whose proxy failed to
 * inject the credential counts errors instead of measuring something else.
 *
 * With `external` (an IPv4 address of this machine that is not loopback) it also listens there, on the
 * same port, and serves the same file as /open/data.json without asking for the credential: that
 * is for kube-apiserver's services/proxy, which refuses loopback addresses and injects no
 * credential (it even drops the caller's Authorization header once it has authenticated it).
 */
export async function startStaticTool(
  dir: string,
  basic: string,
  external?: string,
): Promise<Nginx & { externalUrl?: string }> {
  const port = await freePort();
  const docroot = join(dir, 'docroot');
  await mkdir(docroot, { recursive: true });
  const items = Array.from({ length: 12 }, (_, i) => ({ name: `branch-${i}`, commitID: 'a'.repeat(40) }));
  await writeFile(join(docroot, 'data.json'), JSON.stringify({ listMeta: { totalItems: 12 }, items }));
  const tool = await start(
    dir,
    'tool',
    `server {
    listen 127.0.0.1:${port};
    ${external ? `listen ${external}:${port};` : ''}
    root ${docroot};
    location / {
      if ($http_authorization != "Basic ${basic}") { return 401; }
      default_type application/json;
    }
    location = /open/data.json {
      alias ${docroot}/data.json;
      default_type application/json;
    }
  }`,
    port,
    'http',
  );
  return external ? { ...tool, externalUrl: `http://${external}:${port}` } : tool;
}

/**
 * nginx as a reverse proxy injecting the same Basic credential our servers inject: on TLS at `url`
 * (against our /proxy) and on plain HTTP at `httpUrl` (against the Connectors Proxy), one process.
 */
export async function startNginxProxy(
  dir: string,
  upstream: string,
  basic: string,
  tls: { certFile: string; keyFile: string },
  opts: { name?: string; streaming?: boolean } = {},
): Promise<Nginx & { httpUrl: string }> {
  const [port, httpPort] = [await freePort(), await freePort()];
  // streaming: bodies pass through as they come, as ours do (by default nginx spools a large
  // request body to disk before sending it on, and buffers responses).
  const streaming = opts.streaming
    ? 'proxy_buffering off; proxy_request_buffering off; client_max_body_size 0;'
    : '';
  const location = `location / {
      proxy_pass http://tool;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Authorization "Basic ${basic}";
      ${streaming}
    }`;
  const nginx = await start(
    dir,
    opts.name ?? 'proxy',
    `upstream tool { server ${new URL(upstream).host}; keepalive 64; }
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_certificate ${tls.certFile};
    ssl_certificate_key ${tls.keyFile};
    ${location}
  }
  server {
    listen 127.0.0.1:${httpPort};
    ${location}
  }`,
    port,
    'https',
  );
  return { ...nginx, httpUrl: `http://127.0.0.1:${httpPort}` };
}
