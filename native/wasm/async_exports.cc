// The threaded WebAssembly build's own entry points (scripts/build-wasm.js builds the kernels a
// second time with -pthread and native/runtime/thread_pool.cc; lib/wasm/threads.ts drives them).
// Its threads are Emscripten pthreads whose workers the JavaScript host starts itself: each
// pthread_create hands the new thread to a worker that already holds an instance of the module on
// the shared memory, so creating threads never waits for the JavaScript thread.
//
//  - fl_start_threads(workers): once the host has `workers` such workers ready, one becomes the
//    async service thread and the rest join the thread pool (which the calling thread joins too).
//  - fl_call_async(entry, …, job): the async API's way off the JavaScript thread: the service
//    thread runs the entry point (its chunks on the shared pool, alongside any sync call the
//    JavaScript thread makes meanwhile), then sets job[0] to 1 and wakes its waiters, which
//    Atomics.waitAsync on the JavaScript thread resolves on.
//  - fl_thread_stack(thread, out): a new pthread's stack, which its worker installs before
//    running any C (the shadow stack pointer is per instance, and starts where the main thread's is).
#include <emscripten/threading.h>
#include <pthread.h>

#include <climits>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "../runtime/thread_pool.h"
#include "wasm_call.h"

extern "C" {
int32_t fl_crps(const double* scalars, void* const* arrays, double* results);
int32_t fl_margin_softmax(const double* scalars, void* const* arrays, double* results);
int32_t fl_mine(const double* scalars, void* const* arrays, double* results);
int32_t fl_pair_loss(const double* scalars, void* const* arrays, double* results);
}

namespace {

using Entry = int32_t (*)(const double*, void* const*, double*);

struct NamedEntry {
  const char* name;
  Entry entry;
};

// The entry points lib/wasm/execute.ts calls by name.
const NamedEntry kEntries[] = {
    {"fl_crps", fl_crps}, {"fl_margin_softmax", fl_margin_softmax}, {"fl_mine", fl_mine}, {"fl_pair_loss", fl_pair_loss}};

// A queued call.  `words` is the caller's job block of four int32: [0] state (0 queued, 1 done),
// [1] the entry's status, [2] and [3] a copy of its failure message (malloc'd, the caller frees
// it; 0 and 0 on success or when the copy could not be allocated).
struct Job {
  Entry entry;
  const double* scalars;
  void* const* arrays;
  double* results;
  int32_t* words;
};

class Service {
 public:
  bool start() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (started_) return true;
    try {
      std::thread([this] { loop(); }).detach();
    } catch (...) {
      return false;  // no worker was free for it: async calls stay on the host's fallback
    }
    started_ = true;
    return true;
  }

  bool post(const Job& job) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!started_) return false;
    queue_.push_back(job);
    wake_.notify_one();
    return true;
  }

 private:
  void loop() {
    for (;;) {
      Job job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [this] { return !queue_.empty(); });
        job = queue_.front();
        queue_.pop_front();
      }
      run(job);
    }
  }

  static void run(const Job& job) {
    const int32_t status = job.entry(job.scalars, job.arrays, job.results);
    int32_t* words = job.words;
    words[1] = status;
    words[2] = 0;
    words[3] = 0;
    if (status != 0) {
      const std::string& message = fusedloss::wasm::lastError();
      if (char* copy = static_cast<char*>(std::malloc(message.size() + 1))) {
        std::memcpy(copy, message.c_str(), message.size() + 1);
        words[2] = static_cast<int32_t>(reinterpret_cast<uintptr_t>(copy));
        words[3] = static_cast<int32_t>(message.size());
      }
    }
    __atomic_store_n(&words[0], 1, __ATOMIC_SEQ_CST);
    emscripten_futex_wake(&words[0], INT_MAX);
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job> queue_;
  bool started_ = false;
};

// Never destroyed, as the pool: its thread runs for the life of the module.
Service& service() {
  static Service* instance = new Service();
  return *instance;
}

}  // namespace

extern "C" {

// Returns the threads the pool now runs chunks on (the caller included).
int32_t fl_start_threads(int32_t workers) {
  if (workers < 1 || !service().start()) return fusedloss::threadCount();
  try {
    fusedloss::setThreadCount(workers);
  } catch (...) {
    // Fewer workers were free than announced: the pool keeps those it started.
  }
  return fusedloss::threadCount();
}

// 0: queued; -1: no service thread (the host runs the call its other way); kBackend: no such entry.
int32_t fl_call_async(const char* entry, int32_t entryLength, const double* scalars, void* const* arrays, double* results,
                      int32_t* words) {
  for (const NamedEntry& named : kEntries) {
    if (std::strlen(named.name) == static_cast<size_t>(entryLength) && std::memcmp(named.name, entry, entryLength) == 0) {
      words[0] = 0;
      return service().post(Job{named.entry, scalars, arrays, results, words}) ? 0 : -1;
    }
  }
  return fusedloss::wasm::fail(fusedloss::wasm::kBackend, "fl_call_async: no entry point " + std::string(entry, entryLength));
}

// out[0]: the stack's top (it grows down), out[1]: its size in bytes.
void fl_thread_stack(pthread_t thread, uint32_t* out) {
  pthread_attr_t attributes;
  void* lowest = nullptr;
  size_t size = 0;
  if (pthread_getattr_np(thread, &attributes) == 0) {
    pthread_attr_getstack(&attributes, &lowest, &size);
    pthread_attr_destroy(&attributes);
  }
  out[0] = static_cast<uint32_t>(reinterpret_cast<uintptr_t>(lowest) + size);
  out[1] = static_cast<uint32_t>(size);
}

}  // extern "C"
