#include "codec/torchscript_archive.h"

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace condense::codec {
namespace {

constexpr uint32_t kEndOfCentralDirectory = 0x06054b50;
constexpr uint32_t kZip64Locator = 0x07064b50;
constexpr uint32_t kZip64End = 0x06064b50;
constexpr uint32_t kCentralHeader = 0x02014b50;
constexpr uint32_t kLocalHeader = 0x04034b50;
constexpr uint64_t kEndSize = 22;
constexpr uint64_t kMaxComment = 0xFFFF;
// A central directory entry is 46 bytes and a name; a TorchScript archive
// holds a few entries per tensor and per module, so this is generous.
constexpr uint64_t kMaxCentralDirectory = 64ull << 20;

// Debian's Abseil has its own string_view.
absl::string_view A(std::string_view s) { return {s.data(), s.size()}; }

uint64_t Le(std::string_view b, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) {
    v = (v << 8) | static_cast<unsigned char>(b[at + i]);
  }
  return v;
}

absl::Status Damaged(std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(
      "the TorchScript file is damaged (", A(what),
      "): save the model again with torch.jit.save and upload it again"));
}

struct Entry {
  std::string name;
  uint32_t method = 0;
  uint32_t crc = 0;
  uint64_t compressed = 0;
  uint64_t size = 0;
  uint64_t local_offset = 0;
};

struct Directory {
  uint64_t offset = 0;
  uint64_t size = 0;
};

absl::StatusOr<std::string> ReadExactly(const ReadAt& read, uint64_t offset,
                                        uint64_t size, std::string_view what) {
  auto bytes = read(offset, size);
  if (!bytes.ok()) return bytes.status();
  if (bytes->size() != size) {
    return Damaged(absl::StrCat(A(what), " is cut off"));
  }
  return bytes;
}

absl::StatusOr<Directory> FindCentralDirectory(uint64_t archive_size,
                                               const ReadAt& read) {
  if (archive_size < kEndSize) return Damaged("too short for a zip archive");
  const uint64_t tail_size = std::min(archive_size, kEndSize + kMaxComment);
  const uint64_t tail_offset = archive_size - tail_size;
  auto tail = ReadExactly(read, tail_offset, tail_size, "the zip's end");
  if (!tail.ok()) return tail.status();
  // The end record is the last one whose comment reaches the file's end.
  for (uint64_t at = tail_size - kEndSize + 1; at-- > 0;) {
    if (Le(*tail, at, 4) != kEndOfCentralDirectory) continue;
    if (at + kEndSize + Le(*tail, at + 20, 2) != tail_size) continue;
    Directory d{Le(*tail, at + 16, 4), Le(*tail, at + 12, 4)};
    const uint64_t end_offset = tail_offset + at;
    if (end_offset >= 20) {
      auto locator =
          ReadExactly(read, end_offset - 20, 20, "the zip64 locator");
      if (!locator.ok()) return locator.status();
      if (Le(*locator, 0, 4) == kZip64Locator) {
        const uint64_t z64 = Le(*locator, 8, 8);
        if (z64 > end_offset - 20 || end_offset - 20 - z64 < 56) {
          return Damaged("the zip64 end record lies outside the file");
        }
        auto end64 = ReadExactly(read, z64, 56, "the zip64 end record");
        if (!end64.ok()) return end64.status();
        if (Le(*end64, 0, 4) != kZip64End) {
          return Damaged("the zip64 end record has a wrong signature");
        }
        d = {Le(*end64, 48, 8), Le(*end64, 40, 8)};
      }
    }
    if (d.offset > end_offset || d.size > end_offset - d.offset) {
      return Damaged("the central directory lies outside the file");
    }
    if (d.size > kMaxCentralDirectory) {
      return Damaged(absl::StrCat("a central directory of ", d.size,
                                  " bytes is beyond any TorchScript model"));
    }
    return d;
  }
  return absl::InvalidArgumentError(
      "the file is not a zip archive (no end of central directory): save the "
      "model with torch.jit.save(torch.jit.script(model), path)");
}

