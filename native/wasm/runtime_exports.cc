// The entry points every kernel shares: the last failure's message of the calling thread
// (wasm_call.h), and the allocator the JavaScript executor places a call's arrays with.
#include <cstdlib>
#include <string>

#include "wasm_call.h"

namespace fusedloss {
namespace wasm {

// Per thread: in the threaded build (async_exports.cc) the calling thread and the async service
// thread run entry points at the same time.
std::string& lastError() {
  thread_local std::string message;
  return message;
}

}  // namespace wasm
}  // namespace fusedloss

extern "C" {

const char* fl_error_message() { return fusedloss::wasm::lastError().c_str(); }
int32_t fl_error_length() { return static_cast<int32_t>(fusedloss::wasm::lastError().size()); }

// malloc and free under the executor's names (null when memory cannot grow to the size).
void* fl_alloc(double bytes) {
  if (!(bytes >= 0.0 && bytes <= 4294967295.0)) return nullptr;
  return std::malloc(static_cast<size_t>(bytes) == 0 ? 1 : static_cast<size_t>(bytes));
}
void fl_free(void* pointer) { std::free(pointer); }

}  // extern "C"
