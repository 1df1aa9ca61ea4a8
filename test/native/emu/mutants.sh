#!/usr/bin/env bash
# The harness's teeth: each mutant is one edit of cuda/ (a deleted __syncthreads(), a bounds check
# widened by one, a barrier some threads skip, a dispatch check removed) made in a scratch copy of
# the working tree; the CPU-harness check of its family must fail on every one (docs/cuda-review.md
# lists which check kills each).  Not run by CI (2–4 min a mutant on 2 cores: both passes of
# run-emu-checks.sh); run it after changing test/native/emu/.
#   test/native/emu/mutants.sh [crps|margin|pairs]   exit 0: every mutant (of the family) killed,
#                                                    1: one survived or did not apply
set -uo pipefail
cd "$(dirname "$0")/../../.." || exit 1

# name | family | file | sed -E script
MUTANTS=(
  "gemm: first barrier deleted|margin|cuda/gemm_tile.cuh|/storeTile<kBKMajor>\(bs\[0\], rb\);/{n;/__syncthreads/d}"
  "gemm: loop barrier deleted|margin|cuda/gemm_tile.cuh|/storeTile<kBKMajor>\(bs\[cur \^ 1\], rb\);/{n;n;/__syncthreads/d}"
  "gemm: tile load row bound widened by one|margin|cuda/gemm_tile.cuh|s/if \(rc < rcEnd && kk < kEnd\)/if (rc <= rcEnd \&\& kk < kEnd)/"
  "gemm: tile load k bound widened by one|margin|cuda/gemm_tile.cuh|s/if \(rc < rcEnd && kk < kEnd\)/if (rc < rcEnd \&\& kk <= kEnd)/"
  "gemm: store row bound widened by one|margin|cuda/gemm_tile.cuh|s/if \(row >= g\.m\) continue;/if (row > g.m) continue;/"
  "mma: staging __syncwarp after the fragment store deleted|margin|cuda/mma_tile.cuh|/wmma::store_matrix_sync\(&mine/{n;/__syncwarp/d}"
  "mma: a fragment store half the warp skips|margin|cuda/mma_tile.cuh|s/^( +)wmma::store_matrix_sync\(&mine/\1if (lane < 16) wmma::store_matrix_sync(\&mine/"
  "mma: store row bound widened by one|margin|cuda/mma_tile.cuh|s/if \(row < g\.m\) \{/if (row <= g.m) {/"
  "crps: tile point count widened by one|crps|cuda/crps.cu|s/p\.points - first\)\);/p.points - first + 1));/"
  "crps: a barrier only threads with a point reach|crps|cuda/crps.cu|/if \(t < count\) scoreRowPoint/{n;s/__syncthreads\(\);/if (t < count) __syncthreads();/}"
  "crps: sorting-network stage barrier deleted|crps|cuda/crps_device.cuh|/if \(\(a > b\) == ascending\) v\[lo\] = b, v\[hi\] = a;/{n;n;/__syncthreads/d}"
  "crps: group sum bound widened by one|crps|cuda/crps_device.cuh|s/if \(lane < s\)/if (lane <= s)/"
  "pairs: mining's bitonic-sort step barrier deleted|pairs|cuda/pairs_mine.cuh|/if \(ascending \? less\(y, x\) : less\(x, y\)\)/{n;n;/__syncthreads/d}"
  "pairs: mining's column bound widened by one|pairs|cuda/pairs_mine.cuh|s/const int kind = j < row\.refs \? pairs::pairKind/const int kind = j <= row.refs ? pairs::pairKind/"
  "pairs: loss rows' shift barrier deleted|pairs|cuda/pairs_loss.cuh|/scratch\[t\] = \(a != a \|\| b != b\)/{n;n;/__syncthreads/d}"
  "margin: tensor-core tile chosen without the PTX architecture check|margin|cuda/margin.cu|/if \(tile\.ptxVersion < 10 \* kMmaMinMajor\) return false;/d"
  "crps: row kernel's barrier after the member offsets deleted|crps|cuda/crps.cu|/if \(t < count\) bases\[t\] = memberBase\(p, first \+ t\);/{n;/__syncthreads/d}"
)

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
survived=0
for mutant in "${MUTANTS[@]}"; do
  IFS='|' read -r name family file script <<<"$mutant"
  [ -n "${1:-}" ] && [ "$family" != "$1" ] && continue
  dir="$scratch/tree"
  rm -rf "$dir" && mkdir -p "$dir"
  git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$dir" 2>/dev/null
  sed -i -E "$script" "$dir/$file"
  if cmp -s "$file" "$dir/$file"; then
    echo "NOT APPLIED  $name ($file: the pattern no longer matches)"
    survived=1
    continue
  fi
  log="$scratch/$family.log"
  (cd "$dir" && JOBS=${JOBS:-2} test/native/run-emu-checks.sh --only "$family" >"$log" 2>&1)
  status=$?
  if [ "$status" = 0 ]; then
    echo "SURVIVED     $name"
    diff "$file" "$dir/$file"
    survived=1
  else
    echo "killed       $name: $(grep -m1 -E '^FAIL|cuda-emu:' "$log" | cut -c1-160)"
  fi
done
exit "$survived"
