#include "codec/cdz_export.h"

#include "codec/safetensors.h"

namespace condense::codec {

absl::Status ExportSafetensors(const CdzReader& reader,
                               std::unique_ptr<WritableFile> out) {
  std::vector<SafetensorsWriter::Tensor> declared;
  for (const auto& t : reader.tensors()) {
    declared.push_back(
        {t.name, IsFloatingDType(t.dtype) ? DType::kF32 : t.dtype, t.shape});
  }
  auto writer = SafetensorsWriter::Create(std::move(out), std::move(declared),
                                          reader.manifest());
  if (!writer.ok()) return writer.status();
  DecodedTensor tensor;
  for (size_t i = 0; i < reader.tensors().size(); ++i) {
    if (auto s = reader.Decode(i, &tensor); !s.ok()) return s;
    absl::string_view bytes =
        tensor.dtype == DType::kF32
            ? absl::string_view(
                  reinterpret_cast<const char*>(tensor.values.data()),
                  tensor.values.size() * sizeof(float))
            : absl::string_view(
                  reinterpret_cast<const char*>(tensor.bytes.data()),
                  tensor.bytes.size());
    if (auto s = (*writer)->Append(tensor.info.name, bytes); !s.ok()) return s;
  }
  return (*writer)->Finish();
}

}  // namespace condense::codec
