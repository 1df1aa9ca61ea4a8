#include "args.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "../runtime/memory.h"

namespace fusedloss {
namespace napi {

Napi::Error codedError(Napi::Env env, const char* code, const std::string& message) {
  const std::string text(code);
  Napi::Error error = text == kInvalidArg ? Napi::Error(Napi::TypeError::New(env, message))
                      : text == kBackend  ? Napi::Error::New(env, message)
                                          : Napi::Error(Napi::RangeError::New(env, message));
  error.Set("code", Napi::String::New(env, code));
  return error;
}

CallArgs::CallArgs(const Napi::Object& args, const std::vector<const char*>& names) : env_(args.Env()) {
  values_.reserve(names.size());
  for (const char* name : names) {
    // One [[GetOwnProperty]] probe and one [[Get]] per name; an exception from the caller's
    // getter or Proxy trap propagates as it is.
    values_.emplace_back(name, args.HasOwnProperty(name) ? args.Get(name) : env_.Undefined());
  }
}

Napi::Value CallArgs::get(const char* name) const {
  for (const auto& [key, value] : values_) {
    if (key == name) return value;
  }
  throw codedError(env_, kBackend, std::string("internal: argument ") + name + " was not read with the call");
}

namespace {

// The typed array property `name` of type `type` and length `expectedLength`, or an empty
// TypedArray when optional and absent.  Throws the spec's codes otherwise.  Runs no JavaScript.
Napi::TypedArray typedArrayArg(const CallArgs& args, const char* name, napi_typedarray_type type, const char* typeName,
                               size_t expectedLength, bool optional) {
  Napi::Env env = args.Env();
  Napi::Value value = args.get(name);
  if (value.IsUndefined() || value.IsNull()) {
    if (optional) return Napi::TypedArray();
    throw codedError(env, kInvalidArg, std::string(name) + " is required");
  }
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != type) {
    throw codedError(env, kInvalidArg, std::string(name) + " must be a " + typeName);
  }
  Napi::TypedArray array = value.As<Napi::TypedArray>();
  bool detached = false;
  if (napi_is_detached_arraybuffer(env, array.ArrayBuffer(), &detached) != napi_ok || detached) {
    throw codedError(env, kInvalidArg, std::string(name) + " is backed by a detached ArrayBuffer");
  }
  if (array.ElementLength() != expectedLength) {
    throw codedError(env, kShape, std::string(name) + " has " + std::to_string(array.ElementLength()) +
                                      " elements, expected " + std::to_string(expectedLength));
  }
  return array;
}

// napi_is_arraybuffer is false for a SharedArrayBuffer.
bool isShared(Napi::Env env, const Napi::TypedArray& array) {
  bool plain = false;
  return napi_is_arraybuffer(env, array.ArrayBuffer(), &plain) == napi_ok && !plain;
}

}  // namespace

FloatView floatArrayArg(const CallArgs& args, const char* name, size_t expectedLength, bool optional) {
  FloatView view;
  Napi::TypedArray array = typedArrayArg(args, name, napi_float32_array, "Float32Array", expectedLength, optional);
  if (array.IsEmpty()) return view;
  view.array = array.As<Napi::Float32Array>();
  view.data = view.array.Data();
  view.length = view.array.ElementLength();
  view.shared = isShared(args.Env(), array);
  return view;
}

Int32Copy int32ArrayArg(const CallArgs& args, const char* name, size_t expectedLength, bool optional) {
  Int32Copy copy;
  Napi::TypedArray array = typedArrayArg(args, name, napi_int32_array, "Int32Array", expectedLength, optional);
  if (array.IsEmpty()) return copy;
  Napi::Int32Array ints = array.As<Napi::Int32Array>();
  copy.present = true;
  copy.values.assign(ints.Data(), ints.Data() + ints.ElementLength());
  return copy;
}

double numberArg(const CallArgs& args, const char* name) {
  Napi::Value value = args.get(name);
  if (!value.IsNumber()) throw codedError(args.Env(), kInvalidArg, std::string(name) + " must be a number");
  return value.As<Napi::Number>().DoubleValue();
}

int64_t positiveIntArg(const CallArgs& args, const char* name) {
  const double v = numberArg(args, name);
  if (!(v >= 1.0 && v <= 9007199254740992.0) || std::floor(v) != v) {
    throw codedError(args.Env(), kShape, std::string(name) + " must be a positive integer, got " + std::to_string(v));
  }
  return static_cast<int64_t>(v);
}

bool boolArg(const CallArgs& args, const char* name) {
  Napi::Value value = args.get(name);
  if (value.IsUndefined()) return false;
  if (!value.IsBoolean()) throw codedError(args.Env(), kInvalidArg, std::string(name) + " must be a boolean");
  return value.As<Napi::Boolean>().Value();
}

int32_t enumCodeArg(const CallArgs& args, const char* name, int32_t count) {
  const double v = numberArg(args, name);
  if (!(v >= 0 && v < count) || std::floor(v) != v) {
    throw codedError(args.Env(), kOption, std::string(name) + " is not a known value");
  }
  return static_cast<int32_t>(v);
}

bool isPresent(const CallArgs& args, const char* name) {
  Napi::Value value = args.get(name);
  return !value.IsUndefined() && !value.IsNull();
}

namespace {

constexpr size_t kExternalFrom = size_t{2} << 20;  // bytes: below this V8's allocator is as good

// Drops the exception a refused napi_create_external_arraybuffer may leave pending, so the
// caller's fallback allocation can proceed.
void clearPendingException(napi_env env) {
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
    napi_value ignored;
    napi_get_and_clear_last_exception(env, &ignored);
  }
}

}  // namespace

