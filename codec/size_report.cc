#include "codec/size_report.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace condense::codec {

double TensorSize::BitsPerNonzero() const {
  return nonzeros == 0 ? 0.0
                       : 8.0 * static_cast<double>(total_bytes) /
                             static_cast<double>(nonzeros);
}

double TensorSize::Ratio() const {
  return total_bytes == 0 ? 0.0
                          : static_cast<double>(original_bytes) /
                                static_cast<double>(total_bytes);
}

uint64_t ModelSize::OriginalBytes() const {
  return Total(&TensorSize::original_bytes);
}

uint64_t ModelSize::Total(uint64_t TensorSize::*part) const {
  uint64_t sum = 0;
  for (const auto& t : tensors) sum += t.*part;
  return sum;
}

double ModelSize::Ratio() const {
  return file_bytes == 0 ? 0.0
                         : static_cast<double>(OriginalBytes()) /
                               static_cast<double>(file_bytes);
}

uint64_t OriginalBytes(DType dtype, uint64_t numel) {
  return numel * DTypeSize(dtype);
}

const char* EncodingName(cdz::Encoding encoding) {
  switch (encoding) {
    case cdz::Encoding::kRaw:
      return "raw";
    case cdz::Encoding::kSparseQuantized:
      return "sparse_quantized";
    case cdz::Encoding::kContextCoded:
      return "context_coded";
    case cdz::Encoding::kFixedWidth:
      return "fixed_width";
  }
  return "unknown";
}

const char* ShortEncodingName(cdz::Encoding encoding) {
  switch (encoding) {
    case cdz::Encoding::kRaw:
      return "raw";
    case cdz::Encoding::kSparseQuantized:
      return "huff";
    case cdz::Encoding::kContextCoded:
      return "ctx";
    case cdz::Encoding::kFixedWidth:
      return "fixed";
  }
  return "?";
}

void AddQuantizedParts(const QuantizedParts& parts, TensorSize* t) {
  t->nonzeros = parts.nonzeros;
  t->fillers = parts.fillers;
  t->gap_bits = parts.gap_bits;
  t->index_pack = parts.index_pack;
  t->row_length = parts.row_length;
  t->index_contexts = parts.index_contexts;
  t->centroids = parts.centroids;
  t->codebook_bytes = parts.codebook_bytes;
  t->table_bytes = parts.table_bytes;
  t->position_bytes = parts.position_bytes;
  t->index_bytes = parts.index_bytes;
  t->overhead_bytes += parts.other_bytes;
}

nlohmann::json ToJson(const TensorSize& t) {
  nlohmann::json alternatives = nlohmann::json::object();
  if (t.alternatives.sparse_quantized > 0) {
    alternatives["sparse_quantized"] = t.alternatives.sparse_quantized;
  }
  if (t.alternatives.context_coded > 0) {
    alternatives["context_coded"] = t.alternatives.context_coded;
  }
  if (t.alternatives.fixed_width > 0) {
    alternatives["fixed_width"] = t.alternatives.fixed_width;
  }
  return {
      {"name", t.name},
      {"encoding", EncodingName(t.encoding)},
      {"dtype", static_cast<std::string>(DTypeName(t.dtype))},
      {"numel", t.numel},
      {"original_bytes", t.original_bytes},
      {"nonzeros", t.nonzeros},
      {"density", t.numel ? static_cast<double>(t.nonzeros) / t.numel : 0.0},
      {"fillers", t.fillers},
      {"gap_bits", t.gap_bits},
      {"index_pack", t.index_pack},
      {"row_length", t.row_length},
      {"index_contexts", t.index_contexts},
      {"centroids", t.centroids},
      {"codebook_bytes", t.codebook_bytes},
      {"table_bytes", t.table_bytes},
      {"position_bytes", t.position_bytes},
      {"index_bytes", t.index_bytes},
      {"raw_bytes", t.raw_bytes},
      {"overhead_bytes", t.overhead_bytes},
      {"total_bytes", t.total_bytes},
      {"bits_per_nonzero", t.BitsPerNonzero()},
      {"ratio", t.Ratio()},
      {"alternative_body_bytes", alternatives},
  };
}

nlohmann::json ToJson(const ModelSize& m) {
  nlohmann::json tensors = nlohmann::json::array();
  for (const auto& t : m.tensors) tensors.push_back(ToJson(t));
  return {
      {"tensors", tensors},
      {"file_bytes", m.file_bytes},
      {"original_bytes", m.OriginalBytes()},
      {"container_bytes", m.container_bytes},
      {"codebook_bytes", m.Total(&TensorSize::codebook_bytes)},
      {"table_bytes", m.Total(&TensorSize::table_bytes)},
      {"position_bytes", m.Total(&TensorSize::position_bytes)},
      {"index_bytes", m.Total(&TensorSize::index_bytes)},
      {"raw_bytes", m.Total(&TensorSize::raw_bytes)},
      {"overhead_bytes", m.Total(&TensorSize::overhead_bytes)},
      {"ratio", m.Ratio()},
  };
}

std::string FormatSizeTable(const ModelSize& m) {
  size_t name_width = 6;
  for (const auto& t : m.tensors) {
    name_width = std::max(name_width, std::min<size_t>(t.name.size(), 40));
  }
  const int w = static_cast<int>(name_width);
  std::string out = absl::StrFormat(
      "%-*s %-5s %11s %7s %9s %9s %9s %9s %9s %7s %8s\n", w, "tensor", "enc",
      "elements", "density", "codebook", "tables", "position", "indices", "raw",
      "bits/nz", "ratio");
  for (const auto& t : m.tensors) {
    const double density =
        t.numel ? 100.0 * static_cast<double>(t.nonzeros) / t.numel : 0.0;
    out += absl::StrFormat(
        "%-*s %-5s %11d %6.2f%% %9d %9d %9d %9d %9d %7.2f %7.1fx\n", w,
        t.name.substr(0, 40), ShortEncodingName(t.encoding), t.numel, density,
        t.codebook_bytes, t.table_bytes, t.position_bytes, t.index_bytes,
        t.raw_bytes, t.BitsPerNonzero(), t.Ratio());
    const QuantizedAlternatives& a = t.alternatives;
    if (a.sparse_quantized + a.context_coded + a.fixed_width > 0) {
      out += absl::StrFormat(
          "%*s body bytes tried: huff %d, ctx %d, fixed %d\n", w, "",
          a.sparse_quantized, a.context_coded, a.fixed_width);
    }
  }
  out += absl::StrFormat(
      "total: %d bytes original, %d bytes in file "
      "(%d container), ratio %.1fx\n",
      m.OriginalBytes(), m.file_bytes, m.container_bytes, m.Ratio());
  return out;
}

}  // namespace condense::codec
