#include "client/cdz_table.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/format.h"

namespace condense::client {
namespace {

std::map<std::string, const codec::cdz::TensorInfo*> ByName(
    const std::vector<codec::cdz::TensorInfo>& tensors) {
  std::map<std::string, const codec::cdz::TensorInfo*> by_name;
  for (const auto& t : tensors) by_name[t.name] = &t;
  return by_name;
}

std::string ShapeOf(
    const std::map<std::string, const codec::cdz::TensorInfo*>& by_name,
    const std::string& name) {
  auto it = by_name.find(name);
  return it == by_name.end() ? std::string("?")
                             : FormatShape(it->second->shape);
}

}  // namespace

std::string FormatShape(const std::vector<uint64_t>& shape) {
  if (shape.empty()) return "scalar";
  return absl::StrJoin(shape, "x");
}

std::string RenderCdzTable(const codec::ModelSize& sizes,
                           const std::vector<codec::cdz::TensorInfo>& tensors) {
  const auto by_name = ByName(tensors);
  int name_width = 6;
  int shape_width = 5;
  for (const auto& t : sizes.tensors) {
    name_width =
        std::max(name_width, std::min(static_cast<int>(t.name.size()), 40));
    shape_width = std::max(shape_width,
                           static_cast<int>(ShapeOf(by_name, t.name).size()));
  }
  std::string out =
      absl::StrFormat("%-*s %-*s %-6s %11s %10s %8s %7s %8s\n", name_width,
                      "tensor", shape_width, "shape", "enc", "params", "bytes",
                      "density", "bits/nz", "ratio");
  uint64_t params = 0;
  uint64_t nonzeros = 0;
  for (const auto& t : sizes.tensors) {
    params += t.numel;
    nonzeros += t.nonzeros;
    out += absl::StrFormat(
        "%-*s %-*s %-6s %11d %10s %8s %7.2f %7.1fx\n", name_width,
        t.name.substr(0, 40), shape_width, ShapeOf(by_name, t.name),
        codec::ShortEncodingName(t.encoding), t.numel,
        FormatBytes(static_cast<int64_t>(t.total_bytes)),
        FormatPercent(Fraction(static_cast<int64_t>(t.nonzeros),
                               static_cast<int64_t>(t.numel))),
        t.BitsPerNonzero(), t.Ratio());
    const codec::QuantizedAlternatives& a = t.alternatives;
    if (a.sparse_quantized + a.context_coded + a.fixed_width > 0) {
      out += absl::StrFormat(
          "%*s   in each encoding: huffman %s, context %s, fixed %s\n",
          name_width, "", FormatBytes(static_cast<int64_t>(a.sparse_quantized)),
          FormatBytes(static_cast<int64_t>(a.context_coded)),
          FormatBytes(static_cast<int64_t>(a.fixed_width)));
    }
  }
  out += absl::StrFormat(
      "total: %d tensors, %d params (%s nonzero), %s original -> "
      "%s in file (%s container), ratio %.1fx\n",
      sizes.tensors.size(), params,
      FormatPercent(Fraction(static_cast<int64_t>(nonzeros),
                             static_cast<int64_t>(params))),
      FormatBytes(static_cast<int64_t>(sizes.OriginalBytes())),
      FormatBytes(static_cast<int64_t>(sizes.file_bytes)),
      FormatBytes(static_cast<int64_t>(sizes.container_bytes)), sizes.Ratio());
  return out;
}

nlohmann::json CdzJson(const codec::ModelSize& sizes,
                       const std::vector<codec::cdz::TensorInfo>& tensors) {
  const auto by_name = ByName(tensors);
  nlohmann::json j = codec::ToJson(sizes);
  for (auto& t : j["tensors"]) {
    auto it = by_name.find(t["name"].get<std::string>());
    t["shape"] = it == by_name.end() ? nlohmann::json::array()
                                     : nlohmann::json(it->second->shape);
  }
  return j;
}

}  // namespace condense::client
