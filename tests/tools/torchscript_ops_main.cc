// Runs the server's upload check of TorchScript (codec/torchscript_archive.h
// against the build's LibTorch operators) over files, for the tests: prints
// each call no operator answers and exits 1 when there is one, 2 when a
// file cannot be read as TorchScript.
//
//   torchscript-ops MODEL.pt...
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>

#include "codec/torchscript_archive.h"
#include "worker/known_torch_ops.h"

int main(int argc, char** argv) {
  const auto& known = condense::worker::BuiltInTorchOps();
  if (known.names.empty()) {
    std::cerr << "torchscript-ops: this build has no list of operators\n";
    return 2;
  }
  int rc = 0;
  for (int i = 1; i < argc; ++i) {
    std::ifstream in(argv[i], std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)),
                            std::istreambuf_iterator<char>());
    auto calls = condense::codec::TorchScriptCalls(
        bytes.size(),
        [&bytes](uint64_t offset, uint64_t n) -> absl::StatusOr<std::string> {
          if (offset > bytes.size()) return std::string();
          return bytes.substr(offset, n);
        });
    if (!calls.ok()) {
      std::cerr << argv[i] << ": " << calls.status() << "\n";
      return 2;
    }
    const auto unknown = condense::codec::UnknownCalls(*calls, known.names);
    std::cout << argv[i] << ": " << calls->size() << " ops called, "
              << unknown.size() << " unknown to LibTorch "
              << known.libtorch_version << "\n";
    for (const auto& c : unknown) {
      std::cout << "  " << c.ops.front() << " (" << c.spelling << " in "
                << c.file << ")\n";
      rc = 1;
    }
  }
  return rc;
}
