// Imported first by the plugin: on an older Node.js it stops with what to do, before any
// dependency that needs Node 24 is loaded (undici 8 fails on Node 20 with a TypeError of its own).
import { nodeMajor, requiredNodeMajor } from '../machinery/node.js';

if (!(nodeMajor(process.version) >= requiredNodeMajor)) {
  process.stderr.write(
    `error: kubectl-connectors needs Node.js ${requiredNodeMajor} or later, but runs on ${process.version} ` +
      `(${process.execPath}): install Node.js ${requiredNodeMajor} LTS and put it first on PATH ` +
      '(the plugin runs the first `node` on PATH).\n',
  );
  process.exit(1);
}
