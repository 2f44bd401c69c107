// libFuzzer target for the ONNX reader and writer: parses arbitrary bytes as
// an ONNX model, reads every tensor it indexes and writes the model back
// inline. Any crash, hang, leak or sanitizer report is a bug; errors are
// expected. External data is refused (no directory), so the fuzzer never
// touches the file system but for the one output file.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "absl/strings/string_view.h"
#include "codec/onnx_model.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using condense::codec::OnnxModel;
  using condense::codec::OnnxModelWriter;
  using condense::codec::OnnxTensor;
  auto model = OnnxModel::Parse(
      absl::string_view(reinterpret_cast<const char*>(data), size), "fuzz", "");
  if (!model.ok()) return 0;
  uint64_t total = 0;
  for (const OnnxTensor& t : (*model)->tensors()) total += t.bytes();
  if (total > (uint64_t{64} << 20)) return 0;  // Keep each run small.
  static const std::string out =
      "/tmp/onnx_model_fuzzer." + std::to_string(getpid()) + ".onnx";
  auto writer = OnnxModelWriter::Create(model->get(), out, false);
  if (!writer.ok()) return 0;
  for (size_t i = 0; i < (*model)->tensors().size(); ++i) {
    auto bytes = (*model)->Read(i);
    if (!bytes.ok()) return 0;
    if (!(*writer)
             ->Append(i, absl::string_view(
                             reinterpret_cast<const char*>(bytes->data()),
                             bytes->size()))
             .ok()) {
      return 0;
    }
  }
  if ((*writer)->Finish().ok()) std::remove(out.c_str());
  return 0;
}
