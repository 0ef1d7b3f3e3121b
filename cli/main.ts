#!/usr/bin/env node
// kubectl-connectors, the kubectl plugin: kubectl runs it for `kubectl connectors …` when it is on
// PATH under that name (package.json "bin" installs it so). The Node.js check comes first, before
// anything that needs Node 24 is loaded.

import './require-node.js';

const { run } = await import('./run.js');
const { processIo } = await import('./io.js');

// A reader that stops early (`| head`) is no failure.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});
process.exitCode = await run(process.argv.slice(2), processIo());
