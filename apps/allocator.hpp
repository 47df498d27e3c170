// Process-wide malloc settings for the command-line programs.
#pragma once
#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace convdyn::apps {

/// Keeps freed memory in the process instead of handing it back to the OS after every call.
///
/// Why: LibTorch allocates and frees multi-megabyte buffers on every operator apply (the im2col buffer of
/// a float64 conv is 14 MB for a 64x56x56 layer, each Krylov vector 1.6 MB). With glibc's defaults such
/// blocks come from fresh mmaps or from heap pages just trimmed, so each apply pays page faults that cost
/// more than the conv itself: 64x56x56 Krylov–Schur, k = 20, 2,797 matvecs spent 51 s of system time in a
/// 61 s run (the applies alone 31 s); with these settings 8.6 s in 37 s (applies 13 s). A library must not
/// change global state, so the programs call this once at start-up; glibc only (a no-op elsewhere).
inline void keep_freed_memory() {
#if defined(__GLIBC__)
  mallopt(M_MMAP_THRESHOLD, 256 << 20);  // blocks below 256 MB come from the heap, not from mmap
  mallopt(M_TRIM_THRESHOLD, 1 << 30);    // and up to 1 GB of free heap stays mapped
#endif
}

}  // namespace convdyn::apps
