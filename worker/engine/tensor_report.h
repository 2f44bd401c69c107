// One stored tensor's entry in report.json, from plain facts, so the
// streaming and the in-memory paths report the same fields. No LibTorch.
#ifndef CONDENSE_WORKER_ENGINE_TENSOR_REPORT_H_
#define CONDENSE_WORKER_ENGINE_TENSOR_REPORT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "codec/size_report.h"
#include "nlohmann/json.hpp"
#include "worker/engine/config.h"
#include "worker/engine/tensor_role.h"

namespace condense::engine {

struct TensorFacts {
  TensorRole role = TensorRole::kBuffer;
  std::string module_type;  // Empty when the format has no modules.
  bool compressed = false;  // Selected for compression.
  bool quantized = false;
  bool pruned = false;
  int bits = 0;
  int gap_bits = 0;
  int64_t parameters = 0;
  int64_t nonzeros = 0;
  std::vector<int64_t> shape;
  std::string raw_reason;  // Why it is stored raw; empty when it is not.
};

nlohmann::json TensorRecord(const codec::TensorSize& size,
                            const TensorFacts& facts);

// Why a tensor that is not selected for compression stays raw.
std::string NotSelectedReason(TensorRole role, bool floating);

// A selected tensor stored raw anyway: pruned only, with more distinct values
// than a codebook pays for.
inline constexpr char kCodebookTooLarge[] =
    "selected, but its distinct values (pruned, never quantized) cost more as "
    "a codebook than as raw floats";

}  // namespace condense::engine

#endif  // CONDENSE_WORKER_ENGINE_TENSOR_REPORT_H_
