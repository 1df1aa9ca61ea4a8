// The option enums the TypeScript layer sends as integer codes, each written once as an X-macro
// list X(Member, "name") in its family's *_types.h: the enum's members (in order: the codes) and
// its names (as the TypeScript option strings spell them) both come from that list, so they
// cannot drift.  The N-API glue bounds every code by enumCount<Enum>() and exports the names as
// addon.codes, which test/native-codes.test.ts holds against the codes lib/ sends.
#pragma once

#include <cstdint>

namespace fusedloss {

#define FL_ENUM_MEMBER(member, name) member,
#define FL_ENUM_NAME(member, name) name,

// EnumNames<Enum>::key is the enum's key in addon.codes, names[code] the name of each code.
template <typename Enum>
struct EnumNames;

#define FL_ENUM_NAMES(Enum, codesKey, LIST)                            \
  template <>                                                          \
  struct EnumNames<Enum> {                                             \
    static constexpr const char* key = codesKey;                       \
    static constexpr const char* names[] = {LIST(FL_ENUM_NAME)};       \
  };

template <typename Enum>
constexpr int32_t enumCount() {
  return static_cast<int32_t>(sizeof(EnumNames<Enum>::names) / sizeof(EnumNames<Enum>::names[0]));
}

// The backend a native call runs on (every family's `device` code).
#define FL_DEVICES(X) X(Cpu, "cpu") X(Cuda, "cuda")
enum class Device : int32_t { FL_DEVICES(FL_ENUM_MEMBER) };
FL_ENUM_NAMES(Device, "device", FL_DEVICES)

// The precision of the products inside the margin and pair kernels' GEMMs (every family that
// has them).  fp32: float32 operands.  tf32 / bf16: both operands of every product rounded to
// TensorFloat-32 / bfloat16 first (../math/precision_math.h), products and sums in float32.
#define FL_PRECISIONS(X) X(Float32, "fp32") X(Tf32, "tf32") X(Bf16, "bf16")
enum class Precision : int32_t { FL_PRECISIONS(FL_ENUM_MEMBER) };
FL_ENUM_NAMES(Precision, "precision", FL_PRECISIONS)

}  // namespace fusedloss
