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
  return numel * (IsFloatingDType(dtype) ? 4 : DTypeSize(dtype));
}

void AddSparseParts(const SparseQuantizedParts& parts, TensorSize* t) {
  t->nonzeros = parts.nonzeros;
  t->fillers = parts.fillers;
  t->gap_bits = parts.gap_bits;
  t->index_pack = parts.index_pack;
  t->centroids = parts.centroids;
  t->codebook_bytes = parts.codebook_bytes;
  t->table_bytes = parts.table_bytes;
  t->gap_bytes = parts.gap_bytes;
  t->index_bytes = parts.index_bytes;
  t->overhead_bytes += parts.other_bytes;
}

nlohmann::json ToJson(const TensorSize& t) {
  return {
      {"name", t.name},
      {"encoding",
       t.encoding == cdz::Encoding::kRaw ? "raw" : "sparse_quantized"},
      {"dtype", static_cast<std::string>(DTypeName(t.dtype))},
      {"numel", t.numel},
      {"original_bytes", t.original_bytes},
      {"nonzeros", t.nonzeros},
      {"density", t.numel ? static_cast<double>(t.nonzeros) / t.numel : 0.0},
      {"fillers", t.fillers},
      {"gap_bits", t.gap_bits},
      {"index_pack", t.index_pack},
      {"centroids", t.centroids},
      {"codebook_bytes", t.codebook_bytes},
      {"table_bytes", t.table_bytes},
      {"gap_bytes", t.gap_bytes},
      {"index_bytes", t.index_bytes},
      {"raw_bytes", t.raw_bytes},
      {"overhead_bytes", t.overhead_bytes},
      {"total_bytes", t.total_bytes},
      {"bits_per_nonzero", t.BitsPerNonzero()},
      {"ratio", t.Ratio()},
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
      {"gap_bytes", m.Total(&TensorSize::gap_bytes)},
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
  std::string out =
      absl::StrFormat("%-*s %-6s %11s %7s %9s %9s %9s %9s %9s %7s %8s\n", w,
                      "tensor", "enc", "elements", "density", "codebook",
                      "tables", "gaps", "indices", "raw", "bits/nz", "ratio");
  for (const auto& t : m.tensors) {
    const double density =
        t.numel ? 100.0 * static_cast<double>(t.nonzeros) / t.numel : 0.0;
    out += absl::StrFormat(
        "%-*s %-6s %11d %6.2f%% %9d %9d %9d %9d %9d %7.2f %7.1fx\n", w,
        t.name.substr(0, 40), t.encoding == cdz::Encoding::kRaw ? "raw" : "sq",
        t.numel, density, t.codebook_bytes, t.table_bytes, t.gap_bytes,
        t.index_bytes, t.raw_bytes, t.BitsPerNonzero(), t.Ratio());
  }
  out += absl::StrFormat(
      "total: %d bytes original (float32), %d bytes in file "
      "(%d container), ratio %.1fx\n",
      m.OriginalBytes(), m.file_bytes, m.container_bytes, m.Ratio());
  return out;
}

}  // namespace condense::codec
