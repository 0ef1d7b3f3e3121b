// The processes the rows measure, started for a run or a section: our aggregated server afresh
// and the baseline build's beside it, kube-apiserver pointed at one or the other, nginx, the bare
// Node relay and the Go relay, the echo tool; and the check that each runs the Node its column
// names.

import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { apiServiceName } from '../hack/localsystem.js';
import { freePort, ManagedProcess } from '../hack/process.js';
import { nodeProcesses } from '../hack/runtime.js';
import { baselineCommit } from './baseline.js';
import {
  basic,
  bearer,
  connectorSpec,
  ns,
  password,
  progress,
  proxyPath,
  serverStopGraceMs,
  user,
  userPassword,
  waitServed,
  waitStatus,
  type Bench,
  type Runtime,
  type ServerRef,
} from './harness.js';
import { startNginxProxy, type Nginx } from './nginx.js';
import { startEchoToolProcess } from './streaming.js';
import { wrk } from './wrk.js';

/**
 * Records which Node the running process `proc` is (from the binary it executes, /proc/<pid>/exe),
 * and fails the bench unless it is `rt`'s: a column must measure the Node it is named after.
 */
export function recordNode(b: Bench, proc: ManagedProcess, rt: Runtime): void {
  const pid = proc.pid as number;
  const [found] = nodeProcesses([pid]);
  if (!found) throw new Error(`${proc.name} (pid ${pid}) is not a running Node process`);
  const { exe, version } = found;
  progress(`${proc.name} (pid ${pid}) runs Node ${version}`);
  b.processes.push([
    proc.name,
    String(pid),
    `Node ${version}${rt === b.baseline ? `, ${baselineCommit}` : ''}`,
  ]);
  if (version !== rt.version) {
    throw new Error(
      `${proc.name} runs Node ${version} (${exe}), but its column is ${rt.label} (${rt.version})`,
    );
  }
}

/** Restarts our server and waits until it serves `connector` again; returns its pid. */
export async function freshServer(b: Bench, connector: string, path: string): Promise<number> {
  await b.sys.stopServer(serverStopGraceMs);
  await b.sys.startServer();
  await waitServed(b, connector, path);
  recordNode(b, b.sys.server, b.current);
  return b.sys.server.pid as number;
}

export const currentServer = (b: Bench): ServerRef => ({
  url: b.sys.serverUrl,
  port: Number(new URL(b.sys.serverUrl).port),
  pid: b.sys.server.pid as number,
});

/**
 * The baseline's aggregated server, a process of its own beside ours: the same flags (but its
 * port), certificates, kubeconfig and ServiceAccount, reading the same Connectors; ready once it
 * serves `connector`.
 */
