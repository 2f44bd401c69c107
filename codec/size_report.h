// Size accounting of a .cdz file: where every byte goes, per tensor and for
// the whole model, and the compression ratio counting everything in the file.
// Plain values; thread-compatible.
#ifndef CONDENSE_CODEC_SIZE_REPORT_H_
#define CONDENSE_CODEC_SIZE_REPORT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "codec/cdz_format.h"
#include "codec/dtype.h"
#include "codec/quantized_tensor.h"
#include "nlohmann/json.hpp"

namespace condense::codec {

struct TensorSize {
  std::string name;
  cdz::Encoding encoding = cdz::Encoding::kRaw;
  DType dtype = DType::kF32;
  uint64_t numel = 0;
  // The tensor as float32 (numel * 4) for floating dtypes, its own size
  // otherwise: the baseline the ratio is measured against.
  uint64_t original_bytes = 0;
  uint64_t nonzeros = 0;  // Stored weights (all elements when raw).
  uint64_t fillers = 0;
  int gap_bits = 0;    // SPARSE_QUANTIZED.
  int index_pack = 0;  // Cluster indices per index symbol (SPARSE_QUANTIZED).
  uint64_t row_length = 0;  // CONTEXT_CODED.
  int index_contexts = 0;   // CONTEXT_CODED.
  uint32_t centroids = 0;
  uint64_t codebook_bytes = 0;
  uint64_t table_bytes = 0;
  uint64_t position_bytes = 0;  // Gaps, mask stream or bit mask.
  uint64_t index_bytes = 0;
  uint64_t raw_bytes = 0;
  // Section framing, name, shape and small fields.
  uint64_t overhead_bytes = 0;
  // The whole TENSOR section; the parts above add up to it.
  uint64_t total_bytes = 0;
  // What the body took under each quantized encoding the writer tried (0:
  // not tried or not known; the reader knows only the one stored).
  QuantizedAlternatives alternatives;

  double BitsPerNonzero() const;
  double Ratio() const;
};

struct ModelSize {
  std::vector<TensorSize> tensors;
  uint64_t file_bytes = 0;
  // File header, manifest, index, end section, skipped sections.
  uint64_t container_bytes = 0;

  uint64_t OriginalBytes() const;
  // Sum of one part over all tensors, e.g. Total(&TensorSize::position_bytes).
  uint64_t Total(uint64_t TensorSize::*part) const;
  // original bytes / file bytes.
  double Ratio() const;
};

// The ratio's baseline for one tensor: its size in the dtype it came in (a
// bf16 checkpoint counts 2 bytes a weight, a float32 model 4).
uint64_t OriginalBytes(DType dtype, uint64_t numel);

// Copies a quantized tensor's parts into *t; its small fields are added to
// t->overhead_bytes.
void AddQuantizedParts(const QuantizedParts& parts, TensorSize* t);

// "raw", "sparse_quantized", "context_coded" or "fixed_width".
const char* EncodingName(cdz::Encoding encoding);
// For tables: "raw", "huff", "ctx" or "fixed".
const char* ShortEncodingName(cdz::Encoding encoding);

nlohmann::json ToJson(const TensorSize& t);
nlohmann::json ToJson(const ModelSize& m);
// A fixed-width table for terminals: one row per tensor and a total.
std::string FormatSizeTable(const ModelSize& m);

}  // namespace condense::codec

#endif  // CONDENSE_CODEC_SIZE_REPORT_H_
