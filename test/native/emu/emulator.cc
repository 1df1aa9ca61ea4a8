// The CPU execution harness behind cuda_runtime.h (docs/spec/gpu.md, "CUDA on the CPU").
//
// A launch runs its blocks one after another.  The threads of a block are fibers (one small stack
// each; a stack switch of a few instructions on x86-64, ucontext elsewhere) that switch only at
// __syncthreads() and at exit: each round runs every live thread up to its next barrier, then
// checks that all of them reached the same __syncthreads() (a thread that exited or waits at
// another one is reported and the program stops).  Threads run forward in even blocks and
// backward in odd ones, or (FL_EMU_SCHEDULE=shuffle:SEED, schedule.h) blocks and threads in random
// orders, so a missing barrier between a write and another thread's read shows up as poison or
// stale data.
//
// Memory: static and dynamic shared memory are filled with a NaN poison before every block;
// device allocations are mapped pages filled with the same poison, with guard zones before and
// right after the requested bytes, checked after every launch, copy and free, and an
// inaccessible page after them.  Harness
// failures print "cuda-emu: ..." and exit with status 3.
#include <cuda_runtime.h>

#include <signal.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "context.h"
#include "schedule.h"

uint3 threadIdx, blockIdx;
dim3 blockDim, gridDim;

// Linker-provided bounds of the __shared__ statics (absent when a program has none).
extern "C" char __start_fl_emu_shared[] __attribute__((weak));
extern "C" char __stop_fl_emu_shared[] __attribute__((weak));