export async function startBaselineServer(
  b: Bench,
  rt: Runtime,
  connector: string,
  path: string,
): Promise<ServerRef & { process: ManagedProcess }> {
  const port = await freePort();
  const flags = b.sys.serverFlags.map((f) => (f.startsWith('--secure-port=') ? `--secure-port=${port}` : f));
  const name = `connectors-apiserver${rt.suffix}`;
  const proc = ManagedProcess.start({
    name,
    binary: rt.node,
    args: [...b.serverNodeArgs, join(rt.root, 'dist', 'apiserver', 'main.js'), ...flags],
    logFile: join(b.sys.logDir, `${name}.log`),
  });
  const url = `https://127.0.0.1:${port}`;
  try {
    await waitStatus(b, connector, path, 200, 60_000, { url, process: proc });
    recordNode(b, proc, rt);
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return { url, port, pid: proc.pid as number, process: proc };
}

/** User and system CPU time of `pid` so far, in clock ticks. */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The fields after the command name (in parentheses, which may hold spaces): utime and stime
  // are the 14th and 15th of the line, the 12th and 13th after it.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/**
 * Points the APIService at `to` (one of our two servers; `from` is the other) and waits until
 * kube-apiserver sends the requests there. It takes the change from an informer, a moment later,
 * and both builds answer alike: which one got a request shows only in their CPU time, so the wait
 * is for a burst through kube-apiserver that costs `to` CPU and `from` next to none.
 */
export async function routeKubeTo(b: Bench, to: ServerRef, from: ServerRef): Promise<void> {
  if (b.apiServicePort === to.port) return;
  const patched = await b.sys.cp.kubectl([
    'patch',
    'apiservice',
    apiServiceName,
    '--type=merge',
    '-p',
    JSON.stringify({ spec: { service: { port: to.port } } }),
  ]);
  if (patched.code !== 0) throw new Error(patched.stderr);
  b.apiServicePort = to.port;
  const deadline = Date.now() + 60_000;
  for (;;) {
    const [to0, from0] = [cpuTicks(to.pid), cpuTicks(from.pid)];
    await wrk(`${b.sys.cp.server}${proxyPath('tool', '/data.json')}`, {
      connections: 10,
      seconds: 1,
      headers: bearer(b),
    });
    const [toTicks, fromTicks] = [cpuTicks(to.pid) - to0, cpuTicks(from.pid) - from0];
    if (toTicks >= 10 && fromTicks * 5 <= toTicks) return;
    if (Date.now() > deadline) {
      throw new Error(
        `kube-apiserver did not move to port ${to.port} within 60 s (CPU ticks of a burst: ` +
          `${toTicks} there, ${fromTicks} on port ${from.port})`,
      );
    }
  }
}

/** A serving certificate for nginx, written once. */
export async function nginxTls(b: Bench): Promise<{ certFile: string; keyFile: string }> {
  const tls = { certFile: join(b.dir, 'tls.crt'), keyFile: join(b.dir, 'tls.key') };
  if (!existsSync(tls.certFile)) {
    const serving = await b.sys.cp.issueServingCert(['localhost'], ['127.0.0.1']);
    await writeFile(tls.certFile, serving.certPem);
    await writeFile(tls.keyFile, serving.keyPem);
  }
  return tls;
}

export async function nginxProxy(b: Bench): Promise<Nginx & { httpUrl: string }> {
  if (b.nginx) return b.nginx;
  const nginx = await startNginxProxy(b.dir, b.tool.url, userPassword(user, password), await nginxTls(b));
  b.stops.push(() => nginx.process.stop());
  b.nginx = nginx;
  return nginx;
}

/**
 * A relay in its own process, relaying to `toolUrl` (answering `probe` with a 200) and injecting
 * the Basic credential, over TLS (beside /proxy) or plain HTTP (beside the Connectors Proxy):
 * bench/bare-relay-main.ts of a build (`rt`: the floor of Node's stack), or bench/go-relay (the Go
 * standard library's reverse proxy, one process, GOMAXPROCS=1). Undefined when that peer is
 * missing (Go, the baseline).
 */
export async function startRelay(
  b: Bench,
  peer: Runtime | 'go' | undefined,
  toolUrl: string,
  probe: string,
  scheme: 'https' | 'http' = 'https',
): Promise<{ url: string; process: ManagedProcess } | undefined> {
  const go = peer === 'go' ? b.goRelay : undefined;
  if (peer === undefined || (peer === 'go' && !go)) return undefined;
  const { certFile, keyFile } = await nginxTls(b);
  const port = await freePort();
  const url = `${scheme}://127.0.0.1:${port}`;
  const tail = [String(port), toolUrl, ...(scheme === 'https' ? [certFile, keyFile] : [])];
  const name = go ? `go-relay-${scheme}` : `bare-relay-${scheme}${(peer as Runtime).suffix}`;
  const proc = ManagedProcess.start({
    name,
    binary: go ? go.binary : (peer as Runtime).node,
    args: go ? tail : [join((peer as Runtime).root, 'dist', 'bench', 'bare-relay-main.js'), ...tail],
    env: {
      ...process.env,
      BENCH_TOOL_AUTHORIZATION: basic(user, password),
      ...(go ? { GOMAXPROCS: '1' } : {}),
    },
    logFile: join(b.sys.logDir, `${name}.log`),
  });
  try {
    await proc.waitUntil(
      async () => {
        const r = await request(`${url}${probe}`, { dispatcher: b.tls });
        await r.body.dump();
        return r.statusCode === 200;
      },
      { timeoutMs: 30_000, what: name },
    );
    if (go) b.processes.push([name, String(proc.pid), `${go.goVersion}, GOMAXPROCS=1`]);
    else recordNode(b, proc, peer as Runtime);
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return { url, process: proc };
}

/** The echo tool in its own process, behind Connector bench/echo. */
export async function echoTool(b: Bench): Promise<string> {
  if (b.echoUrl) return b.echoUrl;
  const echo = await startEchoToolProcess(b.sys.logDir, { username: user, password });
  b.stops.push(() => echo.process.stop());
  recordNode(b, echo.process, b.current);
  const connector = {
    apiVersion: 'connectors.alauda.io/v1alpha1',
    kind: 'Connector',
    metadata: { name: 'echo', namespace: ns },
    spec: connectorSpec(echo.url),
  };
  const applied = await b.sys.cp.kubectl(['apply', '-f', '-'], { input: JSON.stringify(connector) });
  if (applied.code !== 0) throw new Error(applied.stderr);
  b.echoUrl = echo.url;
  await waitServed(b, 'echo', '/bytes/1');
  return echo.url;
}

/** The processes a section starts for its rows, all stopped when it ends. */
export function sectionProcesses(): {
  started: <T extends { process: ManagedProcess } | undefined>(p: T) => T;
  stopAll: () => Promise<unknown>;
} {
  const stops: (() => Promise<unknown>)[] = [];
  return {
    started: (p) => {
      if (p) stops.push(() => p.process.stop());
      return p;
    },
    stopAll: () => Promise.all(stops.map((stop) => stop())),
  };
}
