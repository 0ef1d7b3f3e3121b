// The registry of credential strategies, keyed by Secret type and credential scheme: a Secret type's
// own way by default, another when the ConnectorClass's auth type names a scheme (basic-username).
import { ProxyError } from '../errors.js';
import { basicAuthStrategy } from './basic-auth.js';
import { basicUsernameStrategies } from './basic-username.js';
import { bearerTokenStrategy, opaqueTokenStrategy } from './bearer-token.js';
import { gitlabPatStrategy } from './gitlab-pat.js';
import { registryTokenStrategy } from './registry-token.js';
import type { CredentialInjector, CredentialStrategy, SecretMaterial } from './strategy.js';

export type { CredentialInjector, CredentialStrategy, OutboundRequest, SecretMaterial } from './strategy.js';

const strategies: readonly CredentialStrategy[] = [
  basicAuthStrategy,
  bearerTokenStrategy,
  opaqueTokenStrategy,
  gitlabPatStrategy,
  registryTokenStrategy,
  ...basicUsernameStrategies,
];
const key = (secretType: string, scheme: string): string => `${secretType}\n${scheme}`;
const byTypeAndScheme = new Map(strategies.map((s) => [key(s.secretType, s.scheme ?? ''), s]));

export const supportedSecretTypes: readonly string[] = strategies
  .filter((s) => s.scheme === undefined)
  .map((s) => s.secretType);

/** The credential schemes a class may name, each with the Secret types it applies to. */
const credentialSchemes: ReadonlyMap<string, readonly string[]> = strategies.reduce((m, s) => {
  if (s.scheme !== undefined) m.set(s.scheme, [...(m.get(s.scheme) ?? []), s.secretType]);
  return m;
}, new Map<string, string[]>());

/**
 * Builds the injector for a Secret (sent the way `scheme` says, or its type's own way when it is
 * empty), or explains which Secret cannot be used and why.
 */
export function injectorFor(secret: SecretMaterial, scheme = ''): CredentialInjector {
  const strategy = byTypeAndScheme.get(key(secret.type, scheme));
  if (!strategy?.accepts(secret)) {
    let why: string;
    if (strategy) why = `an ${secret.type} Secret needs a "token" key`;
    else if (scheme === '') why = `type "${secret.type}" is not one of ${supportedSecretTypes.join(', ')}`;
    else {
      const types = credentialSchemes.get(scheme);
      why = types
        ? `the credential scheme "${scheme}" takes a Secret of type ${types.join(' or ')}, not "${secret.type}"`
        : `the credential scheme "${scheme}" is not one of ${[...credentialSchemes.keys()].join(', ')}`;
    }
    throw new ProxyError(
      'InvalidCredential',
      `Secret ${secret.namespace}/${secret.name} cannot be used: ${why}`,
    );
  }
  try {
    return strategy.create(secret);
  } catch (err) {
    if (err instanceof ProxyError) throw err;
    throw new ProxyError('InvalidCredential', (err as Error).message);
  }
}