namespace fl_emu {
namespace {

constexpr uint32_t kPoisonWord = 0x7fa5a5a5;  // float: a NaN no kernel writes; int: huge; double: ~1e305
constexpr uint32_t kGuardWord = 0x7fe7e7e7;   // the guard zones around allocations and dynamic shared
constexpr size_t kGuardBytes = 256;
constexpr size_t kDeviceMemory = size_t{512} << 20;  // what cudaMemGetInfo reports as total
constexpr size_t kMaxDynamicShared = 48 * 1024;
constexpr size_t kStackBytes = 128 * 1024;

[[noreturn]] void fail(const char* format, ...) {
  va_list args;
  va_start(args, format);
  std::fflush(stdout);
  std::fprintf(stderr, "cuda-emu: ");
  std::vfprintf(stderr, format, args);
  std::fprintf(stderr, "\n");
  va_end(args);
  std::exit(3);
}

void fillWords(void* data, size_t bytes, uint32_t word) {
  unsigned char* p = static_cast<unsigned char*>(data);
  const uint64_t pair = uint64_t{word} << 32 | word;
  size_t i = 0;
  for (; i + 8 <= bytes; i += 8) std::memcpy(p + i, &pair, 8);  // callers' ranges start 4-aligned
  for (; i < bytes; ++i) p[i] = static_cast<unsigned char>(word >> (8 * (i & 3)));
}

// First offset in [data, data + bytes) that differs from the word pattern, or bytes.
size_t firstChanged(const void* data, size_t bytes, uint32_t word) {
  unsigned char pattern[4];
  std::memcpy(pattern, &word, 4);
  const unsigned char* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < bytes; ++i) {
    if (p[i] != pattern[i & 3]) return i;
  }
  return bytes;
}

thread_local cudaError_t lastError = cudaSuccess;
cudaError_t record(cudaError_t err) {
  if (err != cudaSuccess) lastError = err;
  return err;
}

// --- device memory ------------------------------------------------------------------------------

// Mapped pages: unused | guard (kGuardBytes) | data (bytes) | guard up to the next 256 bytes |
// an inaccessible page.  The data end at that page (to 256 bytes, the device's alignment), so a
// kernel that reads or writes past the rounded end faults at once (reported by onFault).
struct Allocation {
  char* mapping;
  size_t mappingBytes;
  size_t bytes;    // requested
  size_t rounded;  // bytes rounded up to 256
};
std::mutex memoryMutex;
std::map<uintptr_t, Allocation> allocations;  // by user address
size_t allocatedBytes = 0;
std::string lastActivity = "no launch yet";

void checkGuards(const char* when) {
  for (const auto& [address, a] : allocations) {
    const char* data = reinterpret_cast<const char*>(address);
    const size_t front = firstChanged(data - kGuardBytes, kGuardBytes, kGuardWord);
    if (front != kGuardBytes) {
      fail("%s: %zu bytes before the %zu-byte allocation at %p were written (%s)", when, kGuardBytes - front, a.bytes,
           reinterpret_cast<const void*>(data), lastActivity.c_str());
    }
    const size_t back = firstChanged(data + a.bytes, a.rounded - a.bytes, kGuardWord);
    if (back != a.rounded - a.bytes) {
      fail("%s: byte %zu past the end of the %zu-byte allocation at %p was written (%s)", when, back, a.bytes,
           reinterpret_cast<const void*>(data), lastActivity.c_str());
    }
  }
}

size_t pageBytes() {
  static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return page;
}

// A fault in the inaccessible page after an allocation: a kernel went past its end.
void onFault(int, siginfo_t* info, void*) {
  const uintptr_t address = reinterpret_cast<uintptr_t>(info->si_addr);
  const char* what = "an address outside every device allocation and fiber stack";
  auto it = allocations.upper_bound(address);
  char text[160] = "";
  if (it != allocations.begin()) {
    --it;
    if (address >= it->first && address < it->first + it->second.rounded + pageBytes()) {
      std::snprintf(text, sizeof text, "byte %zu past the end of the %zu-byte device allocation at %p",
                    static_cast<size_t>(address - it->first - it->second.bytes), it->second.bytes,
                    reinterpret_cast<void*>(it->first));
      what = text;
    }
  }
  std::fprintf(stderr, "cuda-emu: memory fault at %p: %s (%s)\n", info->si_addr, what, lastActivity.c_str());
  std::_Exit(3);
}

void installFaultHandler() {
  static std::once_flag once;
  std::call_once(once, [] {
    // Its own stack, so that a fiber's stack overflow is reported too.
    static std::vector<char> altStack(1 << 16);
    stack_t ss{};
    ss.ss_sp = altStack.data();
    ss.ss_size = altStack.size();
    sigaltstack(&ss, nullptr);
    struct sigaction action {};
    action.sa_sigaction = onFault;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigaction(SIGSEGV, &action, nullptr);
    sigaction(SIGBUS, &action, nullptr);
  });
}

cudaError_t allocate(void** ptr, size_t bytes) {
  if (!ptr) return record(cudaErrorInvalidValue);
  *ptr = nullptr;
  installFaultHandler();
  std::lock_guard<std::mutex> lock(memoryMutex);
  if (bytes > kDeviceMemory - allocatedBytes) return record(cudaErrorMemoryAllocation);
  const size_t page = pageBytes();
  const size_t rounded = (bytes + 255) & ~size_t{255};
  const size_t mappingBytes = (kGuardBytes + rounded + page - 1) / page * page + page;
  void* mapping = mmap(nullptr, mappingBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mapping == MAP_FAILED) return record(cudaErrorMemoryAllocation);
  char* const end = static_cast<char*>(mapping) + mappingBytes - page;
  mprotect(end, page, PROT_NONE);
  char* const data = end - rounded;
  fillWords(data - kGuardBytes, kGuardBytes, kGuardWord);
  fillWords(data, bytes, kPoisonWord);
  fillWords(data + bytes, rounded - bytes, kGuardWord);
  allocations[reinterpret_cast<uintptr_t>(data)] = {static_cast<char*>(mapping), mappingBytes, bytes, rounded};
  allocatedBytes += bytes;
  *ptr = data;
  return cudaSuccess;
}

cudaError_t release(void* ptr) {
  if (!ptr) return cudaSuccess;
  std::lock_guard<std::mutex> lock(memoryMutex);
  checkGuards("cudaFree");
  const auto it = allocations.find(reinterpret_cast<uintptr_t>(ptr));
  if (it == allocations.end()) fail("cudaFree(%p): not an allocation of cudaMalloc", ptr);
  allocatedBytes -= it->second.bytes;
  munmap(it->second.mapping, it->second.mappingBytes);
  allocations.erase(it);
  return cudaSuccess;
}

// A device range must lie inside one allocation: a copy past its end is a harness failure.
void checkDeviceRange(const void* ptr, size_t bytes, const char* what) {
  if (bytes == 0) return;
  const uintptr_t address = reinterpret_cast<uintptr_t>(ptr);
  auto it = allocations.upper_bound(address);
  if (it == allocations.begin()) fail("%s: %p is not device memory", what, ptr);
  --it;
  if (address + bytes > it->first + it->second.bytes) {
    fail("%s: %zu bytes at offset %zu of a %zu-byte allocation run past its end", what, bytes,
         static_cast<size_t>(address - it->first), it->second.bytes);
  }
}

cudaError_t copy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  std::lock_guard<std::mutex> lock(memoryMutex);
  if (kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice) checkDeviceRange(dst, bytes, "cudaMemcpy destination");
  if (kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice) checkDeviceRange(src, bytes, "cudaMemcpy source");
  if (bytes) std::memmove(dst, src, bytes);
  checkGuards("cudaMemcpy");
  return cudaSuccess;
}

