#include "worker/engine/tensor_report.h"

namespace condense::engine {

nlohmann::json TensorRecord(const codec::TensorSize& size,
                            const TensorFacts& f) {
  nlohmann::json j = codec::ToJson(size);
  j["role"] = RoleName(f.role);
  if (!f.module_type.empty()) j["module"] = f.module_type;
  j["compressed"] = f.compressed;
  const int64_t numel =
      f.compressed ? f.parameters : static_cast<int64_t>(size.numel);
  // Of the tensor itself: a raw-stored tensor can hold zeros too.
  j["density"] =
      f.compressed ? static_cast<double>(f.nonzeros) /
                         static_cast<double>(std::max<int64_t>(numel, 1))
      : size.numel > 0
          ? static_cast<double>(size.nonzeros) / static_cast<double>(size.numel)
          : 0.0;
  if (f.compressed) {
    j["quantized"] = f.quantized;
    j["pruned"] = f.pruned;
    j["bits"] = f.bits;
    j["index_bits"] = f.gap_bits;
    j["parameters"] = f.parameters;
    j["shape"] = f.shape;
  }
  if (!f.raw_reason.empty()) j["raw_reason"] = f.raw_reason;
  return j;
}

std::string NotSelectedReason(TensorRole role, bool floating) {
  if (!floating) return "not a floating tensor";
  const char* reason = RawReason(role);
  if (reason[0] != '\0') return reason;
  return "a layer rule or the fc/conv defaults turned compression off";
}

}  // namespace condense::engine
