// Process-wide CPU thread pool shared by every kernel and every addon instance (main thread and
// worker_threads alike).  Kernels split their work into a number of chunks that depends only on
// the problem size, never on the thread count, and reduce per-chunk partials in chunk order, so
// results are bit-identical for any number of threads.
#pragma once

#include <cstdint>
#include <functional>

namespace fusedloss {

// Runs body(chunk) for chunk in [0, chunkCount) on the pool; the calling thread takes part and
// returns when all chunks are done.  Safe to call from several threads at once (concurrent async
// calls); chunks of different calls interleave on the shared workers.  If a chunk throws, the
// other chunks still run and the first exception is rethrown here.
void parallelFor(int64_t chunkCount, const std::function<void(int64_t chunk)>& body);

// Total threads that run chunks (workers + the caller).  Default: FUSEDLOSS_THREADS when it is a
// positive integer, else the cores this process may run on.
int threadCount();

// Resizes the pool; n >= 1.  Calls in flight finish correctly (the caller always takes part).
void setThreadCount(int n);

// Cores available to this process (affinity mask where the OS has one).
int availableCores();

}  // namespace fusedloss
