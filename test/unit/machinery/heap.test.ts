// tuneHeapForStreaming, in a child process of its own (V8 flags are process-wide): buffers the size
// of socket reads, allocated and dropped as a relay does, must be collected long before they pile
// up, and without shrinking the young generation that every other request allocates in.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expect } from 'chai';

const run = promisify(execFile);
const heapModule = new URL('../../../machinery/heap.js', import.meta.url).href;
const MiB = 1024 * 1024;

/** Runs `body` in a fresh Node process after tuneHeapForStreaming(); returns what it prints. */
async function tuned(body: string): Promise<number> {
  const script = `import { tuneHeapForStreaming } from ${JSON.stringify(heapModule)};
tuneHeapForStreaming();
${body}`;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script]);
  return Number(stdout.trim());
}

describe('machinery/heap tuneHeapForStreaming', () => {
  it('keeps dropped 64 KiB buffers awaiting collection under 32 MiB over 1 GiB', async () => {
    // Untuned, Node 24 lets ~73 MiB pile up here (Node 20: ~37); tuned, ~20.
    const peak = await tuned(`
let peak = 0;
for (let i = 0; i < 16 * 1024; i++) {
  Buffer.allocUnsafeSlow(64 * 1024).fill(1);
  if (i % 16 === 0) peak = Math.max(peak, process.memoryUsage().arrayBuffers);
}
console.log(peak);`);
    expect(peak).to.be.above(0);
    expect(peak).to.be.below(32 * MiB);
  });

  it('leaves the young generation the size V8 gave it at start', async () => {
    // The same flag on the command line would cap new space at 16 MiB (two 8 MiB semi-spaces).
    const newSpace = await tuned(`
import { getHeapSpaceStatistics } from 'node:v8';
let keep = [];
for (let i = 0; i < 3e6; i++) {
  keep.push({ i, a: [i] });
  if (keep.length > 200000) keep = [];
}
console.log(getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size);`);
    expect(newSpace).to.be.above(32 * MiB);
  });
});
