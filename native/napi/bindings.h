// One register function per kernel family; addon.cc calls them all.
#pragma once

#include <napi.h>

namespace fusedloss {
namespace napi {

void registerCrps(Napi::Env env, Napi::Object exports);
void registerMargin(Napi::Env env, Napi::Object exports);
void registerPairs(Napi::Env env, Napi::Object exports);

}  // namespace napi
}  // namespace fusedloss
