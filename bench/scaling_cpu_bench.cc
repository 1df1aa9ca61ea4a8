// Thread scaling of the native CPU kernels: each workload is timed at every thread count this
// machine has (1 … cores), and a model predicts the counts it does not have (up to 64).
// `npm run bench:scaling` builds and runs it.
//
//   scaling_cpu_bench [--quick] [--calls] [--json FILE] [--max-threads T]
//   (--calls: one more line per workload, the serial time and every parallelFor call's chunks)
//
// The model.  For each thread count t, one traced run with the pool set to t threads records every
// parallelFor call's chunk times, all chunks run on one thread (setParallelForTrace), so the
// kernels cut the work as they would for t threads but each chunk's time is its own.  Whatever
// the run spends outside chunks is serial time S.  On t threads a call's chunks are claimed in
// order by whichever thread is free first (the pool's dynamic claiming), so its time is the
// makespan of that list schedule; the predicted time is S + Σ makespans.  Efficiency(t) = T(1) / (t · T(t)).  What the model leaves out: memory
// bandwidth (shared by all cores: a bandwidth-bound workload such as CRPS at small M stops
// earlier than predicted), caches that grow or shrink with the core count, wake-up latency.  The
// measured two-thread row next to the predicted one shows how far off it is on this machine.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <queue>
#include <random>
#include <string>
#include <vector>

#include "bench_util.h"
#include "kernels/crps.h"
#include "kernels/margin.h"
#include "kernels/pairs.h"
#include "runtime/thread_pool.h"