// --- blocks as fibers ---------------------------------------------------------------------------

enum class State { Runnable, AtBarrier, AtWarpBarrier, Done };
struct Fiber {
  Context context;
  State state;
  const char* file;  // the barrier it waits at (__syncthreads or __syncwarp)
  int line;
  // Warp-collective operations (WMMA loads, stores and products; mma.h) this thread has run,
  // and a hash of their kinds in order: every thread of a warp must run the same sequence.
  uint64_t collectives, collectiveHash;
};

struct Scheduler {
  Context main;
  std::vector<Fiber> fibers;
  std::vector<char*> stacks;
  Body* body = nullptr;
  int current = -1;
  int atWarpBarrier = 0;       // threads waiting at a __syncwarp()
  bool collectives = false;    // the block has run a warp-collective operation
};
Scheduler scheduler;
Schedule schedule;       // the order of blocks and of threads (FL_EMU_SCHEDULE, schedule.h)
std::mutex launchMutex;  // one launch at a time: the built-in variables and shared memory are global
std::vector<char> dynamicBuffer;
size_t dynamicBytes = 0;

void fiberMain() {
  scheduler.body->run();
  Fiber& self = scheduler.fibers[scheduler.current];
  self.state = State::Done;
  switchContext(self.context, scheduler.main);
  fail("a finished thread was resumed");
}

// Stacks with an inaccessible page below each, so an overflow faults instead of corrupting.
void ensureStacks(size_t count) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  while (scheduler.stacks.size() < count) {
    void* region = mmap(nullptr, kStackBytes + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (region == MAP_FAILED) fail("cannot map a fiber stack");
    mprotect(region, page, PROT_NONE);
    scheduler.stacks.push_back(static_cast<char*>(region) + page);
  }
}

void setThread(unsigned linear) {
  threadIdx.x = linear % blockDim.x;
  threadIdx.y = linear / blockDim.x % blockDim.y;
  threadIdx.z = linear / (blockDim.x * blockDim.y);
}

void poisonShared() {
  char* const begin = __start_fl_emu_shared;
  char* const end = __stop_fl_emu_shared;
  if (begin && end > begin) fillWords(begin, static_cast<size_t>(end - begin), kPoisonWord);
  fillWords(dynamicBuffer.data(), dynamicBytes, kPoisonWord);
  fillWords(dynamicBuffer.data() + dynamicBytes, kGuardBytes, kGuardWord);
}

bool sameSite(const Fiber& a, const Fiber& b) {
  return a.line == b.line && (a.file == b.file || std::strcmp(a.file, b.file) == 0);
}

// Every thread of each warp has run the same warp-collective operations so far (checked whenever
// the threads meet at a barrier and at the block's end): a warp whose threads do not all reach a
// WMMA operation would hang or compute garbage on a GPU.
void checkWarpCollectives(const char* name, unsigned linearBlock, unsigned threads, const char* where) {
  if (!scheduler.collectives) return;
  for (unsigned t = 0; t < threads; ++t) {
    const Fiber& f = scheduler.fibers[t];
    const Fiber& first = scheduler.fibers[t & ~31u];
    if (f.collectives != first.collectives || f.collectiveHash != first.collectiveHash) {
      fail("%s block %u: warp-collective divergence %s: thread %u ran %llu WMMA operations, thread %u of its warp %llu "
           "(or another sequence)",
           name, linearBlock, where, t & ~31u, static_cast<unsigned long long>(first.collectives), t,
           static_cast<unsigned long long>(f.collectives));
    }
  }
}

