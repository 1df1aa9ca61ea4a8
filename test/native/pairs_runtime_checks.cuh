// The runtime checks of pairs_check.cu (issue 13 point 5; included by it, inside its anonymous
// namespace, after mine(), lossOf() and the comparisons): a call after a handled out-of-memory,
// calls from several host threads at once, the device entry points on a user stream with poisoned
// device outputs, and (GPU runs only) mining over more than 2^31 pairs.  Under the CPU harness the
// several threads' launches run one at a time (its launch lock); their staging, allocations and
// host work overlap.

// A handled CUDA failure must not fail the thread's next call: with nearly all device memory
// taken, a call whose arrays cannot be allocated is refused as out of memory; once it is freed,
// mining and a loss with gradients must succeed and match the CPU.
void checkRecoveryAfterFailure(Tally& tally, uint64_t& seed) {
  PairShape big;
  big.rows = big.refs = int64_t{1} << 19, big.dim = 64;  // 128 MiB of embeddings, twice that on the device
  std::vector<float> embeddings(static_cast<size_t>(big.rows * big.dim), 1.0f);
  std::vector<int32_t> labels(static_cast<size_t>(big.rows), 0);
  PairInputs in;
  in.embeddings = embeddings.data(), in.labels = labels.data();
  MinerOptions miner;
  miner.type = MinerType::BatchHard;
  MineOutputs refusedOutputs;
  std::string refusal;
  if (!check::refusedWhenFull("pairs", [&] { return mineCuda(big, PairSimilarityOptions(), miner, int64_t{1} << 26, in, refusedOutputs); }, refusal)) return;
  Case c = makeCase(129, 0, 33, true, 0, seed);
  setMiner(c.miner, MinerType::TripletMargin, PairDistance::Euclidean, 2);
  setLoss(c.loss, PairLossType::MultiSimilarity, PairDistance::Cosine);
  const Data d = generate(c);
  std::string why;
  int ties = 0;
  double worst = 0.0;
  const bool ok = compareMined(c, d, mine(true, c, d), mine(false, c, d), why, ties) &&
                  compareLoss(lossOf(true, c, d), lossOf(false, c, d), why, worst);
  std::printf("%s pairs recovery after a failure ('%s'): %s\n", ok ? "PASS" : "FAIL", refusal.c_str(),
              ok ? "the next mine and pairLoss succeed" : why.c_str());
  ++(ok ? tally.passed : tally.failed);
}

