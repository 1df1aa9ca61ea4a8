// The CUDA runtime as the CPU execution harness sees it (npm run test:cuda-emu,
// test/native/run-emu-checks.sh): cuda/*.cu and test/native/*_check.cu compiled as C++ by g++
// with this directory first on the include path.  The device side (threadIdx, __shared__,
// __syncthreads, atomicMax, vector types) and the host side (memory, streams, events, errors) are
// emulated by emulator.cc; what is modelled and what is not is in docs/spec/gpu.md.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <tuple>

// --- qualifiers ---------------------------------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
// Static shared arrays are statics in one linker section, which the emulator poisons before every
// block (blocks run one after another, so one copy serves them all).
#define __shared__ static __attribute__((section("fl_emu_shared")))

#define CUDART_VERSION 13000

// --- vector types and built-in variables --------------------------------------------------------
struct __attribute__((aligned(16))) float4 { float x, y, z, w; };
struct __attribute__((aligned(16))) double2 { double x, y; };
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline double2 make_double2(double x, double y) { return {x, y}; }

struct uint3 { unsigned x, y, z; };
struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
};

// Set by the scheduler before it resumes a thread's fiber.
extern uint3 threadIdx, blockIdx;
extern dim3 blockDim, gridDim;

// --- device functions -----------------------------------------------------------------------------
namespace fl_emu {
void syncthreads(const char* file, int line);  // switches to the next fiber of the block
void* dynamicShared();                          // this launch's dynamic shared memory
void syncwarp(unsigned mask, const char* file, int line);  // waits for the warp's other threads
void warpCollective(uint64_t kind);             // counts a warp-collective operation (mma.h)
unsigned laneId();                              // the running thread's lane
int ptxVersion();                               // FL_EMU_PTX_VERSION (cudaFuncGetAttributes)
inline unsigned warpMask() { return 0xffffffffu; }
inline unsigned warpMask(unsigned mask) { return mask; }
}  // namespace fl_emu
// Each call site is a barrier of its own: threads that meet at different __syncthreads() are
// reported as divergent.
#define __syncthreads() ::fl_emu::syncthreads(__FILE__, __LINE__)
// A barrier of the warp's threads (full mask only): the threads of a warp switch there too, so a
// lane that reads what another lane stored without it sees poison.
#define __syncwarp(...) ::fl_emu::syncwarp(::fl_emu::warpMask(__VA_ARGS__), __FILE__, __LINE__)

inline float __int_as_float(int v) {
  float f;
  std::memcpy(&f, &v, sizeof f);
  return f;
}
// Fibers switch only at barriers, so a read-modify-write is atomic here.
inline int atomicMax(int* address, int value) {
  const int old = *address;
  if (value > old) *address = value;
  return old;
}
inline int atomicAdd(int* address, int value) {  // the pair losses' difference array
  const int old = *address;
  *address = old + value;
  return old;
}

#define FL_EMU_MINMAX(T)                              \
  inline T min(T a, T b) { return b < a ? b : a; }    \
  inline T max(T a, T b) { return a < b ? b : a; }
FL_EMU_MINMAX(int)
FL_EMU_MINMAX(unsigned)
FL_EMU_MINMAX(long)
FL_EMU_MINMAX(unsigned long)
FL_EMU_MINMAX(long long)
FL_EMU_MINMAX(unsigned long long)
#undef FL_EMU_MINMAX
inline float min(float a, float b) { return std::fmin(a, b); }
inline float max(float a, float b) { return std::fmax(a, b); }
inline double min(double a, double b) { return std::fmin(a, b); }
inline double max(double a, double b) { return std::fmax(a, b); }

// --- runtime API ------------------------------------------------------------------------------------
enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInvalidDevicePointer = 17,
  cudaErrorInsufficientDriver = 35,
  cudaErrorNoDevice = 100,
  cudaErrorLaunchFailure = 719,
};
using cudaError = cudaError_t;

enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4,
};
enum cudaDeviceAttr { cudaDevAttrMultiProcessorCount = 16, cudaDevAttrMemoryPoolsSupported = 115 };
enum cudaMemAllocationType { cudaMemAllocationTypeInvalid = 0, cudaMemAllocationTypePinned = 1 };
enum cudaMemLocationType { cudaMemLocationTypeInvalid = 0, cudaMemLocationTypeDevice = 1 };
enum cudaMemPoolAttr { cudaMemPoolAttrReleaseThreshold = 4 };

struct CUstream_st;
struct CUevent_st;
struct CUmemPool_st;
using cudaStream_t = CUstream_st*;
using cudaEvent_t = CUevent_st*;
using cudaMemPool_t = CUmemPool_st*;
#define cudaStreamPerThread (reinterpret_cast<cudaStream_t>(0x2))
#define cudaStreamNonBlocking 0x01

struct cudaMemLocation {
  cudaMemLocationType type;
  int id;
};
struct cudaMemPoolProps {
  cudaMemAllocationType allocType;
  int handleTypes;
  cudaMemLocation location;
  void* win32SecurityAttributes;
  size_t maxSize;
  unsigned char reserved[56];
};
struct cudaDeviceProp {
  char name[256];
  size_t totalGlobalMem;
  int major, minor, multiProcessorCount;
};

