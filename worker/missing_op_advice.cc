#include "worker/missing_op_advice.h"

#include "absl/strings/str_cat.h"

namespace condense::worker {

std::string MissingOpAdvice(std::string_view version) {
  return absl::StrCat(
      "the model was saved by a newer PyTorch. Re-export it using only ops "
      "LibTorch ",
      absl::string_view(version.data(), version.size()),
      " knows (for attention: write softmax(q @ k.transpose(-2, -1) * scale) "
      "@ v instead of F.scaled_dot_product_attention or "
      "nn.MultiheadAttention's fast path), or run workers built on a "
      "LibTorch that has the op (docs/engine.md, \"PyTorch 2.x models\")");
}

}  // namespace condense::worker
