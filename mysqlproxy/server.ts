// Wiring of the MySQL Connectors Proxy: the proxy CA, the Connector informers and Secret cache,
// the caller checks, the MySQL listener (a session per connection, session.ts), the health port
// with /metrics, and the shutdown: after SIGTERM it goes on accepting through
// --shutdown-delay-duration (/readyz answers 503), then stops accepting and lets the sessions run
// for --shutdown-grace-period, then closes the ones left.

import { createServer, type Server, type Socket, type AddressInfo } from 'node:net';
import type { SecureContext } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { openGate } from '../kit/index.js';
import type { KubeClient } from '../kube/client.js';
import { startHealthServer } from '../machinery/healthserver.js';
import type { Stoppable } from '../machinery/lifecycle.js';
import type { Logger } from '../machinery/log.js';
import { ComponentMetrics } from '../machinery/metrics.js';
import { ProxyCertificateAuthority } from '../proxy/ca.js';
import type { Connector } from '../registry/types.js';
import { MysqlGate } from './admission.js';
import { outcomes } from './errors.js';
import type { Config } from './options.js';
import { ClientSession } from './session.js';
import { loginToServer } from './upstream.js';

const serviceName = /^c-[a-z0-9.-]+\.[a-z0-9-]+\.svc(\.cluster\.local)?$/;

/**
 * The names of the certificate a client gets. One it asks for by name (SNI) when that is ours or a
 * Connector's Service (c-<name>.<namespace>.svc[.cluster.local]). MariaDB's and MySQL's clients send
 * none, and ask for TLS before they say which Connector they want: then one certificate names ours
 * and both addresses of every Connector this proxy serves (`served`, sorted so that an unchanged set
 * reuses the cached certificate), so that a client verifying the host it dialled
 * (ssl-verify-server-cert) accepts it; any other name gets ours.
 */
export function certificateNames(
  servername: string | undefined,
  own: readonly string[],
  served: () => readonly Connector[],
): string[] {
  const name = servername?.toLowerCase();
  if (name !== undefined) return own.includes(name) || serviceName.test(name) ? [name] : [...own];
  const addresses = served().flatMap((c) => {
    const base = `c-${c.metadata?.name ?? ''}.${c.metadata?.namespace ?? ''}.svc`;
    return [base, `${base}.cluster.local`];
  });
  return [...own, ...[...new Set(addresses)].sort()];
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host }, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

export async function startMysqlProxy(config: Config, kube: KubeClient, log: Logger): Promise<Stoppable> {
  let ca: ProxyCertificateAuthority;
  try {
    ca = await ProxyCertificateAuthority.load(config.proxyCa.certPem, config.proxyCa.keyPem);
  } catch (err) {
    throw new Error(`--proxy-ca-cert-file/--proxy-ca-key-file: ${(err as Error).message}`);
  }
  const opened = openGate(config, kube, log);
  const gate = new MysqlGate({ gate: opened.gate, ready: opened.ready });

  const metrics = new ComponentMetrics('mysqlproxy');
  const ended = metrics.counter(
    'sessions_total',
    'MySQL sessions by outcome: relayed (logged in and relayed until closed) or why the login was refused.',
    ['outcome'],
  );
  for (const outcome of outcomes) ended.inc({ outcome }, 0);
  const open = metrics.gauge('sessions', 'MySQL client connections open (logging in or relayed).');

  const sessions = new Set<ClientSession>();
  let stopping = false;
  const tlsContext = (servername: string | undefined): Promise<SecureContext> =>
    ca.secureContextFor(certificateNames(servername, config.serverNames, opened.served));
  const server = createServer((socket: Socket) => {
    const session = new ClientSession(socket, {
      tlsContext,
      admit: (user, token) => gate.admit(user, token),
      login: (target, choice, signal) => loginToServer(target, choice, config.upstreamConnectMs, signal),
      loginTimeoutMs: config.loginTimeoutMs,
      log: log.with({ client: `${socket.remoteAddress ?? ''}:${socket.remotePort ?? 0}` }),
    });
    sessions.add(session);
    open.inc();
    void session.ended.then(({ outcome }) => {
      sessions.delete(session);
      open.dec();
      ended.inc({ outcome });
    });
    session.start();
  });

  const health = await startHealthServer({
    port: config.healthPort,
    bindAddress: config.bindAddress,
    metrics: metrics.registry,
    notReady: () => [
      ...(stopping ? ['shutting down'] : []),
      ...(opened.ready() ? [] : ['Connector and ConnectorClass informers have not synced']),
    ],
  });
  let port: number;
  try {
    port = await listen(server, config.mysqlPort, config.bindAddress);
  } catch (err) {
    await Promise.all([health.close(), opened.close()]);
    throw err;
  }
  log.info('serving', {
    address: config.bindAddress,
    port,
    healthPort: health.port,
    classes: config.connectorClasses,
  });

  let stopped: Promise<void> | undefined;
  const shutdown = (): Promise<void> =>
    (stopped ??= (async () => {
      stopping = true;
      if (config.shutdownDelayMs > 0) {
        log.info('shutting down: accepting on while the endpoints are updated; /readyz answers 503', {
          delayMs: config.shutdownDelayMs,
        });
        await sleep(config.shutdownDelayMs);
      }
      log.info('shutting down: no new sessions; draining', {
        sessions: sessions.size,
        graceMs: config.shutdownGraceMs,
      });
      const closed = new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      });
      const grace = new AbortController();
      const over = sleep(config.shutdownGraceMs, undefined, { signal: grace.signal }).then(
        () => {
          log.warn('grace period over; closing the remaining sessions', { sessions: sessions.size });
          for (const session of sessions) session.cut();
        },
        () => undefined,
      );
      await closed;
      grace.abort();
      await over;
      await Promise.all([opened.close(), health.close()]);
      log.info('stopped');
    })());
  return { shutdown };
}