namespace {

using namespace fusedloss;

struct Workload {
  std::string name;
  std::function<void()> run;
};

// Traced runs at one pool size: every parallelFor call's chunk times, and the time outside chunks.
// Each chunk keeps its least time over the runs and the serial part its least: a chunk that another
// process preempted shows up in one run, not in all of them.
struct Trace {
  std::vector<std::vector<double>> calls;
  std::vector<double> serialBefore;  // time outside chunks before each call, and after the last
  double serialSeconds = 0;
};

Trace traceAt(const Workload& workload, int threads, int runs) {
  using Clock = std::chrono::steady_clock;
  setThreadCount(threads);
  workload.run();  // warm-up outside the trace
  Trace best;
  for (int r = 0; r < runs; ++r) {
    std::vector<std::vector<double>> calls;
    std::vector<double> serialBefore;
    Clock::time_point previousEnd = Clock::now();
    const ParallelForTrace record = [&](const std::vector<double>& chunkSeconds) {
      const Clock::time_point end = Clock::now();
      double chunks = 0;
      for (double seconds : chunkSeconds) chunks += seconds;
      serialBefore.push_back(std::chrono::duration<double>(end - previousEnd).count() - chunks);
      calls.push_back(chunkSeconds);
      previousEnd = end;
    };
    setParallelForTrace(&record);
    previousEnd = Clock::now();
    workload.run();
    serialBefore.push_back(std::chrono::duration<double>(Clock::now() - previousEnd).count());
    setParallelForTrace(nullptr);
    if (r == 0) {
      best.calls = calls, best.serialBefore = serialBefore;
      continue;
    }
    if (calls.size() != best.calls.size()) std::abort();  // the partition depends on the sizes and threads only
    for (size_t c = 0; c < serialBefore.size(); ++c) best.serialBefore[c] = std::min(best.serialBefore[c], serialBefore[c]);
    for (size_t c = 0; c < calls.size(); ++c)
      for (size_t k = 0; k < calls[c].size(); ++k) best.calls[c][k] = std::min(best.calls[c][k], calls[c][k]);
  }
  for (double& gap : best.serialBefore) gap = std::max(0.0, gap);
  for (double gap : best.serialBefore) best.serialSeconds += gap;
  return best;
}

// Chunks taken in order by the first free of `threads` threads.
double makespan(const std::vector<double>& chunkSeconds, int threads) {
  std::priority_queue<double, std::vector<double>, std::greater<double>> freeAt;
  for (int t = 0; t < threads; ++t) freeAt.push(0.0);
  double end = 0;
  for (double seconds : chunkSeconds) {
    const double start = freeAt.top();
    freeAt.pop();
    freeAt.push(start + seconds);
    end = std::max(end, start + seconds);
  }
  return end;
}

// Predicted time of a traced run on `threads` threads.
double predict(const Trace& trace, int threads) {
  double total = trace.serialSeconds;
  for (const auto& call : trace.calls) total += makespan(call, threads);
  return total;
}

int64_t fewestChunks(const Trace& trace) {
  int64_t fewest = trace.calls.empty() ? 0 : INT64_MAX;
  for (const auto& call : trace.calls) fewest = std::min<int64_t>(fewest, static_cast<int64_t>(call.size()));
  return fewest;
}

// ---------------------------------------------------------------- workloads

std::vector<float> normalValues(int64_t count, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  std::vector<float> values(count);
  for (float& v : values) v = normal(rng);
  return values;
}

Workload crpsWorkload(int64_t points, int members, bool gradients) {
  struct Data {
    std::vector<float> ensemble, observations, scores, gradEnsemble, gradObservations;
  };
  auto data = std::make_shared<Data>();
  data->ensemble = normalValues(points * members, 1);
  data->observations = normalValues(points, 2);
  data->scores.assign(points, 0.0f);
  data->gradEnsemble.assign(gradients ? points * members : 0, 0.0f);
  data->gradObservations.assign(gradients ? points : 0, 0.0f);
  char name[96];
  std::snprintf(name, sizeof name, "crps fair%s M=%d P=%lld", gradients ? " + grads" : "", members, (long long)points);
  return {name, [=] {
            CrpsShape shape;
            shape.outer = points, shape.members = members;
            CrpsOptions options;
            options.gradients = gradients;
            CrpsInputs inputs;
            inputs.ensemble = data->ensemble.data(), inputs.observations = data->observations.data();
            CrpsOutputs outputs;
            outputs.scores = data->scores.data();
            outputs.gradEnsemble = gradients ? data->gradEnsemble.data() : nullptr;
            outputs.gradObservations = gradients ? data->gradObservations.data() : nullptr;
            if (!crpsCpu(shape, options, inputs, outputs).ok) std::abort();
          }};
}

Workload marginWorkload(int64_t rows, int64_t dim, int64_t classes) {
  struct Data {
    std::vector<float> x, w, losses, lse, gradX, gradW;
    std::vector<int32_t> labels, predictions;
  };
  auto data = std::make_shared<Data>();
  data->x = normalValues(rows * dim, 3), data->w = normalValues(classes * dim, 4);
  data->labels.resize(rows);
  for (int64_t i = 0; i < rows; ++i) data->labels[i] = static_cast<int32_t>((i * 7919) % classes);
  data->losses.assign(rows, 0.0f), data->lse.assign(rows, 0.0f), data->predictions.assign(rows, 0);
  data->gradX.assign(rows * dim, 0.0f), data->gradW.assign(classes * dim, 0.0f);
  char name[96];
  std::snprintf(name, sizeof name, "arcface fwd+bwd N=%lld D=%lld C=%lld", (long long)rows, (long long)dim, (long long)classes);
  return {name, [=] {
            MarginSoftmaxShape shape;
            shape.rows = rows, shape.dim = dim, shape.classes = classes, shape.subCenters = 1, shape.weightRows = classes;
            MarginSoftmaxOptions options;
            MarginSoftmaxInputs inputs;
            inputs.embeddings = data->x.data(), inputs.weights = data->w.data(), inputs.targets = data->labels.data();
            MarginSoftmaxOutputs outputs;
            outputs.losses = data->losses.data(), outputs.logSumExp = data->lse.data();
            outputs.predictions = data->predictions.data();
            outputs.gradEmbeddings = data->gradX.data(), outputs.gradWeights = data->gradW.data();
            if (!marginSoftmaxCpu(shape, options, inputs, outputs).ok) std::abort();
          }};
}

// Multi-similarity mining + loss + gradients, cosine, four rows a class (the pairs bench's data).
Workload pairsWorkload(int64_t rows, int64_t refs, int64_t dim) {
  struct Data {
    std::vector<float> x, y, gradX, gradY;
    std::vector<int32_t> labels, refLabels;
  };
  auto data = std::make_shared<Data>();
  const bool self = refs == rows;
  data->x = normalValues(rows * dim, 5);
  data->labels.resize(rows);
  for (int64_t i = 0; i < rows; ++i) data->labels[i] = static_cast<int32_t>(i / 4);
  if (!self) {
    data->y = normalValues(refs * dim, 6);
    data->refLabels.resize(refs);
    for (int64_t j = 0; j < refs; ++j) data->refLabels[j] = static_cast<int32_t>((j / 4) % std::max<int64_t>(1, rows / 4));
    data->gradY.assign(refs * dim, 0.0f);
  }
  data->gradX.assign(rows * dim, 0.0f);
  char name[96];
  std::snprintf(name, sizeof name, "pairs multi-similarity N=%lld M=%lld D=%lld", (long long)rows, (long long)refs, (long long)dim);
  return {name, [=] {
            PairShape shape;
            shape.rows = rows, shape.refs = refs, shape.dim = dim;
            PairInputs inputs;
            inputs.embeddings = data->x.data(), inputs.labels = data->labels.data();
            if (!self) inputs.ref = data->y.data(), inputs.refLabels = data->refLabels.data();
            PairSimilarityOptions similarity;
            MinerOptions miner;
            miner.type = MinerType::MultiSimilarity, miner.distance = PairDistance::Cosine, miner.epsilon = 0.1;
            PairLossOptions loss;
            loss.type = PairLossType::MultiSimilarity, loss.distance = PairDistance::Cosine;
            PairLossOutputs outputs;
            outputs.gradEmbeddings = data->gradX.data();
            outputs.gradRef = self ? nullptr : data->gradY.data();
            if (!pairLossCpu(shape, similarity, miner, loss, inputs, outputs).ok) std::abort();
          }};
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false, listCalls = false;
  std::string jsonPath;
  int maxThreads = availableCores();
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--quick") quick = true;
    else if (arg == "--calls") listCalls = true;
    else if (arg == "--json" && i + 1 < argc) jsonPath = argv[++i];
    else if (arg == "--max-threads" && i + 1 < argc) maxThreads = std::max(1, std::atoi(argv[++i]));
    else {
      std::fprintf(stderr, "usage: scaling_cpu_bench [--quick] [--calls] [--json FILE] [--max-threads T]\n");
      return 2;
    }
  }
  const int runs = quick ? 3 : 5;
  const int64_t scale = quick ? 4 : 1;
  std::vector<Workload> workloads = {
      crpsWorkload(200000 / scale, 51, true),
      crpsWorkload(1000000 / scale, 4, false),
      marginWorkload(256 / scale, 512, 50000 / scale),
      marginWorkload(128, 128, 1000),
      pairsWorkload(1024 / scale, 1024 / scale, 128),
      pairsWorkload(512 / scale, 65536 / scale, 128),
  };
  const std::vector<int> modelThreads = {1, 2, 4, 8, 16, 32, 64};

