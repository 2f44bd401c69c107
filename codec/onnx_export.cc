#include "codec/onnx_export.h"

#include <map>
#include <span>
#include <vector>

#include "absl/strings/str_cat.h"

namespace condense::codec {

absl::Status ExportOnnx(const CdzReader& reader, OnnxModel& model,
                        const std::string& path) {
  std::map<std::string, size_t> by_name;
  for (size_t i = 0; i < reader.tensors().size(); ++i) {
    by_name[reader.tensors()[i].name] = i;
  }
  auto writer = OnnxModelWriter::Create(&model, path,
                                        OnnxModelWriter::WantsExternal(model));
  if (!writer.ok()) return writer.status();
  DecodeScratch scratch;
  std::vector<uint8_t> bytes;
  for (size_t i = 0; i < model.tensors().size(); ++i) {
    const OnnxTensor& t = model.tensors()[i];
    auto it = by_name.find(t.name);
    if (it == by_name.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the .cdz does not hold tensor '", t.name, "' of ONNX model ",
          model.name(), ": it was made from another model"));
    }
    const cdz::TensorInfo& info = reader.tensors()[it->second];
    if (info.dtype != t.dtype ||
        info.numel != static_cast<uint64_t>(t.numel())) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor '", t.name, "' is ", DTypeName(info.dtype),
                       " of ", info.numel, " elements in the .cdz but ",
                       DTypeName(t.dtype), " of ", t.numel(), " in ONNX model ",
                       model.name(), ": it was made from another model"));
    }
    bytes.resize(t.bytes());
    if (auto s = reader.DecodeTo(it->second, t.dtype, std::span<uint8_t>(bytes),
                                 &scratch);
        !s.ok()) {
      return s;
    }
    if (auto s = (*writer)->Append(
            i, absl::string_view(reinterpret_cast<const char*>(bytes.data()),
                                 bytes.size()));
        !s.ok()) {
      return s;
    }
  }
  return (*writer)->Finish();
}

}  // namespace condense::codec