// Threads all waiting at one __syncwarp() are released together; a warp whose live threads are
// not all there while every thread of the block is blocked can never go on: reported.
bool releaseWarps(const char* name, unsigned linearBlock, unsigned threads) {
  if (scheduler.atWarpBarrier == 0) return false;
  bool released = false;
  for (unsigned w = 0; w < threads; w += 32) {
    const unsigned end = std::min(threads, w + 32);
    int at = -1;
    for (unsigned t = w; t < end; ++t) {
      if (scheduler.fibers[t].state == State::AtWarpBarrier) { at = static_cast<int>(t); break; }
    }
    if (at < 0) continue;
    const Fiber& a = scheduler.fibers[at];
    for (unsigned t = w; t < end; ++t) {
      const Fiber& f = scheduler.fibers[t];
      if (f.state == State::AtWarpBarrier && sameSite(f, a)) continue;
      fail("%s block %u: warp divergence: thread %d waits at the __syncwarp() at %s:%d, thread %u of its warp %s %s:%d",
           name, linearBlock, at, a.file, a.line, t, f.state == State::Done ? "exited; it last waited at" : "waits at",
           f.file ? f.file : "(none)", f.line);
    }
    checkWarpCollectives(name, linearBlock, threads, "at a __syncwarp()");
    for (unsigned t = w; t < end; ++t) scheduler.fibers[t].state = State::Runnable;
    scheduler.atWarpBarrier -= static_cast<int>(end - w);
    released = true;
  }
  return released;
}

void runBlock(const char* name, unsigned linearBlock) {
  const unsigned threads = blockDim.x * blockDim.y * blockDim.z;
  poisonShared();
  for (unsigned t = 0; t < threads; ++t) {
    Fiber& f = scheduler.fibers[t];
    startContext(f.context, scheduler.stacks[t], kStackBytes, fiberMain);
    f.state = State::Runnable;
    f.file = nullptr;
    f.line = 0;
    f.collectives = f.collectiveHash = 0;
  }
  scheduler.atWarpBarrier = 0;
  scheduler.collectives = false;
  for (int round = 0;;) {
    // Run every runnable thread until it blocks (a barrier, a __syncwarp, its end).
    for (const unsigned t : schedule.threadOrder(linearBlock, threads)) {
      Fiber& f = scheduler.fibers[t];
      if (f.state != State::Runnable) continue;
      setThread(t);
      scheduler.current = static_cast<int>(t);
      switchContext(scheduler.main, f.context);
    }
    if (releaseWarps(name, linearBlock, threads)) continue;
    // Every thread is now done or waiting at a barrier: all of them must wait at the same one.
    int waiting = -1, done = -1;
    for (unsigned t = 0; t < threads; ++t) {
      const Fiber& f = scheduler.fibers[t];
      if (f.state == State::Done) {
        if (done < 0) done = static_cast<int>(t);
        continue;
      }
      if (waiting < 0) {
        waiting = static_cast<int>(t);
      } else {
        const Fiber& w = scheduler.fibers[waiting];
        if (!sameSite(f, w)) {
          fail("%s block %u: barrier divergence: thread %d waits at %s:%d, thread %u at %s:%d", name, linearBlock,
               waiting, w.file, w.line, t, f.file, f.line);
        }
      }
    }
    checkWarpCollectives(name, linearBlock, threads, waiting < 0 ? "by the block's end" : "at a __syncthreads()");
    if (waiting < 0) break;
    ++round;
    if (done >= 0) {
      const Fiber& w = scheduler.fibers[waiting];
      fail("%s block %u: thread %d exited without reaching the __syncthreads() at %s:%d (barrier %d of the block) that "
           "thread %d waits at",
           name, linearBlock, done, w.file, w.line, round, waiting);
    }
    for (unsigned t = 0; t < threads; ++t) {
      if (scheduler.fibers[t].state == State::AtBarrier) scheduler.fibers[t].state = State::Runnable;
    }
  }
  const size_t overrun = firstChanged(dynamicBuffer.data() + dynamicBytes, kGuardBytes, kGuardWord);
  if (overrun != kGuardBytes) {
    fail("%s block %u: byte %zu past the end of the %zu bytes of dynamic shared memory was written", name, linearBlock,
         overrun, dynamicBytes);
  }
}

}  // namespace

void syncthreads(const char* file, int line) {
  if (scheduler.current < 0) fail("__syncthreads() outside a kernel (%s:%d)", file, line);
  Fiber& self = scheduler.fibers[scheduler.current];
  self.state = State::AtBarrier;
  self.file = file;
  self.line = line;
  switchContext(self.context, scheduler.main);
}

