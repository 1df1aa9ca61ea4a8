// The thread pool of native/runtime/thread_pool.h for a WebAssembly build without threads: every
// chunk runs on the caller, in chunk order.  The kernels' partition into chunks and their
// reduction in chunk order depend only on the problem size (thread_pool.h), so the results are
// the bits the native CPU kernels give at any thread count.  Replaces thread_pool.cc in the wasm
// build (scripts/build-wasm.js), which would need std::thread and pthreads.
#include <exception>

#include "../runtime/thread_pool.h"

namespace fusedloss {

void parallelFor(int64_t chunkCount, const std::function<void(int64_t)>& body) {
  // As the pool does: a chunk that throws does not stop the others; the first exception is rethrown.
  std::exception_ptr error;
  for (int64_t chunk = 0; chunk < chunkCount; ++chunk) {
    try {
      body(chunk);
    } catch (...) {
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
}

int threadCount() { return 1; }

void setThreadCount(int) {}

int availableCores() { return 1; }

}  // namespace fusedloss
