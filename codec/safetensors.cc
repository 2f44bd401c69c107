#include "codec/safetensors.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "codec/byte_io.h"
#include "codec/cdz_section.h"
#include "nlohmann/json.hpp"

namespace condense::codec {
namespace {

// Header size limit of the reference implementation.
constexpr uint64_t kMaxHeaderBytes = 100 * 1000 * 1000;
constexpr uint64_t kMaxElements = uint64_t{1} << 40;

absl::Status Bad(const std::string& file, absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat(file, ": not a valid safetensors file: ", what));
}

}  // namespace

absl::StatusOr<std::unique_ptr<SafetensorsReader>> SafetensorsReader::Open(
    std::unique_ptr<RandomAccessFile> file) {
  std::unique_ptr<SafetensorsReader> r(new SafetensorsReader(std::move(file)));
  if (auto s = r->Load(); !s.ok()) return s;
  return r;
}

absl::StatusOr<std::unique_ptr<SafetensorsReader>> SafetensorsReader::OpenPath(
    const std::string& path) {
  auto file = OpenRandomAccessFile(path);
  if (!file.ok()) return file.status();
  return Open(*std::move(file));
}

absl::Status SafetensorsReader::Load() {
  const std::string& name = file_->Name();
  const uint64_t size = file_->Size();
  if (size < 8) return Bad(name, "shorter than its 8-byte header length");
  uint8_t len_bytes[8];
  if (auto s = file_->ReadAt(0, 8, len_bytes); !s.ok()) return s;
  const uint64_t header_len = LoadLE64(len_bytes);
  if (header_len > kMaxHeaderBytes || header_len > size - 8) {
    return Bad(name, absl::StrCat("header length ", header_len,
                                  " exceeds the file or the 100 MB limit"));
  }
  std::string header(header_len, '\0');
  if (auto s = file_->ReadAt(8, header_len,
                             reinterpret_cast<uint8_t*>(header.data()));
      !s.ok())
    return s;
  const uint64_t data_start = 8 + header_len;
  const uint64_t data_size = size - data_start;
  nlohmann::json j = nlohmann::json::parse(header, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return Bad(name, "header is not a JSON object");
  }
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it->is_object()) return Bad(name, "__metadata__ is not an object");
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string()) {
          return Bad(name, "__metadata__ values must be strings");
        }
        metadata_[m.key()] = m->get<std::string>();
      }
      continue;
    }
    const auto& v = *it;
    SafetensorsEntry e;
    e.name = it.key();
    const std::string where = absl::StrCat("tensor '", e.name, "'");
    if (!v.is_object() || !v.contains("dtype") || !v["dtype"].is_string() ||
        !v.contains("shape") || !v["shape"].is_array() ||
        !v.contains("data_offsets") || !v["data_offsets"].is_array() ||
        v["data_offsets"].size() != 2) {
      return Bad(name, absl::StrCat(where,
                                    " needs dtype, shape and "
                                    "data_offsets [begin, end]"));
    }
    auto dtype = DTypeFromName(v["dtype"].get<std::string>());
    if (!dtype) {
      return Bad(name, absl::StrCat(where, " has unsupported dtype ",
                                    v["dtype"].get<std::string>()));
    }
    e.dtype = *dtype;
    for (const auto& d : v["shape"]) {
      if (!d.is_number_unsigned()) {
        return Bad(name, absl::StrCat(where, " has a non-integer dimension"));
      }
      e.shape.push_back(d.get<uint64_t>());
    }
    if (e.shape.size() > cdz::kMaxRank) {
      return Bad(name, absl::StrCat(where, " has rank above ", cdz::kMaxRank));
    }
    auto numel = cdz::ElementCount(e.shape, kMaxElements);
    if (!numel.ok()) {
      return Bad(name, absl::StrCat(where, ": ", numel.status().message()));
    }
    e.numel = *numel;
    const auto& off = v["data_offsets"];
    if (!off[0].is_number_unsigned() || !off[1].is_number_unsigned()) {
      return Bad(name, absl::StrCat(where, " has non-integer data_offsets"));
    }
    const uint64_t begin = off[0].get<uint64_t>();
    const uint64_t end = off[1].get<uint64_t>();
    if (begin > end || end > data_size) {
      return Bad(name,
                 absl::StrCat(where, " data_offsets [", begin, ", ", end,
                              "] fall outside the ", data_size, " data bytes"));
    }
    if (end - begin != e.numel * DTypeSize(e.dtype)) {
      return Bad(name, absl::StrCat(where, " has ", end - begin,
                                    " bytes; its shape and dtype need ",
                                    e.numel * DTypeSize(e.dtype)));
    }
    e.data_offset = data_start + begin;
    e.data_bytes = end - begin;
    entries_.push_back(std::move(e));
  }
  std::sort(entries_.begin(), entries_.end(),
            [](const SafetensorsEntry& a, const SafetensorsEntry& b) {
              return a.data_offset < b.data_offset;
            });
  for (size_t i = 1; i < entries_.size(); ++i) {
    if (entries_[i].data_offset <
        entries_[i - 1].data_offset + entries_[i - 1].data_bytes) {
      return Bad(name, absl::StrCat("tensors '", entries_[i - 1].name,
                                    "' and '", entries_[i].name, "' overlap"));
    }
  }
  return absl::OkStatus();
}