void syncwarp(unsigned mask, const char* file, int line) {
  if (scheduler.current < 0) fail("__syncwarp() outside a kernel (%s:%d)", file, line);
  if (mask != 0xffffffffu) fail("__syncwarp(0x%x) at %s:%d: the harness models full-warp masks only", mask, file, line);
  Fiber& self = scheduler.fibers[scheduler.current];
  self.state = State::AtWarpBarrier;
  self.file = file;
  self.line = line;
  ++scheduler.atWarpBarrier;
  switchContext(self.context, scheduler.main);
}

void warpCollective(uint64_t kind) {
  if (scheduler.current < 0) fail("a WMMA operation outside a kernel");
  if (ptxVersion() < 80) {
    fail("a TF32 WMMA operation in a kernel built from compute_%d PTX (FL_EMU_PTX_VERSION): on a GPU that code has "
         "no tensor-core instructions (mma_tile.cuh compiles its tile empty below sm_80), so the host must not launch it "
         "(%s)", ptxVersion(), lastActivity.c_str());
  }
  Fiber& self = scheduler.fibers[scheduler.current];
  scheduler.collectives = true;
  ++self.collectives;
  self.collectiveHash = (self.collectiveHash ^ kind) * 0x100000001b3ULL;
}

int ptxVersion() {
  static const int version = [] {
    const char* value = std::getenv("FL_EMU_PTX_VERSION");
    return value && *value ? std::atoi(value) : 90;
  }();
  return version;
}

void misuse(const char* what, const void* pointer, unsigned ldm) {
  fail("%s: pointer %p (WMMA needs 32-byte alignment) with ldm %u (a multiple of 4 floats) (%s)", what, pointer, ldm,
       lastActivity.c_str());
}

unsigned laneId() { return static_cast<unsigned>(scheduler.current) & 31u; }

void* dynamicShared() { return dynamicBytes ? dynamicBuffer.data() : nullptr; }

void launchBody(Body& body, dim3 grid, dim3 block, size_t sharedBytes, cudaStream_t, const char* name) {
  const uint64_t threads = uint64_t{block.x} * block.y * block.z;
  const uint64_t blocks = uint64_t{grid.x} * grid.y * grid.z;
  if (threads == 0 || threads > 1024 || blocks == 0 || grid.x > 0x7fffffffu || grid.y > 65535 || grid.z > 65535 ||
      sharedBytes > kMaxDynamicShared) {
    lastError = cudaErrorInvalidConfiguration;
    return;
  }
  std::lock_guard<std::mutex> lock(launchMutex);
  {
    std::lock_guard<std::mutex> memoryLock(memoryMutex);
    lastActivity = std::string("during or before the launch of ") + name;
  }
  ensureStacks(threads);
  if (scheduler.fibers.size() < threads) scheduler.fibers.resize(threads);
  dynamicBytes = sharedBytes;
  dynamicBuffer.assign(sharedBytes + kGuardBytes, 0);
  scheduler.body = &body;
  blockDim = block;
  gridDim = grid;
  schedule.beginLaunch(blocks);
  for (uint64_t i = 0; i < blocks; ++i) {
    const uint64_t b = schedule.block(i);
    blockIdx.x = static_cast<unsigned>(b % grid.x);
    blockIdx.y = static_cast<unsigned>(b / grid.x % grid.y);
    blockIdx.z = static_cast<unsigned>(b / (uint64_t{grid.x} * grid.y));
    runBlock(name, static_cast<unsigned>(b));
  }
  scheduler.current = -1;
  scheduler.body = nullptr;
  std::lock_guard<std::mutex> memoryLock(memoryMutex);
  checkGuards((std::string("after ") + name).c_str());
}

}  // namespace fl_emu

// --- runtime API ----------------------------------------------------------------------------------

using fl_emu::lastError;

cudaError_t cudaGetLastError() {
  const cudaError_t err = lastError;
  lastError = cudaSuccess;
  return err;
}
cudaError_t cudaPeekAtLastError() { return lastError; }

const char* cudaGetErrorName(cudaError_t err) {
  switch (err) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevicePointer: return "cudaErrorInvalidDevicePointer";
    case cudaErrorInsufficientDriver: return "cudaErrorInsufficientDriver";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
  }
  return "cudaErrorUnknown";
}
const char* cudaGetErrorString(cudaError_t err) {
  switch (err) {
    case cudaSuccess: return "no error";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    default: return cudaGetErrorName(err);
  }
}

