// Imported first by bench/run.ts, so that it runs before any other module is evaluated: the
// columns are named after the Node they measure, so a bench started on another Node (the machine's
// own node instead of node_modules/.bin/node, which `npm run bench` puts first on PATH) must stop
// at once and say so, not measure, nor fail inside undici (undici 8 does not load on Node 20).

if (!process.version.startsWith('v24.')) {
  process.stderr.write(
    `npm run bench failed: the bench runs on Node 24 (node_modules/.bin/node, as npm run bench does), ` +
      `not ${process.version} (${process.execPath})\n`,
  );
  process.exit(1);
}
