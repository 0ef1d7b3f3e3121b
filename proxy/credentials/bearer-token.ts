// connectors.cpaas.io/bearer-token, and Opaque Secrets holding a `token` key (GitHub PATs in the
// published classes) → `Authorization: Bearer <token>`.
import { requireToken, staticHeader, type CredentialStrategy } from './strategy.js';

export const bearerTokenStrategy: CredentialStrategy = {
  secretType: 'connectors.cpaas.io/bearer-token',
  accepts: () => true,
  create: (secret) => staticHeader('authorization', `Bearer ${requireToken(secret, 'token')}`),
};

export const opaqueTokenStrategy: CredentialStrategy = {
  secretType: 'Opaque',
  accepts: (secret) => secret.data.token !== undefined,
  create: (secret) => staticHeader('authorization', `Bearer ${requireToken(secret, 'token')}`),
};
