// Kernel-only throughput of the native CPU CRPS (no Node, outputs allocated once and reused),
// beside a memcpy baseline measured in the same process.  `npm run bench:kernel` builds and runs
// it; `npm run bench` measures the same through the JavaScript API (fresh outputs every call).
//
//   crps_cpu_bench [points=1000000] [threads=all]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "bench_util.h"
#include "kernels/crps.h"
#include "runtime/simd.h"
#include "runtime/thread_pool.h"

namespace {

// Median of `runs` timed calls after one warm-up call (which faults the outputs in), in ms.
template <typename Fn>
double medianMilliseconds(Fn&& fn, int runs) {
  fn();
  return 1e3 * benchutil::medianSeconds(fn, runs);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace fusedloss;
  const int64_t points = argc > 1 ? std::atoll(argv[1]) : 1000000;
  if (argc > 2) setThreadCount(std::atoi(argv[2]));
  std::printf("fusedloss CRPS CPU kernel: P = %lld, fair, member axis last, simd %s, %d threads\n",
              static_cast<long long>(points), simdLevelName(simdLevel()), threadCount());

  std::vector<float> source(points * 16, 1.0f), target(points * 16);
  const double copyMs = medianMilliseconds([&] { std::memcpy(target.data(), source.data(), source.size() * 4); }, 9);
  const double copyGBs = 2.0 * source.size() * 4 / copyMs / 1e6;
  std::printf("memcpy (1 thread, read + write): %.2f GB/s\n\n", copyGBs);
  std::printf("|  M | gradients |     ms | Mpts/s |  GB/s | of memcpy |\n|---:|---:|---:|---:|---:|---:|\n");

  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  for (int members : {2, 4, 16, 51}) {
    std::vector<float> ensemble(points * members), observations(points);
    for (float& v : ensemble) v = normal(rng);
    for (float& v : observations) v = normal(rng);
    std::vector<float> scores(points), gradEnsemble(points * members), gradObservations(points);
    for (bool gradients : {false, true}) {
      CrpsShape shape;
      shape.outer = points;
      shape.members = members;
      CrpsOptions options;
      options.alpha = 1.0;
      options.gradients = gradients;
      CrpsInputs inputs;
      inputs.ensemble = ensemble.data();
      inputs.observations = observations.data();
      CrpsOutputs outputs;
      outputs.scores = scores.data();
      outputs.gradEnsemble = gradEnsemble.data();
      outputs.gradObservations = gradObservations.data();
      const double ms = medianMilliseconds([&] { crpsCpu(shape, options, inputs, outputs); }, 9);
      const double bytes = 4.0 * (points * members + 2.0 * points + (gradients ? points * members + points : 0));
      std::printf("| %2d | %s | %6.2f | %6.1f | %5.2f | %9.2f |\n", members, gradients ? "yes" : " no", ms,
                  points / ms / 1e3, bytes / ms / 1e6, bytes / ms / 1e6 / copyGBs);
    }
  }
  return 0;
}
