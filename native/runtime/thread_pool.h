// Process-wide CPU thread pool shared by every kernel and every addon instance (main thread and
// worker_threads alike).  Kernels split their work into a number of chunks that depends only on
// the problem size, never on the thread count, and reduce per-chunk partials in chunk order, so
// results are bit-identical for any number of threads.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

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

// Observes parallelFor for the scaling benchmark (bench/scaling_cpu_bench.cc), which models more
// threads than the machine has: while a trace is set, every parallelFor call runs all its chunks
// on the calling thread (the partition still follows threadCount()), times each, and hands the
// durations (seconds, chunk order) to the trace once the call is done.  Process-wide; set it only
// while no other kernel runs.  nullptr (the default) turns it off.
using ParallelForTrace = std::function<void(const std::vector<double>& chunkSeconds)>;
void setParallelForTrace(const ParallelForTrace* trace);

}  // namespace fusedloss
