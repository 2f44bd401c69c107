#include "codec/cdz_test_util.h"

#include <cstring>

#include "codec/byte_io.h"
#include "codec/cdz_format.h"
#include "codec/crc32c.h"
#include "codec/test_distributions.h"

namespace condense::codec::testing {

std::vector<ModelTensor> SampleModel(uint64_t seed) {
  std::vector<ModelTensor> t;
  ModelTensor conv{"features.0.weight", DType::kF32, {16, 3, 5, 5}, true};
  conv.values = QuantizedSparseWeights(16 * 3 * 5 * 5, 0.6, 256, true, seed,
                                       &conv.codebook);
  conv.gap_bits = 8;
  conv.encoding = cdz::Encoding::kContextCoded;
  t.push_back(conv);
  ModelTensor fc{"classifier.fc1.weight", DType::kF32, {300, 784}, true};
  fc.values =
      QuantizedSparseWeights(300 * 784, 0.08, 32, true, seed + 1, &fc.codebook);
  fc.encoding = cdz::Encoding::kSparseQuantized;
  t.push_back(fc);
  ModelTensor fc_half{"classifier.fc2.weight", DType::kF16, {10, 300}, true};
  fc_half.values = QuantizedSparseWeights(10 * 300, 0.2, 16, false, seed + 2,
                                          &fc_half.codebook);
  fc_half.gap_bits = 4;
  fc_half.encoding = cdz::Encoding::kFixedWidth;
  t.push_back(fc_half);
  ModelTensor bias{"classifier.fc1.bias", DType::kF32, {300}, false};
  for (int i = 0; i < 300; ++i) bias.values.push_back(0.01f * (i - 150));
  t.push_back(bias);
  ModelTensor steps{"bn.num_batches_tracked", DType::kI64, {}, false};
  steps.raw.resize(8);
  StoreLE64(steps.raw.data(), 123456789);
  t.push_back(steps);
  ModelTensor half{"bn.weight", DType::kF16, {4}, false};
  // 1.0, -2.0, 0.5, 65504 in IEEE half precision.
  half.raw = {0x00, 0x3c, 0x00, 0xc0, 0x00, 0x38, 0xff, 0x7b};
  t.push_back(half);
  ModelTensor empty{"empty", DType::kF32, {0, 7}, true};
  empty.codebook = {1.0f};
  t.push_back(empty);
  return t;
}

ModelTensor SegmentedTensor(uint64_t seed) {
  ModelTensor big{"big.weight", DType::kF32, {2048, 4100}, true};
  big.values =
      QuantizedSparseWeights(2048 * 4100, 0.05, 16, true, seed, &big.codebook);
  big.encoding = cdz::Encoding::kContextCoded;
  return big;
}

std::string WriteModel(const std::vector<ModelTensor>& tensors,
                       const Manifest& manifest, ModelSize* sizes) {
  std::string out;
  auto writer = CdzWriter::Create(NewStringFile(&out), manifest);
  if (!writer.ok()) return "";
  for (const auto& t : tensors) {
    absl::Status s;
    if (t.compressed) {
      QuantizedEncodeOptions options{.gap_bits = t.gap_bits};
      if (t.encoding) {
        options.allow_sparse_quantized =
            *t.encoding == cdz::Encoding::kSparseQuantized;
        options.allow_context_coded =
            *t.encoding == cdz::Encoding::kContextCoded;
        options.allow_fixed_width = *t.encoding == cdz::Encoding::kFixedWidth;
      }
      s = (*writer)->AddQuantized(t.name, t.dtype, t.shape, t.values,
                                  t.codebook, options);
    } else if (!t.values.empty() || t.dtype == DType::kF32) {
      s = (*writer)->AddRaw(t.name, t.dtype, t.shape,
                            {reinterpret_cast<const uint8_t*>(t.values.data()),
                             t.values.size() * 4});
    } else {
      s = (*writer)->AddRaw(t.name, t.dtype, t.shape, t.raw);
    }
    if (!s.ok()) return "";
  }
  if (!(*writer)->Finish().ok()) return "";
  if (sizes) *sizes = (*writer)->sizes();
  return out;
}

absl::StatusOr<std::unique_ptr<CdzReader>> OpenBytes(std::string bytes,
                                                     ReaderOptions options) {
  return CdzReader::Open(NewMemoryFile(std::move(bytes), "test.cdz"), options);
}

void FixSectionCrc(std::string* file, uint64_t offset) {
  auto* p = reinterpret_cast<uint8_t*>(file->data()) + offset;
  const uint64_t len = LoadLE64(p + 8);
  const uint64_t body = cdz::kSectionHeaderSize + len;
  StoreLE32(p + body, Crc32c(p, body));
}

}  // namespace condense::codec::testing
