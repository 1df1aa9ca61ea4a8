#include "thread_pool.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__linux__)
#include <sched.h>
#endif
#if defined(__EMSCRIPTEN__)
#include <emscripten/emscripten.h>
#endif

namespace fusedloss {
namespace {

// Seconds on a monotonic clock, for ParallelForTrace.  In the WebAssembly build (the threaded
// module) emscripten_get_now, which it imports already: std::chrono would add a clock_gettime
// import that lib/wasm/threads.ts does not provide, and the module would not instantiate.
double monotonicSeconds() {
#if defined(__EMSCRIPTEN__)
  return emscripten_get_now() / 1e3;
#else
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
#endif
}

struct Job {
  const std::function<void(int64_t)>* body;
  int64_t count;
  std::atomic<int64_t> next{0};
  std::atomic<int64_t> finished{0};
  std::mutex doneMutex;
  std::condition_variable doneSignal;
  std::exception_ptr error;  // the first exception a chunk threw, rethrown to the caller
  std::vector<double> chunkSeconds;  // filled only while a ParallelForTrace is set

  // Claims and runs chunks until none are left; returns false when there was nothing to claim.
  bool runSome() {
    bool ranAny = false;
    for (;;) {
      const int64_t chunk = next.fetch_add(1, std::memory_order_relaxed);
      if (chunk >= count) return ranAny;
      try {
        if (chunkSeconds.empty()) {
          (*body)(chunk);
        } else {
          const double start = monotonicSeconds();
          (*body)(chunk);
          chunkSeconds[chunk] = monotonicSeconds() - start;
        }
      } catch (...) {
        std::lock_guard<std::mutex> lock(doneMutex);
        if (!error) error = std::current_exception();
      }
      ranAny = true;
      if (finished.fetch_add(1, std::memory_order_acq_rel) + 1 == count) {
        std::lock_guard<std::mutex> lock(doneMutex);
        doneSignal.notify_all();
      }
    }
  }
};

class Pool {
 public:
  Pool() { resize(defaultThreads()); }

  int threads() {
    std::lock_guard<std::mutex> lock(mutex_);
    return static_cast<int>(workers_.size()) + 1;
  }

  void resize(int total) {
    if (total < 1) total = 1;
    std::lock_guard<std::mutex> serialize(resizeMutex_);
    std::vector<std::thread> retiring;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ++generation_;
      retiring.swap(workers_);
      wake_.notify_all();
    }
    for (auto& t : retiring) t.join();
    std::lock_guard<std::mutex> lock(mutex_);
    const uint64_t generation = generation_;
    for (int i = 0; i + 1 < total; ++i) workers_.emplace_back([this, generation] { work(generation); });
  }

  void run(int64_t count, const std::function<void(int64_t)>& body) {
    if (count <= 0) return;
    auto job = std::make_shared<Job>();
    job->body = &body;
    job->count = count;
    // Traced calls run every chunk on the calling thread: the durations are then the work's own,
    // free of other threads' contention, while threadCount() — and so the kernels' partition —
    // stays what the pool was set to.
    const ParallelForTrace* trace = trace_.load(std::memory_order_acquire);
    if (trace) job->chunkSeconds.assign(count, 0.0);
    const bool shared = count > 1 && !trace;
    if (shared) {
      std::lock_guard<std::mutex> lock(mutex_);
      jobs_.push_back(job);
      wake_.notify_all();
    }
    job->runSome();
    {
      std::unique_lock<std::mutex> lock(job->doneMutex);
      job->doneSignal.wait(lock, [&] { return job->finished.load(std::memory_order_acquire) == count; });
    }
    if (shared) {
      std::lock_guard<std::mutex> lock(mutex_);
      for (auto it = jobs_.begin(); it != jobs_.end(); ++it) {
        if (*it == job) { jobs_.erase(it); break; }
      }
    }
    if (job->error) std::rethrow_exception(job->error);
    if (trace) (*trace)(job->chunkSeconds);
  }

  void setTrace(const ParallelForTrace* trace) { trace_.store(trace, std::memory_order_release); }

 private:
  static int defaultThreads() {
    if (const char* env = std::getenv("FUSEDLOSS_THREADS")) {
      char* end = nullptr;
      const long n = std::strtol(env, &end, 10);
      if (end != env && *end == '\0' && n >= 1 && n <= 1024) return static_cast<int>(n);
    }
    return availableCores();
  }

  void work(uint64_t generation) {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      wake_.wait(lock, [&] { return generation_ != generation || hasClaimableJob(); });
      if (generation_ != generation) return;
      std::shared_ptr<Job> job = firstClaimableJob();
      lock.unlock();
      if (job) job->runSome();
      lock.lock();
    }
  }

  bool hasClaimableJob() { return firstClaimableJob() != nullptr; }

  std::shared_ptr<Job> firstClaimableJob() {
    for (auto& job : jobs_) {
      if (job->next.load(std::memory_order_relaxed) < job->count) return job;
    }
    return nullptr;
  }

  std::mutex resizeMutex_;  // one resize at a time (main thread and workers may both call it)
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::shared_ptr<Job>> jobs_;
  std::vector<std::thread> workers_;
  uint64_t generation_ = 0;
  std::atomic<const ParallelForTrace*> trace_{nullptr};
};

// Never destroyed: worker threads must not be joined from static destructors at process exit.
Pool& pool() {
  static Pool* instance = new Pool();
  return *instance;
}

}  // namespace

void parallelFor(int64_t chunkCount, const std::function<void(int64_t)>& body) { pool().run(chunkCount, body); }

int threadCount() { return pool().threads(); }

void setParallelForTrace(const ParallelForTrace* trace) { pool().setTrace(trace); }

void setThreadCount(int n) { pool().resize(n); }

int availableCores() {
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
#endif
  const unsigned n = std::thread::hardware_concurrency();
  return n > 0 ? static_cast<int>(n) : 1;
}

}  // namespace fusedloss