Napi::Float32Array newOutputArray(Napi::Env env, size_t length) {
  const size_t bytes = length * sizeof(float);
  if (bytes >= kExternalFrom) {
    auto* buffer = new FloatBuffer(length);
    napi_value arrayBuffer = nullptr;
    const napi_status status = napi_create_external_arraybuffer(
        env, buffer->data(), bytes,
        [](napi_env finalizeEnv, void*, void* hint) {
          auto* owned = static_cast<FloatBuffer*>(hint);
          int64_t ignored = 0;
          napi_adjust_external_memory(finalizeEnv, -static_cast<int64_t>(owned->size() * sizeof(float)), &ignored);
          delete owned;
        },
        buffer, &arrayBuffer);
    if (status == napi_ok) {
      // Tell the GC what these buffers hold, so dropped outputs are collected (and their memory
      // recycled) at the pace they are produced.
      int64_t ignored = 0;
      napi_adjust_external_memory(env, static_cast<int64_t>(bytes), &ignored);
      return Napi::Float32Array::New(env, length, Napi::ArrayBuffer(env, arrayBuffer), 0);
    }
    delete buffer;  // external buffers not allowed here: fall through
    clearPendingException(env);
  }
  return Napi::Float32Array::New(env, length);
}

Napi::Int32Array int32ArrayFromVector(Napi::Env env, std::vector<int32_t>&& values) {
  const size_t length = values.size();
  const size_t bytes = length * sizeof(int32_t);
  if (bytes >= kExternalFrom) {
    auto* owned = new std::vector<int32_t>(std::move(values));
    napi_value arrayBuffer = nullptr;
    const napi_status status = napi_create_external_arraybuffer(
        env, owned->data(), bytes,
        [](napi_env finalizeEnv, void*, void* hint) {
          auto* vector = static_cast<std::vector<int32_t>*>(hint);
          int64_t ignored = 0;
          napi_adjust_external_memory(finalizeEnv, -static_cast<int64_t>(vector->size() * sizeof(int32_t)), &ignored);
          delete vector;
        },
        owned, &arrayBuffer);
    if (status == napi_ok) {
      int64_t ignored = 0;
      napi_adjust_external_memory(env, static_cast<int64_t>(bytes), &ignored);
      return Napi::Int32Array::New(env, length, Napi::ArrayBuffer(env, arrayBuffer), 0);
    }
    values = std::move(*owned);  // external buffers not allowed here: copy below
    delete owned;
    clearPendingException(env);
  }
  Napi::Int32Array array = Napi::Int32Array::New(env, length);
  std::copy(values.begin(), values.end(), array.Data());
  return array;
}

size_t checkedProduct(Napi::Env env, const char* what, int64_t a, int64_t b, int64_t c) {
  // Elements are float32 and must be addressable as bytes too.
  const uint64_t limit = std::numeric_limits<size_t>::max() / sizeof(float);
  uint64_t product = static_cast<uint64_t>(a);
  for (int64_t factor : {b, c}) {
    if (product > limit / static_cast<uint64_t>(factor)) {
      throw codedError(env, kTooLarge, std::string(what) + " is too large to address");
    }
    product *= static_cast<uint64_t>(factor);
  }
  return static_cast<size_t>(product);
}

}  // namespace napi
}  // namespace fusedloss
