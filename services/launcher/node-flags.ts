// The V8 flags every gantry service process starts with: the local launchers' children here, and
// the container image's ENTRYPOINT (deploy/Dockerfile), which repeats them
// (test/unit/launcher-node-flags.test.ts keeps the two equal). V8 reads them only at start-up
// (v8.setFlagsFromString has no effect on a configured heap; NODE_OPTIONS refuses this one), so
// they belong on the command line.
//
// --initial-old-space-size=256: V8 sizes the old generation's allocation limit from the live heap,
// about 1.4x it: 78 MB for a worker's 55 MB (tfjs' modules and their sources). It starts an
// incremental mark whenever less room is left than the young generation could promote at once,
// which with a 55 MB heap is right after every mark. A data-parallel worker allocates about 100 MB
// of short-lived buffers per step in grpc-js (the ring's framed messages, sent and received), so it
// marked its whole heap about 5 times a step, and a rank that is collecting stalls the ring for
// its neighbour. Starting the limit at 256 MB: 20-29 full collections in 24 steps instead of
// 120-143; the workshop classifier's 26 MB all-reduce at N = 2 went from 379-393 ms to 181-208 ms
// and its step from 719-900 ms to 549-608 ms, with the same peak RSS (bench/README.md). External
// memory pressure still triggers collections, so buffers are freed as before.
export const SERVICE_NODE_FLAGS: readonly string[] = ['--initial-old-space-size=256'];
