#include "codec/alternatives.h"

#include <algorithm>
#include <vector>

#include "codec/quantized_tensor.h"

namespace condense::codec {

absl::Status AddAlternatives(const CdzReader& reader, ModelSize* sizes) {
  DecodedTensor t;
  for (size_t i = 0; i < reader.tensors().size(); ++i) {
    const cdz::TensorInfo& info = reader.tensors()[i];
    if (!IsQuantizedEncoding(info.encoding)) continue;
    if (auto s = reader.Decode(i, &t); !s.ok()) return s;
    std::vector<float> codebook;
    for (float v : t.values) {
      if (v != 0.0f) codebook.push_back(v);
    }
    std::sort(codebook.begin(), codebook.end());
    codebook.erase(std::unique(codebook.begin(), codebook.end()),
                   codebook.end());
    if (codebook.empty()) codebook.push_back(1.0f);  // An all-zero tensor.
    TensorSize& size = sizes->tensors[i];
    auto encoded = EncodeQuantized(
        t.values, info.shape, codebook,
        {.gap_bits = size.encoding == cdz::Encoding::kSparseQuantized
                         ? size.gap_bits
                         : 0});
    if (!encoded.ok()) return encoded.status();
    size.alternatives = encoded->alternatives;
  }
  return absl::OkStatus();
}

}  // namespace condense::codec
