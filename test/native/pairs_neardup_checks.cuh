// Near-duplicate pairs (pairs::directGradientPair, docs/spec/pairs.md): gaussian rows of which a
// third (and a third of the reference rows) are replaced by a copy of another row moved by
// δ·rms(row) per feature, δ from 3e-2 down to 1e-7 — pairs at d ≈ δ·‖x‖, from just below the
// direct-gradient threshold to far below it, and some exact duplicates where the move rounds away.
// Every distance-based loss, CUDA against the CPU (outputs poisoned, pairs_check.cu's tolerances);
// and the raw contrastive euclidean loss with every pair active, whose gradient is
// Σ ±(x − y)/(K·d), both backends against that formula in float64.  Included by pairs_check.cu.

// Replaces a third of the rows (and reference rows) by near copies of other rows.
void makeNearDuplicates(const Case& c, Data& d, Rng& rng) {
  const int64_t D = c.dim;
  const double scales[] = {3e-2, 1e-3, 1e-5, 1e-7};
  auto nearCopy = [&](const float* source, float* target) {
    double rms = 0.0;
    for (int64_t e = 0; e < D; ++e) rms += static_cast<double>(source[e]) * source[e];
    rms = std::sqrt(rms / static_cast<double>(D));
    const double delta = scales[rng.next() % 4] * rms;
    for (int64_t e = 0; e < D; ++e) target[e] = static_cast<float>(source[e] + delta * rng.normal());
  };
  for (int64_t i = 1; i < c.rows; ++i) {
    if (rng.uniform() >= 1.0 / 3.0) continue;
    const int64_t source = static_cast<int64_t>(rng.next() % i);
    nearCopy(&d.embeddings[source * D], &d.embeddings[i * D]);
    if (rng.uniform() < 0.5) d.labels[i] = d.labels[source];
  }
  for (int64_t j = 0; j < static_cast<int64_t>(d.refLabels.size()); ++j) {
    if (rng.uniform() >= 1.0 / 3.0) continue;
    const int64_t source = static_cast<int64_t>(rng.next() % c.rows);
    nearCopy(&d.embeddings[source * D], &d.ref[j * D]);
    if (rng.uniform() < 0.5) d.refLabels[j] = d.labels[source];
  }
}

// The float64 gradients of the contrastive euclidean loss with posMargin 0 and a negMargin beyond
// every distance, no miner, normalize false: every formed pair at d > 0 is active, coef ±1/K.
void contrastiveReference(const Data& d, std::vector<float>& gradEmbeddings, std::vector<float>& gradRef) {
  const int64_t N = d.shape.rows, M = d.shape.refs, D = d.shape.dim;
  std::vector<double> distance(static_cast<size_t>(N * M), 0.0);
  double positives = 0.0, negatives = 0.0;
  for (int64_t i = 0; i < N; ++i)
    for (int64_t j = 0; j < M; ++j) {
      if (j == d.excluded(i)) continue;
      double sum = 0.0;
      for (int64_t e = 0; e < D; ++e) {
        const double diff = static_cast<double>(d.embeddings[i * D + e]) - d.refRow(j)[e];
        sum += diff * diff;
      }
      distance[i * M + j] = std::sqrt(sum);
      if (d.refLabel(j) == d.labels[i]) positives += sum > 0.0 ? 1.0 : 0.0;
      else negatives += 1.0;
    }
  std::vector<double> gx(static_cast<size_t>(N * D), 0.0), gy(static_cast<size_t>(M * D), 0.0);
  for (int64_t i = 0; i < N; ++i)
    for (int64_t j = 0; j < M; ++j) {
      const double v = distance[i * M + j];
      if (j == d.excluded(i) || !(v > 0.0)) continue;
      const double coef = d.refLabel(j) == d.labels[i] ? 1.0 / positives : -1.0 / negatives;
      for (int64_t e = 0; e < D; ++e) {
        const double term = coef * (static_cast<double>(d.embeddings[i * D + e]) - d.refRow(j)[e]) / v;
        gx[i * D + e] += term;
        gy[j * D + e] -= term;
      }
    }
  if (d.ref.empty()) {
    for (size_t k = 0; k < gx.size(); ++k) gx[k] += gy[k];
    gy.clear();
  }
  gradEmbeddings.assign(gx.begin(), gx.end());
  gradRef.assign(gy.begin(), gy.end());
}

void checkNearDuplicates(Tally& tally, uint64_t& seed, bool quick) {
  struct Size {
    int64_t n, refs, dim;
  };
  const std::vector<Size> sizes = quick ? std::vector<Size>{{9, 0, 3}, {40, 0, 33}, {17, 70, 20}}
                                        : std::vector<Size>{{9, 0, 3}, {40, 0, 33}, {17, 70, 20}, {130, 300, 64}};
  const PairDistance distances[] = {PairDistance::Euclidean, PairDistance::SquaredEuclidean};
  const PairLossType losses[] = {PairLossType::Contrastive, PairLossType::TripletMargin, PairLossType::MultiSimilarity,
                                 PairLossType::NtXent};
  int failures = 0, cases = 0;
  double worst = 0.0, worstReference = 0.0;
  int index = 0;
  for (const Size& s : sizes)
    for (PairDistance distance : distances)
      for (PairLossType type : losses)
        for (bool normalize : {false, true}) {
          Case c = makeCase(s.n, s.refs, s.dim, false, index++, seed);
          c.normalize = normalize;
          setLoss(c.loss, type, distance);
          // Every pair active: no decision near its flip (contrastive, triplet), so the gaussian
          // inputs compare like the smooth losses.
          c.loss.posMargin = 0.0, c.loss.negMargin = 1e3, c.loss.margin = 1e3;
          c.workBytes = index % 2 ? int64_t{2} << 10 : int64_t{64} << 20;  // many row blocks, or one
          Data d = generate(c);
          Rng rng{c.seed * 0x9e3779b97f4a7c15ULL + 77};
          makeNearDuplicates(c, d, rng);
          const LossResult cpu = lossOf(false, c, d), gpu = lossOf(true, c, d);
          std::string why;
          bool ok = compareLoss(gpu, cpu, why, worst);
          if (ok && type == PairLossType::Contrastive && distance == PairDistance::Euclidean && !normalize) {
            std::vector<float> refEmbeddings, refRef;
            contrastiveReference(d, refEmbeddings, refRef);
            for (const LossResult* r : {&cpu, &gpu}) {
              const std::string side = r == &cpu ? "cpu vs float64 " : "cuda vs float64 ";
              ok = ok && check::compareVector((side + "gradEmbeddings").c_str(), r->gradEmbeddings, refEmbeddings,
                                              kGradTolerance, 0.0, why, worstReference) &&
                   check::compareVector((side + "gradRef").c_str(), r->gradRef, refRef, kGradTolerance, 0.0, why,
                                        worstReference);
            }
          }
          ++cases;
          if (!ok && ++failures <= 20) std::printf("FAIL pairs near-duplicates %s: %s\n", c.describe(true).c_str(), why.c_str());
        }
  if (failures) {
    std::printf("FAIL pairs near-duplicates: %d of %d cases\n", failures, cases);
    ++tally.failed;
  } else {
    std::printf("PASS pairs near-duplicates: %d cases, worst relative error %.3g (cuda vs cpu), %.3g (vs float64)\n", cases,
                worst, worstReference);
    ++tally.passed;
  }
}