// Several host threads calling mineCuda and pairLossCuda at once, each on its own inputs, every
// result compared with the CPU's (computed first, on this thread).
void checkHostThreads(Tally& tally, uint64_t& seed) {
  constexpr int kThreads = 4;
  std::vector<Case> cases;
  for (int t = 0; t < kThreads; ++t) {
    Case c = makeCase(t % 2 ? 129 : 40, t % 2 ? 0 : 300, 33, true, t, seed);
    setMiner(c.miner, kMiners[t], kDistances[t], t);
    setLoss(c.loss, t % 2 ? PairLossType::TripletMargin : PairLossType::NtXent, kDistances[(t + 1) % 4]);
    if (t == 3) c.workBytes = int64_t{64} << 10;  // many row blocks
    cases.push_back(c);
  }
  std::vector<Data> data;
  std::vector<Mined> cpuMined, gpuMined(kThreads);
  std::vector<LossResult> cpuLoss, gpuLoss(kThreads);
  for (const Case& c : cases) {
    data.push_back(generate(c));
    cpuMined.push_back(mine(false, c, data.back()));
    cpuLoss.push_back(lossOf(false, c, data.back()));
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 2; ++round) {  // mine then the loss, or the reverse: the calls interleave
        if ((round + t) % 2 == 0) gpuMined[t] = mine(true, cases[t], data[t]);
        else gpuLoss[t] = lossOf(true, cases[t], data[t]);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  int failures = 0;
  for (int t = 0; t < kThreads; ++t) {
    std::string why;
    int ties = 0;
    double worst = 0.0;
    if (!compareMined(cases[t], data[t], gpuMined[t], cpuMined[t], why, ties) ||
        !compareLoss(gpuLoss[t], cpuLoss[t], why, worst)) {
      ++failures;
      std::printf("FAIL pairs host thread %d %s: %s\n", t, cases[t].describe(true).c_str(), why.c_str());
    }
  }
  std::printf("%s pairs calls from %d host threads at once\n", failures ? "FAIL" : "PASS", kThreads);
  ++(failures ? tally.failed : tally.passed);
}

// The device inputs of one case (device pointers in `in`), freed with `arrays`.
bool uploadInputs(const Data& d, cudaStream_t stream, check::DeviceArrays& arrays, PairInputs& in) {
  auto upload = [&](const auto& host, auto*& device) {
    using T = typename std::decay_t<decltype(host)>::value_type;
    if (host.empty()) return device = nullptr, true;
    T* p = arrays.allocate<T>(host.size());
    device = p;
    return p && cudaMemcpyAsync(p, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice, stream) == cudaSuccess;
  };
  return upload(d.embeddings, in.embeddings) && upload(d.labels, in.labels) && upload(d.ref, in.ref) &&
         upload(d.refLabels, in.refLabels) && upload(d.selfIndex, in.selfIndex);
}

// mineCudaDevice and pairLossCudaDevice on a non-blocking user stream, device gradient outputs
// poisoned (NaN) first, against mineCpu and pairLossCpu.
void checkUserStream(Tally& tally, uint64_t& seed) {
  cudaStream_t stream = nullptr;
  if (cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking) != cudaSuccess) {
    std::printf("FAIL pairs user stream: cudaStreamCreateWithFlags\n");
    return void(++tally.failed);
  }
  int failures = 0, cases = 0;
  for (MinerType type : kMiners) {
    Case c = makeCase(65, cases % 2 ? 200 : 0, 24, true, cases, seed);
    setMiner(c.miner, type, kDistances[cases % 4], cases);
    setLoss(c.loss, cases % 2 ? PairLossType::Contrastive : PairLossType::MultiSimilarity, kDistances[(cases + 1) % 4]);
    ++cases;
    const Data d = generate(c);
    check::DeviceArrays arrays;
    PairInputs in;
    const int64_t gradCount = d.shape.rows * d.shape.dim, refGradCount = d.ref.empty() ? 0 : d.shape.refs * d.shape.dim;
    PairLossOutputs out;
    out.gradEmbeddings = arrays.allocate<float>(gradCount);
    out.gradRef = refGradCount ? arrays.allocate<float>(refGradCount) : nullptr;
    std::string why;
    bool ok = uploadInputs(d, stream, arrays, in) && out.gradEmbeddings && (!refGradCount || out.gradRef) &&
              cudaMemsetAsync(out.gradEmbeddings, 0xFF, 4 * gradCount, stream) == cudaSuccess &&
              (!refGradCount || cudaMemsetAsync(out.gradRef, 0xFF, 4 * refGradCount, stream) == cudaSuccess);
    if (!ok) why = "allocating or copying the device inputs";
    PairSimilarityOptions similarity;
    similarity.normalize = c.normalize, similarity.workBytes = c.workBytes;
    Mined gpuMined;
    LossResult gpuLoss;
    if (ok) {
      MineOutputs mined;
      gpuMined.status = mineCudaDevice(d.shape, similarity, c.miner, int64_t{1} << 26, in, mined, stream);
      for (size_t k = 0; k < mined.pairs.positives.size(); ++k) gpuMined.pos.emplace_back(mined.pairs.positiveAnchors[k], mined.pairs.positives[k], 0);
      for (size_t k = 0; k < mined.pairs.negatives.size(); ++k) gpuMined.neg.emplace_back(mined.pairs.negativeAnchors[k], mined.pairs.negatives[k], 0);
      const MinedTriplets& t = mined.triplets;
      for (size_t k = 0; k < t.anchors.size(); ++k) gpuMined.triplets.emplace_back(t.anchors[k], t.positives[k], t.negatives[k]);
      out.loss = kPoison;
      gpuLoss.status = pairLossCudaDevice(d.shape, similarity, c.miner, c.loss, in, out, stream);
      gpuLoss.loss = out.loss;
      gpuLoss.gradEmbeddings.resize(static_cast<size_t>(gradCount));
      gpuLoss.gradRef.resize(static_cast<size_t>(refGradCount));
      ok = cudaMemcpyAsync(gpuLoss.gradEmbeddings.data(), out.gradEmbeddings, 4 * gradCount, cudaMemcpyDeviceToHost, stream) == cudaSuccess &&
           (!refGradCount || cudaMemcpyAsync(gpuLoss.gradRef.data(), out.gradRef, 4 * refGradCount, cudaMemcpyDeviceToHost, stream) == cudaSuccess) &&
           cudaStreamSynchronize(stream) == cudaSuccess;
      if (!ok) why = "copying the device outputs back";
    }
    int ties = 0;
    double worst = 0.0;
    if (!ok || !compareMined(c, d, gpuMined, mine(false, c, d), why, ties) || !compareLoss(gpuLoss, lossOf(false, c, d), why, worst)) {
      ++failures;
      std::printf("FAIL pairs user stream %s: %s\n", c.describe(true).c_str(), why.c_str());
    }
  }
  cudaStreamDestroy(stream);
  std::printf("%s pairs device entry points on a user stream: %d cases\n", failures ? "FAIL" : "PASS", cases);
  ++(failures ? tally.failed : tally.passed);
}

// Batch-hard mining over more than 2^31 pairs (32,771 queries × a 65,536-row reference set):
// the int64 offsets and row-block arithmetic, compared with the CPU.  GPU runs only (the CPU
// harness would take hours).
void checkOver2Pow31(Tally& tally, uint64_t& seed) {
#ifdef FL_CUDA_EMU
  (void)tally, (void)seed;
  std::printf("SKIP pairs mining over 2^31 pairs: GPU runs only\n");
#else
  Case c = makeCase(32771, 65536, 32, true, 0, seed);
  setMiner(c.miner, MinerType::BatchHard, PairDistance::Euclidean, 0);
  const Data d = generate(c);
  std::string why;
  int ties = 0;
  const Mined gpu = mine(true, c, d), cpu = mine(false, c, d);
  const bool ok = compareMined(c, d, gpu, cpu, why, ties) && !cpu.triplets.empty();
  std::printf("%s pairs mining over 2^31 pairs %s: %s\n", ok ? "PASS" : "FAIL", c.describe(false).c_str(),
              ok ? "the CPU's triplets" : why.c_str());
  ++(ok ? tally.passed : tally.failed);
#endif
}