absl::StatusOr<std::vector<Entry>> ParseCentralDirectory(std::string_view cd) {
  std::vector<Entry> entries;
  size_t at = 0;
  while (at < cd.size()) {
    if (cd.size() - at < 46 || Le(cd, at, 4) != kCentralHeader) {
      return Damaged("a central directory entry is cut off or misplaced");
    }
    Entry e;
    e.method = static_cast<uint32_t>(Le(cd, at + 10, 2));
    e.crc = static_cast<uint32_t>(Le(cd, at + 16, 4));
    e.compressed = Le(cd, at + 20, 4);
    e.size = Le(cd, at + 24, 4);
    const size_t name_len = Le(cd, at + 28, 2);
    const size_t extra_len = Le(cd, at + 30, 2);
    const size_t comment_len = Le(cd, at + 32, 2);
    e.local_offset = Le(cd, at + 42, 4);
    const size_t total = 46 + name_len + extra_len + comment_len;
    if (cd.size() - at < total) {
      return Damaged("a central directory entry runs past the directory");
    }
    e.name = std::string(cd.substr(at + 46, name_len));
    // Zip64: the 32-bit fields that overflowed are in extra field 1.
    std::string_view extra = cd.substr(at + 46 + name_len, extra_len);
    while (extra.size() >= 4) {
      const uint64_t id = Le(extra, 0, 2);
      const size_t len = Le(extra, 2, 2);
      if (extra.size() - 4 < len) return Damaged("an extra field is cut off");
      if (id == 1) {
        std::string_view f = extra.substr(4, len);
        for (uint64_t* field : {&e.size, &e.compressed, &e.local_offset}) {
          if (*field != 0xFFFFFFFF) continue;
          if (f.size() < 8) return Damaged("a zip64 extra field is cut off");
          *field = Le(f, 0, 8);
          f.remove_prefix(8);
        }
      }
      extra.remove_prefix(4 + len);
    }
    entries.push_back(std::move(e));
    at += total;
  }
  return entries;
}

// `archive/code/**.py`, as torch.jit.save names the saved code.
bool IsCodeFile(std::string_view name) {
  const size_t slash = name.find('/');
  return slash != std::string_view::npos &&
         name.substr(slash + 1).starts_with("code/") && name.ends_with(".py");
}

absl::StatusOr<std::string> ReadEntry(const Entry& e, uint64_t archive_size,
                                      const ReadAt& read) {
  if (e.local_offset > archive_size || archive_size - e.local_offset < 30) {
    return Damaged(absl::StrCat(e.name, "'s header lies outside the file"));
  }
  auto local = ReadExactly(read, e.local_offset, 30, e.name);
  if (!local.ok()) return local.status();
  if (Le(*local, 0, 4) != kLocalHeader) {
    return Damaged(absl::StrCat(e.name, "'s header has a wrong signature"));
  }
  const uint64_t data =
      e.local_offset + 30 + Le(*local, 26, 2) + Le(*local, 28, 2);
  if (data > archive_size || archive_size - data < e.compressed) {
    return Damaged(absl::StrCat(e.name, " runs past the end of the file"));
  }
  std::string out;
  if (e.method == 0) {
    if (e.compressed != e.size) {
      return Damaged(absl::StrCat(e.name, " is stored with two sizes"));
    }
    auto bytes = ReadExactly(read, data, e.compressed, e.name);
    if (!bytes.ok()) return bytes.status();
    out = *std::move(bytes);
  } else if (e.method == 8) {
    auto packed = ReadExactly(read, data, e.compressed, e.name);
    if (!packed.ok()) return packed.status();
    out.resize(e.size);
    z_stream z{};
    if (inflateInit2(&z, -MAX_WBITS) != Z_OK) {
      return absl::InternalError("zlib's inflateInit2 failed");
    }
    z.next_in = reinterpret_cast<Bytef*>(packed->data());
    z.avail_in = static_cast<uInt>(packed->size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    const int rc = inflate(&z, Z_FINISH);
    const uint64_t produced = z.total_out;
    inflateEnd(&z);
    if (rc != Z_STREAM_END || produced != e.size) {
      return Damaged(absl::StrCat(e.name, " does not inflate to its size"));
    }
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("the TorchScript file's ", e.name,
                     " uses zip compression method ", e.method,
                     " (torch.jit.save writes 0 or 8): save the model again "
                     "with torch.jit.save"));
  }
  const uint32_t crc =
      static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(out.data()),
                                  static_cast<uInt>(out.size())));
  if (crc != e.crc) return Damaged(absl::StrCat(e.name, "'s CRC-32 differs"));
  return out;
}

