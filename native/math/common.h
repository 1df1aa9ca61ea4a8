// Shared by the CPU kernels (g++) and the CUDA kernels (nvcc): marks per-element math as
// callable from both sides so the CPU tests exercise the exact arithmetic the GPU runs.
#pragma once

#if defined(__CUDACC__)
#define FL_HD __host__ __device__ __forceinline__
#else
#define FL_HD inline
#endif
