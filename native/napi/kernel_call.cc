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

const int32_t* KernelCall::adopt(const Int32View& view, bool copy) {
  if (!view.data || !copy) return view.data;
  ownedInts_.emplace_back(view.data, view.data + view.length);
  return ownedInts_.back().data();
}

float* KernelCall::newFloatOutput(Napi::Env env, const char* name, size_t length) {
  Napi::Float32Array array = newOutputArray(env, length);
  outputs_.push_back(Napi::Persistent(array.As<Napi::Object>()));
  names_.push_back(name);
  return array.Data();
}

int32_t* KernelCall::newInt32Output(Napi::Env env, const char* name, size_t length) {
  Napi::Int32Array array = Napi::Int32Array::New(env, length);
  outputs_.push_back(Napi::Persistent(array.As<Napi::Object>()));
  names_.push_back(name);
  return array.Data();
}

Napi::Object KernelCall::result(Napi::Env env) {
  Napi::Object result = Napi::Object::New(env);
  for (size_t i = 0; i < outputs_.size(); ++i) result.Set(names_[i], outputs_[i].Value());
  addScalars(env, result);
  return result;
}

Napi::Error statusError(Napi::Env env, const KernelStatus& status) {
  return codedError(env, status.outOfMemory ? kTooLarge : kBackend, status.message);
}

Napi::Value runSync(Napi::Env env, std::unique_ptr<KernelCall> call) {
  const KernelStatus status = call->run();
  if (!status.ok) throw statusError(env, status);
  return call->result(env);
}

namespace {

class KernelWorker : public Napi::AsyncWorker {
 public:
  KernelWorker(Napi::Env env, std::unique_ptr<KernelCall> call, const char* resourceName)
      : Napi::AsyncWorker(env, resourceName), call_(std::move(call)), deferred_(Napi::Promise::Deferred::New(env)) {}

  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      status_ = call_->run();
    } catch (const std::bad_alloc&) {
      status_ = KernelStatus::memoryFailure("not enough memory for the kernel's work buffers");
    } catch (const std::exception& error) {
      status_ = KernelStatus::failure(error.what());
    }
  }

  void OnOK() override {
    if (status_.ok) {
      deferred_.Resolve(call_->result(Env()));
    } else {
      deferred_.Reject(statusError(Env(), status_).Value());
    }
  }

 private:
  std::unique_ptr<KernelCall> call_;
  Napi::Promise::Deferred deferred_;
  KernelStatus status_;
};

}  // namespace

Napi::Value runAsync(Napi::Env env, std::unique_ptr<KernelCall> call, const char* resourceName) {
  auto* worker = new KernelWorker(env, std::move(call), resourceName);
  Napi::Promise promise = worker->promise();
  worker->Queue();
  return promise;
}

}  // namespace napi
}  // namespace fusedloss
