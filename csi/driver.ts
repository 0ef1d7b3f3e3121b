// Wiring of the driver: its reads from kube-apiserver, the token source, the access checks, the
// volume content and medium, the gRPC server; and shutdown. Volumes stay mounted across a restart:
// running pods keep their files, and the next republish writes into the same tmpfs.

import { readFileSync } from 'node:fs';
import { CachedTokenReviewer } from '../kube/tokenreview.js';
import { SubjectAccessReviewAuthorizer } from '../kube/authz.js';
import type { Stoppable } from '../machinery/lifecycle.js';
import type { Logger } from '../machinery/log.js';
import { CallerChecks } from '../kube/callers.js';
import type { KubeClient } from '../kube/client.js';
import { ConnectorAccess } from './access.js';
import { KubeClusterReader } from './cluster.js';
import { ConnectorVolumeContent } from './content.js';
import { DirectoryMedium, TmpfsMedium, type VolumeMedium } from './medium.js';
import { driverHealthCheck, startHealthServer } from './health.js';
import type { HealthServer } from '../machinery/healthserver.js';
import { DriverServices, driverName } from './node.js';
import type { Config } from './options.js';
import { startRegistration, type Registration } from './registration.js';
import { startCsiServer } from './server.js';
import { KubeletTokenSource, RequestedTokenSource, type TokenSource } from './tokens.js';

/** The package version, reported as the plugin's vendor_version. */
function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version?: string;
  };
  return pkg.version ?? 'unknown';
}

export async function startDriver(config: Config, kube: KubeClient, log: Logger): Promise<Stoppable> {
  const reviewer = new CachedTokenReviewer(kube, config.authenticationCacheMs, [config.tokenAudience]);
  const tokens: TokenSource =
    config.tokenSource === 'kubelet'
      ? new KubeletTokenSource(config.tokenAudience, reviewer)
      : new RequestedTokenSource(kube, config.tokenAudience);
  const cluster = new KubeClusterReader(kube, config.proxyCaConfigMap);
  const callers = new CallerChecks(
    reviewer,
    new SubjectAccessReviewAuthorizer(kube, config.authorizationCacheMs, log),
  );
  const content = new ConnectorVolumeContent({
    cluster,
    access: new ConnectorAccess(cluster, callers),
    tokens,
    multiConnector: config.multiConnector,
    noProxy: config.noProxy,
  });
  let medium: VolumeMedium;
  if (config.medium === 'tmpfs') {
    medium = new TmpfsMedium(config.tmpfsSize);
  } else {
    medium = new DirectoryMedium();
    log.warn(
      '--volume-medium=directory: volumes are plain directories, tokens are written to the node disk; ' +
        'for development and unprivileged tests only',
    );
  }
  const services = new DriverServices({
    nodeId: config.nodeId,
    operationTimeoutMs: config.operationTimeoutMs,
    vendorVersion: packageVersion(),
    medium,
    content,
    log,
  });
  const server = await startCsiServer(config.socketPath, {
    identity: services.identityHandlers(),
    node: services.nodeHandlers(),
  });
  // Registration last: kubelet calls NodeGetInfo on the CSI socket as soon as it sees this one.
  let registration: Registration | undefined;
  if (config.registration) {
    registration = await startRegistration({
      dir: config.registration.dir,
      driverName,
      kubeletEndpoint: config.registration.kubeletEndpoint,
      log,
    });
  }
  const health = driverHealthCheck({
    endpoint: server.endpoint,
    ...(registration ? { registration: registration.state } : {}),
  });
  let healthServer: HealthServer | undefined;
  if (config.healthPort > 0) healthServer = await startHealthServer(config.healthPort, health.check);
  log.info('serving', {
    endpoint: server.endpoint,
    registrationSocket: registration?.socketPath,
    healthPort: healthServer?.port,
    nodeId: config.nodeId,
    // (Field names without "token": the logger redacts those.)
    podIdentity: config.tokenSource,
    audience: config.tokenAudience,
    medium: medium.kind,
  });
  return {
    shutdown: async () => {
      await registration?.shutdown();
      await healthServer?.close();
      health.close();
      await server.shutdown(config.shutdownGraceMs);
      log.info('stopped');
    },
  };
}
