// Process-wide malloc settings for the command-line programs.
#pragma once
#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace convdyn::apps {

/// Keeps freed memory in the process instead of handing it back to the OS after every call.
///
/// Why: LibTorch allocates and frees multi-megabyte buffers on every operator apply (im2col buffers, Krylov
/// vectors). With glibc's defaults such blocks come from fresh mmaps or from heap pages just trimmed, so
/// each apply pays page faults that can cost more than the conv itself (README, "Levers"). A library must
/// not change global state, so the programs call this once at start-up; glibc only (a no-op elsewhere).
inline void keep_freed_memory() {
#if defined(__GLIBC__)
  mallopt(M_MMAP_THRESHOLD, 256 << 20);  // blocks below 256 MB come from the heap, not from mmap
  mallopt(M_TRIM_THRESHOLD, 1 << 30);    // and up to 1 GB of free heap stays mapped
#endif
}

}  // namespace convdyn::apps
