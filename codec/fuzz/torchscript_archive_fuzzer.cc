// libFuzzer target for the TorchScript archive reader the server runs on
// every uploaded TorchScript model: arbitrary bytes as a zip archive. Any
// crash, hang, leak or sanitizer report is a bug; errors are expected.
#include <cstddef>
#include <cstdint>
#include <string>

#include "codec/torchscript_archive.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  auto calls = condense::codec::TorchScriptCalls(
      bytes.size(),
      [&bytes](uint64_t offset, uint64_t n) -> absl::StatusOr<std::string> {
        if (offset > bytes.size()) return std::string();
        return bytes.substr(offset, n);
      });
  if (calls.ok()) {
    for (const auto& call : *calls) {
      if (call.spelling.empty() || call.ops.empty()) __builtin_trap();
    }
  }
  return 0;
}
