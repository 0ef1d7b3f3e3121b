// The one way a test may skip without failing `npm test`: saying why. Any other skip (it.skip, a bare
// this.skip()) counts as a failure in hack/test-runner.ts, so a test that silently stops running is seen.
import { markAllowedSkip } from '../../hack/test-results.js';

/** Skips the running test, for `reason`, which `npm test` prints. */
export function skipBecause(ctx: Mocha.Context, reason: string): never {
  if (ctx.test) markAllowedSkip(ctx.test, reason);
  ctx.skip();
}