cudaError_t cudaGetDeviceCount(int* count) { return *count = 1, cudaSuccess; }
cudaError_t cudaGetDevice(int* device) { return *device = 0, cudaSuccess; }
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (device != 0) return fl_emu::record(cudaErrorInvalidValue);
  *prop = cudaDeviceProp{};
  std::snprintf(prop->name, sizeof prop->name, "CPU emulator (test/native/emu)");
  prop->totalGlobalMem = fl_emu::kDeviceMemory;
  prop->major = 9, prop->minor = 0, prop->multiProcessorCount = 4;
  return cudaSuccess;
}
cudaError_t cudaFuncGetAttributes(cudaFuncAttributes* attributes, const void* kernel) {
  if (!attributes || !kernel) return fl_emu::record(cudaErrorInvalidValue);
  *attributes = cudaFuncAttributes{};
  attributes->maxThreadsPerBlock = 1024;
  attributes->ptxVersion = fl_emu::ptxVersion();
  attributes->binaryVersion = 90;
  return cudaSuccess;
}
cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
  if (device != 0) return fl_emu::record(cudaErrorInvalidValue);
  *value = attr == cudaDevAttrMultiProcessorCount ? 4 : attr == cudaDevAttrMemoryPoolsSupported ? 1 : 0;
  return cudaSuccess;
}
cudaError_t cudaDriverGetVersion(int* version) { return *version = CUDART_VERSION, cudaSuccess; }
cudaError_t cudaRuntimeGetVersion(int* version) { return *version = CUDART_VERSION, cudaSuccess; }
cudaError_t cudaMemGetInfo(size_t* freeBytes, size_t* totalBytes) {
  std::lock_guard<std::mutex> lock(fl_emu::memoryMutex);
  *freeBytes = fl_emu::kDeviceMemory - fl_emu::allocatedBytes;
  *totalBytes = fl_emu::kDeviceMemory;
  return cudaSuccess;
}

cudaError_t cudaMalloc(void** ptr, size_t bytes) { return fl_emu::allocate(ptr, bytes); }
cudaError_t cudaFree(void* ptr) { return fl_emu::release(ptr); }
struct CUmemPool_st {};
cudaError_t cudaMemPoolCreate(cudaMemPool_t* pool, const cudaMemPoolProps*) { return *pool = new CUmemPool_st, cudaSuccess; }
cudaError_t cudaMemPoolDestroy(cudaMemPool_t pool) { return delete pool, cudaSuccess; }
cudaError_t cudaMemPoolSetAttribute(cudaMemPool_t, cudaMemPoolAttr, void*) { return cudaSuccess; }
cudaError_t cudaMallocFromPoolAsync(void** ptr, size_t bytes, cudaMemPool_t, cudaStream_t) { return fl_emu::allocate(ptr, bytes); }
cudaError_t cudaFreeAsync(void* ptr, cudaStream_t) { return fl_emu::release(ptr); }
cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) { return fl_emu::copy(dst, src, bytes, kind); }
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t) {
  return fl_emu::copy(dst, src, bytes, kind);
}
cudaError_t cudaMemsetAsync(void* dst, int value, size_t bytes, cudaStream_t) {
  std::lock_guard<std::mutex> lock(fl_emu::memoryMutex);
  fl_emu::checkDeviceRange(dst, bytes, "cudaMemsetAsync");
  if (bytes) std::memset(dst, value, bytes);
  return cudaSuccess;
}

struct CUstream_st {};
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned) { return *stream = new CUstream_st, cudaSuccess; }
cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  if (stream != cudaStreamPerThread) delete stream;
  return cudaSuccess;
}
// Every launch and copy has completed when its call returns.  (A launch refused for its
// configuration is reported by cudaGetLastError only, as on the device.)
cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }

struct CUevent_st {
  std::chrono::steady_clock::time_point at;
};
cudaError_t cudaEventCreate(cudaEvent_t* event) { return *event = new CUevent_st, cudaSuccess; }
cudaError_t cudaEventDestroy(cudaEvent_t event) { return delete event, cudaSuccess; }
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t) { return event->at = std::chrono::steady_clock::now(), cudaSuccess; }
cudaError_t cudaEventSynchronize(cudaEvent_t) { return cudaSuccess; }
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t stop) {
  *ms = std::chrono::duration<float, std::milli>(stop->at - start->at).count();
  return cudaSuccess;
}
