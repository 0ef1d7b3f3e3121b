// V8 heap tuning for the processes that stream bodies (the aggregated server, the Connectors Proxy).
//
// Every chunk Node reads from a socket is a fresh ArrayBuffer, which V8 counts as external memory
// until a GC frees it. Two triggers decide when that happens, and both were set for heaps far
// bigger than ours.
//
// The young generation: V8 runs a scavenge for these buffers (when new space is not full yet) once
// the pending ones reach twice its default maximum semi-space, which on Node 24 (V8 13, no pointer
// compression) is 2 × 64 MB: a 100 MiB download never gets there. The old generation then steps
// in: V8 counts external memory grown since the last full GC against the old generation's limit,
// and after a full GC sets the next one ~10% plus a few MB above what survived. So streaming ran a
// full (marking) GC every ~64 MB, 16 per GiB, with up to ~70 MB of dead buffers waiting for it.
//
// `--scavenger-max-new-space-capacity-mb`, set here after V8 has built the heap, only moves that
// first trigger: V8 reads it again on every buffer allocation (2 × 2 × 4 = 16 MB), while the young
// generation keeps the size it was configured with at start (128 MB; the same flag on the command
// line would shrink it to 16 MB and add scavenges to every workload). Small requests fill new space
// long before 16 MB of buffers pile up, so they run the same scavenges as before (7-15 per 5 s of
// wrk at 50 connections through /proxy, either way). Measured on this repository's 2-core VM:
// - 100 MiB download through /proxy, first one on a fresh server: RSS +52 → +13 MiB (8: +29;
//   2: +5); 1 GiB: +70 → +15-21 MiB, peak RSS ≈184 → ≈130 MB;
// - 1 GiB through /proxy: 16 full GCs → 0 (64 scavenges of ~0.3-5 ms), server CPU 1.8-1.9 →
//   1.5-1.7 s (the buffers are reused while still in cache instead of faulting in fresh pages);
// - Connectors Proxy, 100 MiB download: RSS +60 → +12 MiB, CPU 210 → 125 ms once warm.
//
// The old generation's limit still needs room: with a ~14 MB live heap, a limit 4× what survived
// gives the in-flight buffers room; it is a trigger, not an allocation. Without it, full GCs come
// back even with the scavenges (112 in 2 GiB, 4.3 s of server CPU per GiB). On Node 20 it alone
// took a 1 GiB download from 31-32 full GCs to none.

import { setFlagsFromString } from 'node:v8';

/**
 * Sets V8's old-generation growing factor to 4 and the young generation's trigger for pending
 * socket buffers to 16 MB. Call once, at the start of the process (after V8 has set up its heap).
 */
export function tuneHeapForStreaming(): void {
  setFlagsFromString('--heap-growing-percent=300');
  setFlagsFromString('--scavenger-max-new-space-capacity-mb=4');
}
