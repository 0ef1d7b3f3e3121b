// Mocha root hooks: one local system for the whole integration run, torn down even on failure.
import { startEnv, stopEnv } from '../helpers/env.js';

export const mochaHooks = {
  async beforeAll(this: Mocha.Context): Promise<void> {
    this.timeout(15 * 60_000); // a cold run builds kube-apiserver, kubectl and etcd first
    await startEnv();
  },
  async afterAll(this: Mocha.Context): Promise<void> {
    this.timeout(60_000);
    await stopEnv();
  },
};
