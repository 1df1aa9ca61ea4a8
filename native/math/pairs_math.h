// pairs_math.h interface: stable
//
// Per-row math of pair mining and pair losses, shared by the CPU kernels (g++) and the CUDA
// kernels (nvcc), so the CPU tests cover the GPU's arithmetic.  Contract:
// docs/spec/pairs.md; semantics in ../kernels/pairs.h.
//
// Every function works on ONE query row i given as plain pointers (PairRow): its miner values and
// loss values v_ij for all M reference columns j, the reference labels, its label and the column
// it never pairs with.  Nothing allocates: the caller gives rowScratchBytes(M) bytes of scratch
// (8-byte aligned) per row in flight.
//
// The engine's protocol:
//  mining   mineRowCounts → offsets (row order) → mineRowFill at the row's offsets;
//  losses   lossRowForward per row → LossPartial summed in row order (addPartial) → lossScale →
//           lossRowBackward per row, coef_j = ∂loss/∂v_ij → valueGradient turns coef into the
//           G/H weights of the dot products.
//
// Triplets are never enumerated unless they are the output: t = sim ? s_ap − s_an : d_an − d_ap
// (float64 difference of the float32 values) is monotone in either value for a fixed other one,
// so one side (the smaller of positives and negatives) is sorted once, and each element of the
// other side finds its partners as a contiguous range by binary search, evaluating the very same
// predicate on t: the sets equal those of an enumeration bit for bit.  Sums come from prefix sums
// over the sorted side, per-element counts from a difference array: O(M log M) per row.  That
// machinery, the row view (PairRow) and its scratch live in pairs_row_math.h, the values and their
// gradient in pairs_values.h, the miners in pairs_mine_math.h and the losses in pairs_loss_math.h,
// all included here.
#pragma once

#include "pairs_loss_math.h"
#include "pairs_mine_math.h"
#include "pairs_row_math.h"
#include "pairs_values.h"
