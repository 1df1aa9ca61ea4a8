// Timings of pairs_check.cu (included by it, inside its anonymous namespace, after the checks):
// mineCudaDevice and pairLossCudaDevice on device inputs, three workloads, with the 2-core CPU
// figure of docs/performance-pairs.md beside the rows it has and the ratio (issue 13's target: ≥ 20× at
// N = M = 4096 and 512 × 65,536, D = 128, on an H100-class GPU).  GPU runs only (npm run test:gpu).

struct BenchCase {
  int64_t rows, refs, dim;  // refs > rows: a memory bank (ref) of that many rows
  // multi-similarity miner + loss + gradients (cosine), batch-hard mining (euclidean), all-triplets
  // margin loss + gradients (euclidean).
  enum Workload { MultiSimilarity, BatchHard, TripletAll } workload;
};

// The native CPU backend's seconds for the same workload and shape (docs/performance-pairs.md, "Pair
// mining and pair losses, CPU": 2 vCPUs of an AMD EPYC Zen 5, 2 threads, 4 rows per class), or 0.
double cpuSeconds(const BenchCase& c) {
  struct Row {
    int64_t rows, refs, dim;
    double seconds[3];  // multi-similarity, batch-hard, all triplets
  };
  static const Row kRows[] = {{4096, 4096, 128, {0.319, 0.054, 0.335}},
                              {512, 65536, 128, {0.490, 0.188, 1.249}},
                              {4096, 4096, 512, {0.462, 0.094, 0.479}},
                              {512, 65536, 512, {1.088, 0.390, 1.740}}};
  for (const Row& r : kRows) {
    if (r.rows == c.rows && r.refs == c.refs && r.dim == c.dim) return r.seconds[c.workload];
  }
  return 0.0;
}