bool IdentStart(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_';
}
bool IdentChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}

}  // namespace

void ScanTorchScriptCode(std::string_view code, std::string_view file,
                         std::set<TorchScriptCall>& calls) {
  size_t i = 0;
  const size_t n = code.size();
  while (i < n) {
    const char c = code[i];
    if (c == '#') {
      while (i < n && code[i] != '\n') ++i;
    } else if (c == '"' || c == '\'') {
      const bool triple = code.substr(i, 3) == std::string(3, c);
      const std::string close = triple ? std::string(3, c) : std::string(1, c);
      i += close.size();
      while (i < n && code.substr(i, close.size()) != close) {
        i += code[i] == '\\' ? 2 : 1;
      }
      i += close.size();
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      while (i < n && (IdentChar(code[i]) || code[i] == '.')) ++i;
    } else if (IdentStart(c)) {
      const bool after_dot = i > 0 && code[i - 1] == '.';
      const size_t start = i;
      std::vector<std::string_view> parts;
      while (true) {
        const size_t p = i;
        while (i < n && IdentChar(code[i])) ++i;
        parts.push_back(code.substr(p, i - p));
        if (i + 1 < n && code[i] == '.' && IdentStart(code[i + 1])) {
          ++i;
        } else {
          break;
        }
      }
      size_t j = i;
      while (j < n && (code[j] == ' ' || code[j] == '\t')) ++j;
      if (after_dot || j >= n || code[j] != '(') continue;
      TorchScriptCall call;
      if (parts.size() == 2 && parts[0] == "torch") {
        call.ops = {absl::StrCat("aten::", A(parts[1])),
                    absl::StrCat("prim::", A(parts[1]))};
      } else if (parts.size() == 3 && parts[0] == "ops") {
        call.ops = {absl::StrCat(A(parts[1]), "::", A(parts[2]))};
      } else {
        continue;
      }
      call.spelling = std::string(code.substr(start, i - start));
      call.file = std::string(file);
      calls.insert(std::move(call));
    } else {
      ++i;
    }
  }
}

absl::StatusOr<std::set<TorchScriptCall>> TorchScriptCalls(
    uint64_t archive_size, const ReadAt& read) {
  auto dir = FindCentralDirectory(archive_size, read);
  if (!dir.ok()) return dir.status();
  auto cd = ReadExactly(read, dir->offset, dir->size, "the central directory");
  if (!cd.ok()) return cd.status();
  auto entries = ParseCentralDirectory(*cd);
  if (!entries.ok()) return entries.status();
  std::set<TorchScriptCall> calls;
  uint64_t code_bytes = 0;
  bool any_code = false;
  for (const Entry& e : *entries) {
    if (!IsCodeFile(e.name)) continue;
    any_code = true;
    if (e.size > kMaxCodeBytes - code_bytes || e.compressed > kMaxCodeBytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the TorchScript file's code is larger than ", kMaxCodeBytes >> 20,
          " MiB, beyond what condense checks: split the model or save it "
          "without unused methods"));
    }
    code_bytes += e.size;
    auto code = ReadEntry(e, archive_size, read);
    if (!code.ok()) return code.status();
    ScanTorchScriptCode(*code, e.name, calls);
  }
  if (!any_code) {
    return absl::InvalidArgumentError(
        "the zip archive holds no TorchScript code (no archive/code/*.py): "
        "save the model with torch.jit.save(torch.jit.script(model), path), "
        "not torch.save");
  }
  return calls;
}

std::vector<TorchScriptCall> UnknownCalls(
    const std::set<TorchScriptCall>& calls,
    std::span<const std::string_view> known) {
  std::vector<TorchScriptCall> unknown;
  for (const TorchScriptCall& call : calls) {
    const bool found = std::any_of(
        call.ops.begin(), call.ops.end(), [&](const std::string& op) {
          const std::string_view name = op;
          return std::binary_search(known.begin(), known.end(), name);
        });
    if (!found) unknown.push_back(call);
  }
  return unknown;
}

}  // namespace condense::codec
