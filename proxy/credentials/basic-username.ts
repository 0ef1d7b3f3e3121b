// The `basic-username` credential scheme: a token sent as the Basic username with an empty password
// (`Authorization: Basic base64("<token>:")`), the way SonarQube takes its tokens in every version
// (Bearer only from 10.0). A class chooses it for an auth type with the annotation
// connectors.alauda.io/credential-scheme (registry/resolve.ts); it applies to the Secret types that
// hold a `token`: connectors.cpaas.io/bearer-token, and Opaque with a `token` key.
import { requireKey, staticHeader, type CredentialStrategy, type SecretMaterial } from './strategy.js';

const basicUsernameScheme = 'basic-username';

function create(secret: SecretMaterial): ReturnType<CredentialStrategy['create']> {
  const token = requireKey(secret, 'token');
  if (token.includes(':')) {
    throw new Error(
      `key "token" of Secret ${secret.namespace}/${secret.name} contains ':', which a Basic username cannot carry`,
    );
  }
  return staticHeader('authorization', `Basic ${Buffer.from(`${token}:`).toString('base64')}`);
}

export const basicUsernameStrategies: readonly CredentialStrategy[] = [
  {
    secretType: 'connectors.cpaas.io/bearer-token',
    scheme: basicUsernameScheme,
    accepts: () => true,
    create,
  },
  {
    secretType: 'Opaque',
    scheme: basicUsernameScheme,
    accepts: (secret) => secret.data.token !== undefined,
    create,
  },
];
