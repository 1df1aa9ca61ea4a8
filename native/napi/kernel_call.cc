#include "kernel_call.h"

#include <algorithm>

namespace fusedloss {
namespace napi {

const float* KernelCall::adopt(const FloatView& view, bool copy) {
  if (!view.data || !copy) return view.data;
  ownedFloats_.emplace_back(view.length);
  std::copy(view.data, view.data + view.length, ownedFloats_.back().data());
  return ownedFloats_.back().data();
}

void KernelCall::readOut(const CallArgs& args, const std::vector<const char*>& names) {
  Napi::Value out = args.get("out");
  if (out.IsUndefined() || out.IsNull()) return;
  if (!out.IsObject()) throw codedError(args.Env(), kInvalidArg, "out must be an object");
  const CallArgs values(out.As<Napi::Object>(), names);
  for (const char* name : names) out_.emplace_back(name, values.get(name));
}

namespace {

bool isDetached(Napi::Env env, const Napi::TypedArray& array) {
  bool detached = false;
  return napi_is_detached_arraybuffer(env, array.ArrayBuffer(), &detached) != napi_ok || detached;
}

}  // namespace

// The caller's array for output `name`, or an empty TypedArray when `out` does not name it.
// Memory safety only (TypeScript words the user-facing rules): a typed array of the type and
// exact length, attached.
Napi::TypedArray KernelCall::callerOutput(Napi::Env env, const char* name, napi_typedarray_type type, const char* typeName, size_t length) {
  Napi::Value value;
  for (const auto& [key, read] : out_) {
    if (key == name) value = read;
  }
  if (value.IsEmpty() || value.IsUndefined() || value.IsNull()) return Napi::TypedArray();
  const std::string label = std::string("out.") + name;
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != type) {
    throw codedError(env, kInvalidArg, label + " must be a " + typeName);
  }
  Napi::TypedArray array = value.As<Napi::TypedArray>();
  if (isDetached(env, array)) throw codedError(env, kInvalidArg, label + " is backed by a detached ArrayBuffer");
  if (array.ElementLength() != length) {
    throw codedError(env, kShape, label + " has " + std::to_string(array.ElementLength()) + " elements, expected " + std::to_string(length));
  }
  return array;
}

void KernelCall::keepOutput(const Napi::TypedArray& array, const char* name, bool callerOwned) {
  outputs_.push_back(Napi::Persistent(array.As<Napi::Object>()));
  names_.push_back(name);
  callerOwned_.push_back(callerOwned);
}

float* KernelCall::newFloatOutput(Napi::Env env, const char* name, size_t length) {
  Napi::TypedArray given = callerOutput(env, name, napi_float32_array, "Float32Array", length);
  Napi::Float32Array array = given.IsEmpty() ? newOutputArray(env, length) : given.As<Napi::Float32Array>();
  keepOutput(array, name, !given.IsEmpty());
  return array.Data();
}

int32_t* KernelCall::newInt32Output(Napi::Env env, const char* name, size_t length) {
  Napi::TypedArray given = callerOutput(env, name, napi_int32_array, "Int32Array", length);
  Napi::Int32Array array = given.IsEmpty() ? Napi::Int32Array::New(env, length) : given.As<Napi::Int32Array>();
  keepOutput(array, name, !given.IsEmpty());
  return array.Data();
}

Napi::Object KernelCall::result(Napi::Env env) {
  Napi::Object result = Napi::Object::New(env);
  for (size_t i = 0; i < outputs_.size(); ++i) {
    Napi::Value array = outputs_[i].Value();
    if (callerOwned_[i] && isDetached(env, array.As<Napi::TypedArray>())) {
      throw codedError(env, kInvalidArg, std::string("out.") + names_[i] +
                                             " was detached while the call ran; an async call's outputs must not be transferred before it settles");
    }
    result.Set(names_[i], array);
  }
  addScalars(env, result);
  return result;
}

Napi::Error statusError(Napi::Env env, const KernelStatus& status) {
  switch (status.kind) {
    case StatusKind::Option:
      return codedError(env, kOption, status.message);
    case StatusKind::Shape:
      return codedError(env, kShape, status.message);
    case StatusKind::Label:
      return codedError(env, kLabel, status.message);
    case StatusKind::OutOfMemory:
      return codedError(env, kTooLarge, status.message);
    default:
      return codedError(env, kBackend, status.message);
  }
}

Napi::Value runSync(Napi::Env env, std::unique_ptr<KernelCall> call) {
  const KernelStatus status = call->run();
  if (!status.ok) throw statusError(env, status);
  return call->result(env);
}

namespace {

// One async call, from runAsync until its completion callback.  Raw Node-API rather than
// Napi::AsyncWorker: when a worker_thread ends, Node lets the queued work finish and then runs
// the completion in an environment that can no longer run JavaScript.  Every call that needs
// JavaScript fails there; AsyncWorker turned that into a C++ exception it could not rethrow,
// and the process aborted.  Here nothing escapes the completion, and a Promise that can no
// longer be settled is left alone (nobody is left to observe it).
struct AsyncCall {
  std::unique_ptr<KernelCall> call;
  napi_deferred deferred = nullptr;
  napi_async_work work = nullptr;
  KernelStatus status;
};

// On a libuv worker.  The call owns its input copies and holds references to its outputs, so
// nothing it touches belongs to the JavaScript side until the completion frees it.
void executeCall(napi_env, void* data) {
  auto* async = static_cast<AsyncCall*>(data);
  try {
    async->status = async->call->run();
  } catch (const std::bad_alloc&) {
    async->status = KernelStatus::memoryFailure("not enough memory for the kernel's work buffers");
  } catch (const std::exception& error) {
    async->status = KernelStatus::failure(error.what());
  } catch (...) {
    async->status = KernelStatus::failure("the kernel failed with an unknown exception");
  }
}

// The result object, or the error to reject with; nullptr when not even an error could be made
// (only in an environment that is going away).  Never throws.
napi_value outcomeOf(napi_env env, AsyncCall& async, bool& resolve) {
  resolve = false;
  try {
    if (async.status.ok) {
      napi_value result = async.call->result(env);
      resolve = true;
      return result;
    }
    return statusError(env, async.status).Value();
  } catch (const Napi::Error& error) {
    try {
      return error.Value();
    } catch (...) {
      return nullptr;
    }
  } catch (const std::bad_alloc&) {
    try {
      return codedError(env, kTooLarge, "not enough memory for the async call's result").Value();
    } catch (...) {
      return nullptr;
    }
  } catch (...) {
    return nullptr;
  }
}

// On the JavaScript thread, once per call, whatever state the environment is in.
void completeCall(napi_env env, napi_status workStatus, void* data) {
  std::unique_ptr<AsyncCall> async(static_cast<AsyncCall*>(data));
  napi_delete_async_work(env, async->work);
  if (workStatus != napi_ok) return;  // cancelled: the environment is going away
  bool resolve = false;
  napi_value outcome = outcomeOf(env, *async, resolve);
  if (!outcome) return;
  // Fails only when the environment can no longer run JavaScript; then nothing awaits the Promise.
  if (resolve) {
    napi_resolve_deferred(env, async->deferred, outcome);
  } else {
    napi_reject_deferred(env, async->deferred, outcome);
  }
}

}  // namespace

Napi::Value runAsync(Napi::Env env, std::unique_ptr<KernelCall> call, const char* resourceName) {
  auto async = std::make_unique<AsyncCall>();
  async->call = std::move(call);
  napi_value promise = nullptr;
  NAPI_THROW_IF_FAILED(env, napi_create_promise(env, &async->deferred, &promise), Napi::Value());
  napi_value name = Napi::String::New(env, resourceName);
  napi_status status = napi_create_async_work(env, nullptr, name, executeCall, completeCall, async.get(), &async->work);
  if (status == napi_ok) {
    status = napi_queue_async_work(env, async->work);
    if (status == napi_ok) {
      async.release();  // owned by the queued work until completeCall
      return Napi::Value(env, promise);
    }
    napi_delete_async_work(env, async->work);
  }
  // Async entry points report failures through their Promise, never by throwing.
  napi_reject_deferred(env, async->deferred, codedError(env, kBackend, std::string(resourceName) + ": could not queue the call on the libuv pool").Value());
  return Napi::Value(env, promise);
}

}  // namespace napi
}  // namespace fusedloss
