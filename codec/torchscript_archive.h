// What a TorchScript archive (torch.jit.save's zip) calls, read without
// LibTorch: the server checks at upload that the workers' LibTorch has every
// op a model's saved code calls, so a model saved by a newer PyTorch is
// refused before a job is queued, not when a worker loads it.
//
// The archive is read through `ReadAt` (a file, a blob): the zip's central
// directory (zip64 too), then each `code/**.py` entry (stored or deflated;
// the CRC-32 is checked). Sizes are bounded (kMaxCodeBytes) so a hostile
// archive cannot make the reader allocate more than a few MiB beyond them.
// Pure functions; thread-safe.
#ifndef CONDENSE_CODEC_TORCHSCRIPT_ARCHIVE_H_
#define CONDENSE_CODEC_TORCHSCRIPT_ARCHIVE_H_

#include <cstdint>
#include <functional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace condense::codec {

// Reads `size` bytes at `offset` (fewer only at the end of the archive).
using ReadAt =
    std::function<absl::StatusOr<std::string>(uint64_t offset, uint64_t size)>;

// The TorchScript code of all entries, uncompressed, summed, at most.
inline constexpr uint64_t kMaxCodeBytes = 64ull << 20;

// One op the saved code calls, as the code spells it ("torch.relu",
// "ops.prim.device") and the operator names it may resolve to
// ("aten::relu", "prim::relu"; "prim::device").
struct TorchScriptCall {
  std::string spelling;
  std::vector<std::string> ops;
  std::string file;  // The first code file that calls it.

  bool operator<(const TorchScriptCall& o) const {
    return spelling < o.spelling;
  }
};

// The ops called in the archive's code files, each once. INVALID_ARGUMENT
// (the message says what is wrong) when the file is not a zip archive or
// is damaged, or has no code (not saved by torch.jit.save).
absl::StatusOr<std::set<TorchScriptCall>> TorchScriptCalls(
    uint64_t archive_size, const ReadAt& read);

// The calls of one code file's text (strings and comments skipped): a call
// is `torch.NAME(` or `ops.NAMESPACE.NAME(` not preceded by an identifier
// or a dot (so `__torch__.torch.nn.X(` and `self.torch.x(` are not calls).
void ScanTorchScriptCode(std::string_view code, std::string_view file,
                         std::set<TorchScriptCall>& calls);

// The calls none of whose operator names is in `known` (sorted).
std::vector<TorchScriptCall> UnknownCalls(
    const std::set<TorchScriptCall>& calls,
    std::span<const std::string_view> known);

}  // namespace condense::codec

#endif  // CONDENSE_CODEC_TORCHSCRIPT_ARCHIVE_H_
