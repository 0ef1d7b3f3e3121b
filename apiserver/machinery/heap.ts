// V8 heap tuning for the processes that stream bodies (the aggregated server, the Connectors Proxy).
//
// Every chunk Node reads from a socket is a fresh ArrayBuffer, which V8 counts as external memory
// until a young-generation GC frees it, and that happens only once about 32 MB of them have piled
// up. V8 also adds external memory grown since the last full GC to the old generation's size when
// it decides whether to start one, and after a full GC it sets the next limit only ~10% plus a few
// MB above what survived: so a 1 GiB stream through a small heap started a full (marking) GC every
// 25 to 30 MB, 35 of them per GiB, a third of the process's CPU. Growing the limit by 100% instead
// gives the in-flight buffers room, while the old generation may still only reach about twice what
// is live. Measured on a 1 GiB download through /proxy: 33-37 → 0-3 full GCs, 2.5-2.9 → 1.5-1.9 s
// of CPU. (A bare relay without this never meets it: it never runs a first full GC, so it keeps
// V8's generous initial limit.)

import { setFlagsFromString } from 'node:v8';

/** Sets V8's old-generation growing factor to 2; V8 reads it each time it sets a new limit. */
export function tuneHeapForStreaming(): void {
  setFlagsFromString('--heap-growing-percent=100');
}
