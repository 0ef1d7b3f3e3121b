// V8 heap tuning for the processes that stream bodies (the aggregated server, the Connectors Proxy).
//
// Every chunk Node reads from a socket is a fresh ArrayBuffer, which V8 counts as external memory
// until a young-generation GC frees it, and that happens only once about 32 MB of them have piled
// up. V8 also adds external memory grown since the last full GC to the old generation's size when
// it decides whether to start one, and after a full GC it sets the next limit only ~10% plus a few
// MB above what survived. So a 1 GiB stream started a full (marking) GC every 25 to 30 MB, over 30
// of them per GiB and a third of the process's CPU. With a ~14 MB live heap, a limit 4× what
// survived gives the in-flight buffers room; it is a trigger, not an allocation, and the young
// generation still frees the buffers. Measured on 1 GiB downloads through /proxy: 31-32 → 0 full
// GCs and 2.5-2.6 → 1.5-1.6 s of server CPU per GiB; peak RSS 124 MB. (A bare relay never meets
// this: it never runs a first full GC, so it keeps V8's generous initial limit.)

import { setFlagsFromString } from 'node:v8';

/** Sets V8's old-generation growing factor to 4; V8 reads it each time it sets a new limit. */
export function tuneHeapForStreaming(): void {
  setFlagsFromString('--heap-growing-percent=300');
}
