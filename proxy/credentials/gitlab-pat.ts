// connectors.cpaas.io/gitlab-pat-auth → GitLab's own `PRIVATE-TOKEN` header.
import { requireToken, staticHeader, type CredentialStrategy } from './strategy.js';

export const gitlabPatStrategy: CredentialStrategy = {
  secretType: 'connectors.cpaas.io/gitlab-pat-auth',
  accepts: () => true,
  create: (secret) => staticHeader('private-token', requireToken(secret, 'token')),
};
