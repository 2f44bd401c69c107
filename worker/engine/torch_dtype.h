// Element types between the codec (.cdz, safetensors) and LibTorch: the one
// mapping both directions use. Thread-safe.
#ifndef CONDENSE_WORKER_ENGINE_TORCH_DTYPE_H_
#define CONDENSE_WORKER_ENGINE_TORCH_DTYPE_H_

#include <vector>

#include "absl/status/statusor.h"
#include "codec/dtype.h"
#include "worker/engine/torch_includes.h"

namespace condense::engine {

absl::StatusOr<torch::Dtype> TorchDType(codec::DType t);
// Float32, integers and bool; other floating types are converted to float32
// before they are stored.
absl::StatusOr<codec::DType> CodecDType(torch::ScalarType t);

// A tensor's shape as the codec writes it.
std::vector<uint64_t> CodecShape(const torch::Tensor& t);

}  // namespace condense::engine

#endif  // CONDENSE_WORKER_ENGINE_TORCH_DTYPE_H_
