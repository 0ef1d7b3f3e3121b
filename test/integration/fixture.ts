// Mocha root hooks: one local system for the whole integration run, torn down even on failure; before
// it goes, the leak check (leak-check.ts) over everything the run did, failing the run on a finding.
import { startEnv, stopEnv } from '../helpers/env.js';
import { checkNoLeaks } from './leak-check.js';

let started = false;

export const mochaHooks = {
  async beforeAll(this: Mocha.Context): Promise<void> {
    this.timeout(15 * 60_000); // a cold run builds kube-apiserver, kubectl and etcd first
    await startEnv();
    started = true;
  },
  // One hook, not two: mocha runs no further "after all" hook once one fails, and the system must stop.
  async afterAll(this: Mocha.Context): Promise<void> {
    this.timeout(3 * 60_000);
    try {
      if (started) console.log(`\n  ${await checkNoLeaks()}`);
    } finally {
      await stopEnv();
    }
  },
};
