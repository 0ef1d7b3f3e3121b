// kubernetes.io/basic-auth → `Authorization: Basic base64(username:password)`.
import { requireKey, staticHeader, type CredentialStrategy } from './strategy.js';

export const basicAuthStrategy: CredentialStrategy = {
  secretType: 'kubernetes.io/basic-auth',
  accepts: () => true,
  create(secret) {
    const username = secret.data.username?.toString('utf8') ?? '';
    const password = requireKey(secret, 'password');
    if (/[\r\n\0:]/.test(username)) {
      throw new Error(`username of Secret ${secret.namespace}/${secret.name} contains ':' or a line break`);
    }
    return staticHeader(
      'authorization',
      `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`,
    );
  },
};