  std::printf("Thread scaling, native CPU kernels (%d cores here; measured up to %d threads, modelled to 64)\n\n",
              availableCores(), maxThreads);
  std::printf("| workload | 1 thread ms | measured efficiency");
  for (int t = 2; t <= maxThreads; ++t) std::printf(" %dt", t);
  std::printf(" | model efficiency");
  for (int t : modelThreads) std::printf(" %dt", t);
  std::printf(" | serial share | fewest chunks a call | model stops at (eff < 0.8) |\n|:--|--:|:--|:--|--:|--:|--:|\n");

  std::string json = "{\n  \"cores\": " + std::to_string(availableCores()) + ",\n  \"workloads\": [";
  for (size_t w = 0; w < workloads.size(); ++w) {
    const Workload& workload = workloads[w];
    std::vector<double> measured;
    for (int t = 1; t <= maxThreads; ++t) {
      setThreadCount(t);
      workload.run();
      measured.push_back(benchutil::medianSeconds(workload.run, runs));
    }
    const Trace one = traceAt(workload, 1, runs);
    const double modelOne = predict(one, 1);
    std::printf("| %s | %.2f |", workload.name.c_str(), measured[0] * 1e3);
    for (int t = 2; t <= maxThreads; ++t) std::printf(" %.2f", measured[0] / (t * measured[t - 1]));
    std::printf(" |");
    int stopsAt = 0;
    std::string modelJson;
    for (int t : modelThreads) {
      const Trace trace = t == 1 ? one : traceAt(workload, t, runs);
      const double efficiency = modelOne / (t * predict(trace, t));
      std::printf(" %.2f", efficiency);
      if (efficiency >= 0.8) stopsAt = t;
      modelJson += (modelJson.empty() ? "" : ", ") + std::string("\"") + std::to_string(t) + "\": " + std::to_string(efficiency);
    }
    const double serialShare = one.serialSeconds / std::max(1e-12, modelOne);
    std::printf(" | %.3f | %lld | %s |\n", serialShare, (long long)fewestChunks(one),
                stopsAt >= modelThreads.back() ? "> 64" : std::to_string(stopsAt * 2).c_str());
    if (listCalls) {  // where the single thread's time goes: the serial part and each call's chunks
      std::printf("|   serial %.3f ms in all:", one.serialSeconds * 1e3);
      for (size_t c = 0; c < one.calls.size(); ++c) {
        double sum = 0, longest = 0;
        for (double seconds : one.calls[c]) sum += seconds, longest = std::max(longest, seconds);
        std::printf(" serial %.3f ms, %zu chunks %.3f ms (longest %.3f);", one.serialBefore[c] * 1e3, one.calls[c].size(), sum * 1e3,
                    longest * 1e3);
      }
      std::printf(" serial %.3f ms |\n", one.serialBefore.back() * 1e3);
    }
    std::string measuredJson;
    for (size_t t = 0; t < measured.size(); ++t) measuredJson += (t ? ", " : "") + std::to_string(measured[t]);
    json += std::string(w ? "," : "") + "\n    {\"name\": \"" + workload.name + "\", \"seconds\": [" + measuredJson +
            "], \"modelEfficiency\": {" + modelJson + "}, \"serialShare\": " + std::to_string(serialShare) +
            ", \"parallelForCalls\": " + std::to_string(one.calls.size()) + ", \"fewestChunks\": " +
            std::to_string(fewestChunks(one)) + "}";
  }
  json += "\n  ]\n}\n";
  if (!jsonPath.empty()) {
    if (FILE* file = std::fopen(jsonPath.c_str(), "w")) {
      std::fputs(json.c_str(), file);
      std::fclose(file);
      std::printf("\nJSON: %s\n", jsonPath.c_str());
    } else {
      std::fprintf(stderr, "cannot write %s\n", jsonPath.c_str());
    }
  }
  return 0;
}
