#include "worker/engine/idx_file.h"

#include <zlib.h>

#include <algorithm>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace condense::engine {
namespace {

struct GzCloser {
  void operator()(gzFile f) const { gzclose(f); }
};
using GzFile = std::unique_ptr<gzFile_s, GzCloser>;

// Reads exactly n bytes; gzread reads plain files transparently.
absl::Status ReadExactly(gzFile f, const std::string& path, void* out,
                         uint64_t n, absl::string_view what) {
  auto* dst = static_cast<uint8_t*>(out);
  while (n > 0) {
    unsigned chunk = static_cast<unsigned>(std::min<uint64_t>(n, 1u << 30));
    int got = gzread(f, dst, chunk);
    if (got <= 0) {
      int err = 0;
      const char* msg = gzerror(f, &err);
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": truncated or unreadable IDX file while reading its ", what,
          err != Z_OK ? absl::StrCat(" (", msg, ")") : std::string()));
    }
    dst += got;
    n -= static_cast<uint64_t>(got);
  }
  return absl::OkStatus();
}

}  // namespace

int64_t IdxArray::numel() const {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

size_t IdxTypeSize(IdxType type) {
  switch (type) {
    case IdxType::kU8:
    case IdxType::kI8:
      return 1;
    case IdxType::kI16:
      return 2;
    case IdxType::kI32:
    case IdxType::kF32:
      return 4;
    case IdxType::kF64:
      return 8;
  }
  return 0;
}

absl::StatusOr<IdxArray> ReadIdxFile(const std::string& path,
                                     uint64_t max_bytes) {
  GzFile f(gzopen(path.c_str(), "rb"));
  if (!f) {
    return absl::NotFoundError(absl::StrCat("cannot open IDX file ", path));
  }
  uint8_t magic[4];
  if (auto st = ReadExactly(f.get(), path, magic, 4, "magic number");
      !st.ok()) {
    return st;
  }
  IdxArray out;
  out.type = static_cast<IdxType>(magic[2]);
  const int rank = magic[3];
  if (magic[0] != 0 || magic[1] != 0 || IdxTypeSize(out.type) == 0 ||
      rank == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, " is not an IDX file: its magic number is ",
        absl::StrJoin(magic, magic + 4, " "),
        " (expected 0 0 TYPE RANK, e.g. 0 0 8 3 for uint8 images)"));
  }
  uint64_t bytes = IdxTypeSize(out.type);
  for (int i = 0; i < rank; ++i) {
    uint8_t be[4];
    if (auto st = ReadExactly(f.get(), path, be, 4, "dimensions"); !st.ok()) {
      return st;
    }
    const uint64_t dim = (uint64_t{be[0]} << 24) | (uint64_t{be[1]} << 16) |
                         (uint64_t{be[2]} << 8) | be[3];
    if (dim == 0 || bytes > max_bytes / dim) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": dimension ", i, " is ", dim,
                       dim == 0 ? ", an empty array"
                                : absl::StrCat(", which makes the data larger "
                                               "than the limit of ",
                                               max_bytes, " bytes")));
    }
    bytes *= dim;
    out.dims.push_back(static_cast<int64_t>(dim));
  }
  out.data.resize(bytes);
  if (auto st = ReadExactly(f.get(), path, out.data.data(), bytes, "data");
      !st.ok()) {
    return st;
  }
  // Data is big-endian; convert to native.
  const size_t width = IdxTypeSize(out.type);
  if (width > 1) {
    for (size_t i = 0; i < out.data.size(); i += width) {
      std::reverse(out.data.begin() + i, out.data.begin() + i + width);
    }
  }
  return out;
}

}  // namespace condense::engine