// Times one workload on device inputs: the whole call (allocation from the pool, every kernel, the
// host-side scan or loss sum, mined arrays copied back).  Labels as the CPU figures' run: 4 rows
// per class for the batch against itself, 512 per class in a memory bank (the vectors are random,
// not clustered: the miners keep other shares of the pairs than there).
bool benchOne(cudaStream_t stream, const BenchCase& c, int runs) {
  const int64_t N = c.rows, M = c.refs, D = c.dim;
  const bool ref = M != N;
  PairShape shape;
  shape.rows = N, shape.refs = M, shape.dim = D;
  std::vector<int32_t> labels(N), refLabels(ref ? M : 0);
  const int32_t classes = static_cast<int32_t>(std::max<int64_t>(2, ref ? M / 512 : M / 4));
  uint64_t state = 5;
  auto draw = [&state, classes] {
    return static_cast<int32_t>((state = state * 6364136223846793005ULL + 1442695040888963407ULL) >> 33) % classes;
  };
  for (int32_t& l : labels) l = draw();
  for (int32_t& l : refLabels) l = draw();
  check::DeviceArrays arrays;
  float* embeddings = arrays.allocate<float>(N * D);
  int32_t* labelsOnDevice = arrays.allocate<int32_t>(N);
  float* gradEmbeddings = arrays.allocate<float>(N * D);
  float* refRows = ref ? arrays.allocate<float>(M * D) : nullptr;
  int32_t* refLabelsOnDevice = ref ? arrays.allocate<int32_t>(M) : nullptr;
  float* gradRef = ref ? arrays.allocate<float>(M * D) : nullptr;
  if (!embeddings || !labelsOnDevice || !gradEmbeddings || (ref && (!refRows || !refLabelsOnDevice || !gradRef))) {
    return std::printf("FAIL bench pairs: cudaMalloc\n"), false;
  }
  if (ref) {
    FL_LAUNCH(check::fillKernel, 4096, 256, 0, stream)(refRows, M * D, 22, 1.0f);
    CHECK_CUDA(cudaMemcpyAsync(refLabelsOnDevice, refLabels.data(), 4 * M, cudaMemcpyHostToDevice, stream));
  }
  FL_LAUNCH(check::fillKernel, 1024, 256, 0, stream)(embeddings, N * D, 21, 1.0f);
  CHECK_CUDA(cudaMemcpyAsync(labelsOnDevice, labels.data(), 4 * N, cudaMemcpyHostToDevice, stream));
  PairInputs in;
  in.embeddings = embeddings, in.labels = labelsOnDevice, in.ref = refRows, in.refLabels = refLabelsOnDevice;
  PairSimilarityOptions similarity;
  MinerOptions miner;
  PairLossOptions loss;
  const char* name = "ms miner+loss+grad";
  if (c.workload == BenchCase::MultiSimilarity) {
    miner.type = MinerType::MultiSimilarity, miner.distance = PairDistance::Cosine;
    loss.type = PairLossType::MultiSimilarity, loss.distance = PairDistance::Cosine;
  } else if (c.workload == BenchCase::BatchHard) {
    name = "batch-hard mine";
    miner.type = MinerType::BatchHard, miner.distance = PairDistance::Euclidean;
  } else {
    name = "triplet all+grad";
    loss.type = PairLossType::TripletMargin, loss.distance = PairDistance::Euclidean;
  }
  const bool mining = c.workload == BenchCase::BatchHard;
  size_t outputs = 0;
  double value = 0.0, ms = 0.0;
  const bool ok = check::medianMs(stream, 1, runs, [&] {
    KernelStatus status;
    if (mining) {
      MineOutputs mined;
      status = mineCudaDevice(shape, similarity, miner, int64_t{1} << 26, in, mined, stream);
      outputs = mined.triplets.anchors.size();
    } else {
      PairLossOutputs out;
      out.gradEmbeddings = gradEmbeddings, out.gradRef = gradRef;
      status = pairLossCudaDevice(shape, similarity, miner, loss, in, out, stream);
      value = out.loss;
    }
    if (!status.ok) std::printf("FAIL bench pairs: %s\n", status.message.c_str());
    return status.ok;
  }, ms);
  if (!ok) return false;
  const double extra = static_cast<double>(pairCudaScratchBytes(shape, similarity, miner, mining ? nullptr : &loss, ref));
  char result[64];
  if (mining) std::snprintf(result, sizeof result, "%zu triplets", outputs);
  else std::snprintf(result, sizeof result, "loss %.6g", value);
  char versusCpu[64] = "—";
  const double cpu = cpuSeconds(c);
  if (cpu > 0.0) std::snprintf(versusCpu, sizeof versusCpu, "%8.1f %6.1fx%s", 1e3 * cpu, 1e3 * cpu / ms, 1e3 * cpu / ms >= 20.0 ? "" : " <20x");
  std::printf("%6lld %6lld %4lld %-20s %10.3f %10.1f %10.1f %-22s %s\n", static_cast<long long>(N), static_cast<long long>(M),
              static_cast<long long>(D), name, ms, extra / 1048576.0, 4.0 * N * M / 1048576.0, versusCpu, result);
  return true;
}

bool runBench(cudaStream_t stream, bool quick) {
  struct Size {
    int64_t rows, refs;
  };
  const std::vector<Size> sizes = quick ? std::vector<Size>{{1024, 1024}} : std::vector<Size>{{1024, 1024}, {4096, 4096}, {512, 65536}};
  std::vector<BenchCase> cases;
  for (const Size& size : sizes)
    for (int64_t dim : {128, 512})
      for (BenchCase::Workload workload : {BenchCase::MultiSimilarity, BenchCase::BatchHard, BenchCase::TripletAll}) {
        cases.push_back({size.rows, size.refs, dim, workload});
      }
  const int runs = quick ? 3 : 5;
  std::printf("\npairs (CUDA: a thread block per row), default workBytes 64 MiB, median\n"
              "of %d after 1 warm-up, whole call on device inputs; 'extra' = device memory the call allocates beyond\n"
              "inputs, outputs and mined arrays; 'N×M' = one float32 similarity matrix, what an unfused formulation\n"
              "stores; 'cpu ms' = the 2-core native CPU backend (docs/performance-pairs.md), then CPU / CUDA (target ≥ 20x)\n", runs);
  std::printf("%6s %6s %4s %-20s %10s %10s %10s %8s %6s\n", "N", "M", "D", "workload", "ms", "extra MiB", "N×M MiB", "cpu ms",
              "ratio");
  bool ok = true;
  for (const BenchCase& c : cases) ok = benchOne(stream, c, runs) && ok;
  return ok;
}
