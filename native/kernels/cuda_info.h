// What the CUDA plug-in can do on this machine.  Probed lazily: nothing touches the driver until
// the first call, and a machine without a driver gets available = false with the reason.
#pragma once

#include <string>
#include <vector>

namespace fusedloss {

struct CudaDevice {
  int index = 0;
  std::string name;
  int computeMajor = 0;
  int computeMinor = 0;
  size_t totalMemory = 0;
};

struct CudaInfo {
  bool built = false;      // compiled with CUDA
  bool available = false;  // built and at least one usable device
  std::string reason;      // why not available (empty when available)
  std::vector<CudaDevice> devices;
};

// Cached after the first call; safe from any thread.
const CudaInfo& cudaInfo();

}  // namespace fusedloss
