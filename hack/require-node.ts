// Imported first by the entry points of `npm run dev`, `npm test` and `npm run bench`, so that an
// older Node.js stops with what to do before any dependency that needs Node 24 is loaded (undici 8
// fails on Node 20 with a TypeError from its own code).
import { requireSupportedNode } from './runtime.js';

const script = process.env.npm_lifecycle_event;
requireSupportedNode(script === undefined ? (process.argv[1] ?? 'this command') : `npm run ${script}`);
