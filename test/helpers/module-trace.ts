// A preload (`node --import=<this file's URL>?out=<file>`) that writes the URL of every module
// the process resolves from node_modules to <file>, one a line, including modules imported lazily
// long after startup: how the integration tests see which packages a real process loaded.
// client-node is an ES module, so require.cache would not show it; resolution hooks do.

import { register } from 'node:module';

const out = new URL(import.meta.url).searchParams.get('out');
if (!out) throw new Error('module-trace: give the output file as ?out=<path> on the --import URL');
register(new URL('./module-trace-hooks.js', import.meta.url), { data: { out } });
