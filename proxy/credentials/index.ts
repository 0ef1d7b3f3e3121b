// The registry of credential strategies, keyed by Secret type.
import { ProxyError } from '../errors.js';
import { basicAuthStrategy } from './basic-auth.js';
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
];
const byType = new Map(strategies.map((s) => [s.secretType, s]));

export const supportedSecretTypes: readonly string[] = strategies.map((s) => s.secretType);

/** Builds the injector for a Secret, or explains which Secret cannot be used and why. */
export function injectorFor(secret: SecretMaterial): CredentialInjector {
  const strategy = byType.get(secret.type);
  if (!strategy?.accepts(secret)) {
    const why = strategy
      ? `an ${secret.type} Secret needs a "token" key`
      : `type "${secret.type}" is not one of ${supportedSecretTypes.join(', ')}`;
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
