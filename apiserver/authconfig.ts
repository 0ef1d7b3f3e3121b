// The trust kube-apiserver publishes for extension servers: configmap
// kube-system/extension-apiserver-authentication (client CA, front-proxy CA, allowed names and
// header names). Watched, so CA rotation needs no restart.

import { X509Certificate } from 'node:crypto';
import type { KubeClient } from '../kube/client.js';
import { Informer } from '../kube/informer.js';
import type { Logger } from '../machinery/log.js';

export interface RequestHeaderConfig {
  cas: X509Certificate[];
  caPem: string;
  /** Empty = any CN signed by the front-proxy CA. */
  allowedNames: string[];
  usernameHeaders: string[];
  groupHeaders: string[];
  extraPrefixes: string[];
  uidHeaders: string[];
}

export interface AuthenticationConfig {
  clientCAs: X509Certificate[];
  clientCaPem: string;
  requestHeader: RequestHeaderConfig | null;
  /** Increments on every change, so per-connection verdicts can be invalidated. */
  generation: number;
}

export const authConfigMapNamespace = 'kube-system';
export const authConfigMapName = 'extension-apiserver-authentication';

export function parsePemBundle(pem: string | undefined): X509Certificate[] {
  if (!pem) return [];
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  const now = Date.now();
  return blocks.map((b) => new X509Certificate(b)).filter((c) => c.validToDate.getTime() > now); // expired CAs are dropped, as upstream does
}

function jsonList(value: string | undefined, fallback: string[]): string[] {
  if (value === undefined || value === '') return fallback;
  const parsed: unknown = JSON.parse(value);
  return Array.isArray(parsed) ? parsed.filter((v): v is string => typeof v === 'string') : fallback;
}

export function parseAuthConfigMap(data: Record<string, string>, generation: number): AuthenticationConfig {
  const rhPem = data['requestheader-client-ca-file'];
  const requestHeader: RequestHeaderConfig | null = rhPem
    ? {
        cas: parsePemBundle(rhPem),
        caPem: rhPem,
        allowedNames: jsonList(data['requestheader-allowed-names'], []),
        usernameHeaders: jsonList(data['requestheader-username-headers'], ['X-Remote-User']).map((h) =>
          h.toLowerCase(),
        ),
        groupHeaders: jsonList(data['requestheader-group-headers'], ['X-Remote-Group']).map((h) =>
          h.toLowerCase(),
        ),
        extraPrefixes: jsonList(data['requestheader-extra-headers-prefix'], ['X-Remote-Extra-']).map((h) =>
          h.toLowerCase(),
        ),
        uidHeaders: jsonList(data['requestheader-uid-headers'], []).map((h) => h.toLowerCase()),
      }
    : null;
  const clientPem = data['client-ca-file'] ?? '';
  return { clientCAs: parsePemBundle(clientPem), clientCaPem: clientPem, requestHeader, generation };
}

interface ConfigMap {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
  data?: Record<string, string>;
}

/** Watches the configmap and calls `onChange` with each new parsed configuration. */
export class AuthConfigWatcher {
  private current: AuthenticationConfig | null = null;
  private readonly informer: Informer<ConfigMap>;
  private generation = 0;

  constructor(
    kube: KubeClient,
    private readonly log: Logger,
    private readonly onChange: (cfg: AuthenticationConfig) => void,
  ) {
    this.informer = new Informer<ConfigMap>({
      what: 'extension-apiserver-authentication',
      client: kube,
      path: `/api/v1/namespaces/${authConfigMapNamespace}/configmaps`,
      fieldSelector: `metadata.name=${authConfigMapName}`,
      log,
    });
    const apply = (cm: ConfigMap): void => {
      try {
        const cfg = parseAuthConfigMap(cm.data ?? {}, ++this.generation);
        this.current = cfg;
        this.log.info('authentication configuration loaded', {
          clientCAs: cfg.clientCAs.length,
          requestHeaderCAs: cfg.requestHeader?.cas.length ?? 0,
          allowedNames: cfg.requestHeader?.allowedNames,
        });
        this.onChange(cfg);
      } catch (err) {
        this.log.error('cannot parse the authentication configmap; keeping the previous one', { error: err });
      }
    };
    this.informer.on('add', apply);
    this.informer.on('update', apply);
  }

  start(): void {
    this.informer.start();
  }

  get config(): AuthenticationConfig | null {
    return this.current;
  }

  async stop(): Promise<void> {
    await this.informer.stop();
  }
}