absl::Status SafetensorsReader::ReadBytes(const SafetensorsEntry& e,
                                          std::vector<uint8_t>* out) const {
  out->resize(e.data_bytes);
  return file_->ReadAt(e.data_offset, e.data_bytes, out->data());
}

absl::Status SafetensorsReader::ReadFloat32(const SafetensorsEntry& e,
                                            std::vector<float>* out) const {
  if (!IsFloatingDType(e.dtype)) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", e.name, "' is ",
                                                   DTypeName(e.dtype),
                                                   ", not a floating type"));
  }
  std::vector<uint8_t> bytes;
  if (auto s = ReadBytes(e, &bytes); !s.ok()) return s;
  out->resize(e.numel);
  ConvertToFloat32(e.dtype, bytes.data(), e.numel, out->data());
  return absl::OkStatus();
}

absl::Status SafetensorsReader::ReadBytesInto(const SafetensorsEntry& e,
                                              std::span<uint8_t> out) const {
  if (out.size() != e.data_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor '", e.name, "' has ", e.data_bytes,
                     " bytes; the buffer holds ", out.size()));
  }
  return file_->ReadAt(e.data_offset, e.data_bytes, out.data());
}

absl::Status SafetensorsReader::ReadFloat32Into(const SafetensorsEntry& e,
                                                std::span<float> out) const {
  if (!IsFloatingDType(e.dtype)) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", e.name, "' is ",
                                                   DTypeName(e.dtype),
                                                   ", not a floating type"));
  }
  if (out.size() != e.numel) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor '", e.name, "' has ", e.numel,
                     " elements; the buffer holds ", out.size()));
  }
  if (e.dtype == DType::kF32) {
    return file_->ReadAt(e.data_offset, e.data_bytes,
                         reinterpret_cast<uint8_t*>(out.data()));
  }
  constexpr uint64_t kChunk = uint64_t{1} << 20;  // elements
  const size_t width = DTypeSize(e.dtype);
  std::vector<uint8_t> chunk;
  for (uint64_t i = 0; i < e.numel; i += kChunk) {
    const uint64_t n = std::min(kChunk, e.numel - i);
    chunk.resize(n * width);
    if (auto s =
            file_->ReadAt(e.data_offset + i * width, n * width, chunk.data());
        !s.ok()) {
      return s;
    }
    ConvertToFloat32(e.dtype, chunk.data(), n, out.data() + i);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<SafetensorsWriter>> SafetensorsWriter::Create(
    std::unique_ptr<WritableFile> file, std::vector<Tensor> tensors,
    const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    if (t.name == "__metadata__" || header.contains(t.name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor name '", t.name, "' is reserved or repeated"));
    }
    auto numel = cdz::ElementCount(t.shape, kMaxElements);
    if (!numel.ok()) return numel.status();
    const uint64_t bytes = *numel * DTypeSize(t.dtype);
    header[t.name] = {{"dtype", static_cast<std::string>(DTypeName(t.dtype))},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  // Names from a damaged source must not abort the export.
  std::string text =
      header.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  // Pad with spaces so the data starts 8-byte aligned.
  text.append((8 - text.size() % 8) % 8, ' ');
  std::string prefix;
  ByteWriter(&prefix).U64(text.size());
  if (auto s = file->Append(prefix); !s.ok()) return s;
  if (auto s = file->Append(text); !s.ok()) return s;
  return std::unique_ptr<SafetensorsWriter>(
      new SafetensorsWriter(std::move(file), std::move(tensors)));
}

absl::Status SafetensorsWriter::Append(const std::string& name,
                                       absl::string_view bytes) {
  if (next_ >= tensors_.size() || tensors_[next_].name != name) {
    return absl::FailedPreconditionError(
        absl::StrCat("tensor '", name, "' appended out of the declared order"));
  }
  const Tensor& t = tensors_[next_];
  uint64_t numel = 1;
  for (uint64_t d : t.shape) numel *= d;
  if (bytes.size() != numel * DTypeSize(t.dtype)) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor '", name, "': ", bytes.size(), " bytes, declared ",
                     numel * DTypeSize(t.dtype)));
  }
  ++next_;
  return file_->Append(bytes);
}

absl::Status SafetensorsWriter::Finish() {
  if (next_ != tensors_.size()) {
    return absl::FailedPreconditionError(
        absl::StrCat(tensors_.size() - next_, " declared tensors not written"));
  }
  return file_->Close();
}

}  // namespace condense::codec
