// libFuzzer target for the .cdz decoder: opens arbitrary bytes as a container,
// decodes every tensor, computes the size report and exports to safetensors.
// Any crash, hang, leak or sanitizer report is a bug; errors are expected.
#include <cstddef>
#include <cstdint>
#include <string>

#include "codec/cdz_export.h"
#include "codec/cdz_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace condense::codec;
  ReaderOptions options;
  options.max_tensor_elements = 1 << 22;  // Keep each run small.
  auto reader = CdzReader::Open(
      NewMemoryFile(std::string(reinterpret_cast<const char*>(data), size),
                    "fuzz"),
      options);
  if (!reader.ok()) return 0;
  DecodedTensor t;
  for (size_t i = 0; i < (*reader)->tensors().size(); ++i) {
    (void)(*reader)->Decode(i, &t);
  }
  (void)(*reader)->Sizes();
  std::string out;
  (void)ExportSafetensors(**reader, NewStringFile(&out));
  return 0;
}
