#include "worker/engine/torch_dtype.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace condense::engine {
namespace {

constexpr std::pair<codec::DType, torch::Dtype> kPairs[] = {
    {codec::DType::kF32, torch::kFloat32},
    {codec::DType::kF16, torch::kFloat16},
    {codec::DType::kBF16, torch::kBFloat16},
    {codec::DType::kF64, torch::kFloat64},
    {codec::DType::kI64, torch::kInt64},
    {codec::DType::kI32, torch::kInt32},
    {codec::DType::kI16, torch::kInt16},
    {codec::DType::kI8, torch::kInt8},
    {codec::DType::kU8, torch::kUInt8},
    {codec::DType::kBool, torch::kBool},
};

}  // namespace

absl::StatusOr<torch::Dtype> TorchDType(codec::DType t) {
  for (const auto& [codec_type, torch_type] : kPairs) {
    if (codec_type == t) return torch_type;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown element type ", static_cast<int>(t)));
}

absl::StatusOr<codec::DType> CodecDType(torch::ScalarType t) {
  if (t == torch::kFloat16 || t == torch::kBFloat16 || t == torch::kFloat64) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensors of type ", c10::toString(t),
                     " are stored as float32; convert them first"));
  }
  for (const auto& [codec_type, torch_type] : kPairs) {
    if (torch_type == t) return codec_type;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("tensors of type ", c10::toString(t), " cannot be stored"));
}

std::vector<uint64_t> CodecShape(const torch::Tensor& t) {
  return {t.sizes().begin(), t.sizes().end()};
}

}  // namespace condense::engine