cudaError_t cudaGetLastError();
cudaError_t cudaPeekAtLastError();
const char* cudaGetErrorString(cudaError_t err);
const char* cudaGetErrorName(cudaError_t err);
cudaError_t cudaGetDeviceCount(int* count);
cudaError_t cudaGetDevice(int* device);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device);
// Every kernel as compiled for the emulated device (binaryVersion 90) from compute_90 PTX, unless
// FL_EMU_PTX_VERSION names an older PTX architecture: a build whose only code for the device is
// older PTX, JIT-compiled when loaded.  Below 80 a TF32 WMMA operation is then a harness failure,
// as on a GPU such code has no tensor-core instructions (mma_tile.cuh compiles its tile empty).
struct cudaFuncAttributes {
  size_t sharedSizeBytes, constSizeBytes, localSizeBytes;
  int maxThreadsPerBlock, numRegs, ptxVersion, binaryVersion;
};
cudaError_t cudaFuncGetAttributes(cudaFuncAttributes* attributes, const void* kernel);
template <typename T>  // as cuda_runtime.h's C++ overload
cudaError_t cudaFuncGetAttributes(cudaFuncAttributes* attributes, T* kernel) {
  return cudaFuncGetAttributes(attributes, reinterpret_cast<const void*>(kernel));
}
cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device);
cudaError_t cudaDriverGetVersion(int* version);
cudaError_t cudaRuntimeGetVersion(int* version);
cudaError_t cudaMemGetInfo(size_t* freeBytes, size_t* totalBytes);

cudaError_t cudaMalloc(void** ptr, size_t bytes);
cudaError_t cudaFree(void* ptr);
template <typename T>  // as cuda_runtime.h's C++ overload
cudaError_t cudaMalloc(T** ptr, size_t bytes) {
  return cudaMalloc(reinterpret_cast<void**>(ptr), bytes);
}
cudaError_t cudaMemPoolCreate(cudaMemPool_t* pool, const cudaMemPoolProps* props);
cudaError_t cudaMemPoolDestroy(cudaMemPool_t pool);
cudaError_t cudaMemPoolSetAttribute(cudaMemPool_t pool, cudaMemPoolAttr attr, void* value);
cudaError_t cudaMallocFromPoolAsync(void** ptr, size_t bytes, cudaMemPool_t pool, cudaStream_t stream);
cudaError_t cudaFreeAsync(void* ptr, cudaStream_t stream);
cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t stream = nullptr);
cudaError_t cudaMemsetAsync(void* dst, int value, size_t bytes, cudaStream_t stream = nullptr);

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned flags);
cudaError_t cudaStreamDestroy(cudaStream_t stream);
cudaError_t cudaStreamSynchronize(cudaStream_t stream);
cudaError_t cudaEventCreate(cudaEvent_t* event);
cudaError_t cudaEventDestroy(cudaEvent_t event);
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream = nullptr);
cudaError_t cudaEventSynchronize(cudaEvent_t event);
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t stop);

// --- kernel launches ----------------------------------------------------------------------------
// FL_LAUNCH(kernel, grid, block, sharedBytes, stream)(args...) in cuda/*.cu and the checks; the
// build rewrites any k<<<g, b, s, st>>>(args) into it.  Launches run to completion before the
// call returns (every stream is synchronous here).
namespace fl_emu {

struct Body {
  virtual ~Body() = default;
  virtual void run() = 0;
};
void launchBody(Body& body, dim3 grid, dim3 block, size_t sharedBytes, cudaStream_t stream, const char* name);

template <typename Kernel>
struct Launch {
  Kernel* kernel;
  dim3 grid, block;
  size_t sharedBytes;
  cudaStream_t stream;
  const char* name;
  template <typename... Args>
  void operator()(const Args&... args) const {
    struct Call : Body {
      Kernel* kernel;
      // Copied once, as the launch copies kernel parameters; every thread calls with these.
      const std::tuple<Args...> args;
      Call(Kernel* k, const Args&... a) : kernel(k), args(a...) {}
      void run() override { std::apply(kernel, args); }
    } call(kernel, args...);
    launchBody(call, grid, block, sharedBytes, stream, name);
  }
};

template <typename Kernel>
Launch<Kernel> launch(Kernel* kernel, dim3 grid, dim3 block, size_t sharedBytes, cudaStream_t stream, const char* name) {
  return {kernel, grid, block, sharedBytes, stream, name};
}

}  // namespace fl_emu

#define FL_LAUNCH(kernel, grid, block, sharedBytes, stream) \
  ::fl_emu::launch(kernel, (grid), (block), (sharedBytes), (stream), #kernel)

// cuda/crps.cu declares its `extern __shared__` accessor only for nvcc (under #ifndef FL_LAUNCH).
inline float* dynamicSharedFloats() { return static_cast<float*>(::fl_emu::dynamicShared()); }
