#include "codec/cdz_reader.h"

#include <cstdint>
#include <cstring>
#include <set>

#include "absl/strings/str_cat.h"
#include "codec/crc32c.h"
#include "codec/quantized_tensor.h"

namespace condense::codec {

using cdz::SectionType;

namespace {

struct SectionHeader {
  uint32_t type = 0;
  uint32_t flags = 0;
  uint64_t length = 0;
};

SectionHeader ParseSectionHeader(const uint8_t* p) {
  return {LoadLE32(p), LoadLE32(p + 4), LoadLE64(p + 8)};
}

absl::Status DataLoss(absl::string_view where, absl::string_view what) {
  return absl::DataLossError(absl::StrCat(where, ": ", what));
}

// Fuzz builds accept any checksum so the fuzzer reaches the parsers behind
// it; the production build always verifies.
bool ChecksumOk(uint32_t computed, uint32_t stored) {
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
  (void)computed;
  (void)stored;
  return true;
#else
  return computed == stored;
#endif
}

// A whole section (header, payload, CRC) of `total` bytes.
bool SectionChecksumOk(const uint8_t* section, uint64_t total) {
  return ChecksumOk(Crc32c(section, total - 4), LoadLE32(section + total - 4));
}

std::span<const uint8_t> AsBytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

absl::Status OutOfRange(size_t i, size_t count) {
  return absl::OutOfRangeError(
      absl::StrCat("tensor ", i, " requested; the file has ", count));
}

std::span<uint8_t> FloatBytes(std::vector<float>& v) {
  return {reinterpret_cast<uint8_t*>(v.data()), v.size() * sizeof(float)};
}

absl::Status CheckDecodeAs(const cdz::TensorInfo& t, DType as) {
  if (IsFloatingDType(t.dtype) ? !IsFloatingDType(as) : as != t.dtype) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor '", t.name, "' is ", DTypeName(t.dtype),
                     " and cannot be decoded as ", DTypeName(as), "; ask for ",
                     IsFloatingDType(t.dtype) ? "F32, F16, BF16 or F64"
                                              : DTypeName(t.dtype)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<CdzReader>> CdzReader::Open(
    std::unique_ptr<RandomAccessFile> file, ReaderOptions options) {
  std::unique_ptr<CdzReader> r(new CdzReader(std::move(file), options));
  if (auto s = r->Load(); !s.ok()) return s;
  return r;
}

absl::StatusOr<std::unique_ptr<CdzReader>> CdzReader::OpenPath(
    const std::string& path, ReaderOptions options) {
  auto file = OpenRandomAccessFile(path);
  if (!file.ok()) return file.status();
  return Open(*std::move(file), options);
}

std::optional<size_t> CdzReader::Find(const std::string& name) const {
  for (size_t i = 0; i < tensors_.size(); ++i) {
    if (tensors_[i].name == name) return i;
  }
  return std::nullopt;
}

std::string CdzReader::Describe(uint64_t offset) const {
  for (const auto& t : tensors_) {
    if (t.section_offset == offset) {
      return absl::StrCat(file_->Name(), ": tensor '", t.name,
                          "' (section at byte ", offset, ")");
    }
  }
  return absl::StrCat(file_->Name(), ": section at byte ", offset);
}

absl::Status CdzReader::Load() {
  const std::string& name = file_->Name();
  const uint64_t size = file_->Size();
  if (size < cdz::kFileHeaderSize + cdz::kEndSectionSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        name, ": ", size, " bytes is too small to be a .cdz file"));
  }
  uint8_t header[cdz::kFileHeaderSize];
  if (auto s = file_->ReadAt(0, sizeof(header), header); !s.ok()) return s;
  if (std::memcmp(header, cdz::kMagic, sizeof(cdz::kMagic)) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": not a .cdz file (wrong magic bytes)"));
  }
  if (!ChecksumOk(Crc32c(header, 16), LoadLE32(header + 16))) {
    return DataLoss(name, "file header checksum mismatch: the file is damaged");
  }
  major_ = static_cast<uint16_t>(header[8] | (header[9] << 8));
  minor_ = static_cast<uint16_t>(header[10] | (header[11] << 8));
  if (major_ != cdz::kMajorVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        name, ": format version ", major_, ".", minor_,
        major_ > cdz::kMajorVersion ? " is newer than" : " is not supported by",
        " this decoder (reads ", cdz::kMajorVersion,
        ".x); upgrade condense to read it"));
  }
  if (LoadLE32(header + 12) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        name, ": file header sets flags this decoder does not know (",
        LoadLE32(header + 12), "); upgrade condense to read it"));
  }

  // The END section must be the last 28 bytes; without it the write was
  // interrupted or the file cut short.
  const uint64_t end_offset = size - cdz::kEndSectionSize;
  uint8_t end[cdz::kEndSectionSize];
  if (auto s = file_->ReadAt(end_offset, sizeof(end), end); !s.ok()) return s;
  const SectionHeader eh = ParseSectionHeader(end);
  if (eh.type != static_cast<uint32_t>(SectionType::kEnd) || eh.length != 8 ||
      !ChecksumOk(Crc32c(end, 24), LoadLE32(end + 24))) {
    return DataLoss(name,
                    "no valid end section: the file is truncated or damaged "
                    "(was its write interrupted?)");
  }
  const uint64_t index_offset = LoadLE64(end + 16);
  if (auto s = LoadIndex(index_offset); !s.ok()) return s;

  // Walk every section from the header to the END section. This checks the
  // framing and finds the manifest; tensor payloads are verified on Decode.
  uint64_t offset = cdz::kFileHeaderSize;
  size_t next_tensor = 0;
  bool have_manifest = false;
  bool have_index = false;
  container_bytes_ = cdz::kFileHeaderSize + cdz::kEndSectionSize;
  while (offset < end_offset) {
    uint8_t raw[cdz::kSectionHeaderSize];
    if (end_offset - offset < cdz::kSectionHeaderSize + 4) {
      return DataLoss(Describe(offset), "section header is cut short");
    }
    if (auto s = file_->ReadAt(offset, sizeof(raw), raw); !s.ok()) return s;
    const SectionHeader h = ParseSectionHeader(raw);
    const uint64_t room = end_offset - offset - cdz::kSectionHeaderSize -
                          cdz::kSectionTrailerSize;
    if (h.length > room) {
      return DataLoss(Describe(offset),
                      absl::StrCat("length ", h.length,
                                   " runs past the end of "
                                   "the file: it is truncated or damaged"));
    }
    const uint64_t total =
        cdz::kSectionHeaderSize + h.length + cdz::kSectionTrailerSize;
    // Where the index expects a tensor, anything else is damage to it.
    if (next_tensor < tensors_.size() &&
        tensors_[next_tensor].section_offset == offset &&
        (h.type != static_cast<uint32_t>(SectionType::kTensor) ||
         total != tensors_[next_tensor].section_size)) {
      return DataLoss(Describe(offset),
                      "section header is damaged (type or length)");
    }
    switch (static_cast<SectionType>(h.type)) {
      case SectionType::kManifest: {
        if (have_manifest) return DataLoss(name, "two manifest sections");
        have_manifest = true;
        std::string section(total, '\0');
        if (auto s = file_->ReadAt(offset, total,
                                   reinterpret_cast<uint8_t*>(section.data()));
            !s.ok())
          return s;
        if (!SectionChecksumOk(reinterpret_cast<const uint8_t*>(section.data()),
                               total)) {
          return DataLoss(name, "manifest checksum mismatch: it is damaged");
        }
        ByteReader r(
            AsBytes(section).subspan(cdz::kSectionHeaderSize, h.length),
            "manifest");
        uint32_t count = 0;
        if (auto s = r.U32("entry count", &count); !s.ok()) return s;
        for (uint32_t i = 0; i < count; ++i) {
          uint32_t klen = 0, vlen = 0;
          std::span<const uint8_t> k, v;
          if (auto s = r.U32("key length", &klen); !s.ok()) return s;
          if (auto s = r.Bytes("key", klen, &k); !s.ok()) return s;
          if (auto s = r.U32("value length", &vlen); !s.ok()) return s;
          if (auto s = r.Bytes("value", vlen, &v); !s.ok()) return s;
          std::string key(k.begin(), k.end());
          std::string value(v.begin(), v.end());
          if (!IsValidUtf8(key) || !IsValidUtf8(value)) {
            return DataLoss(name, "manifest entry is not valid UTF-8");
          }
          if (!manifest_.emplace(key, std::move(value)).second) {
            return DataLoss(name, absl::StrCat("manifest repeats key ", key));
          }
        }
        if (r.remaining() != 0) {
          return DataLoss(name, "manifest has trailing bytes");
        }
        container_bytes_ += total;
        break;
      }
      case SectionType::kTensor: {
        if (next_tensor >= tensors_.size() ||
            tensors_[next_tensor].section_offset != offset ||
            tensors_[next_tensor].section_size != total) {
          return DataLoss(Describe(offset),
                          "tensor section does not match the index");
        }
        ++next_tensor;
        break;
      }
      case SectionType::kIndex:
        if (offset != index_offset || have_index) {
          return DataLoss(name, "index section is not where the end says");
        }
        have_index = true;
        container_bytes_ += total;
        break;
      case SectionType::kEnd:
        return DataLoss(Describe(offset), "end section before the end");
      default:
        if (h.flags & cdz::kSectionRequired) {
          return absl::FailedPreconditionError(absl::StrCat(
              name, ": section type ", h.type, " at byte ", offset,
              " is required but unknown to this decoder; the file was written "
              "by a newer condense: upgrade to read it"));
        }
        container_bytes_ += total;  // Optional and unknown: skipped.
        break;
    }
    offset += total;
  }
  if (!have_manifest) return DataLoss(name, "no manifest section");
  if (!have_index || next_tensor != tensors_.size()) {
    return DataLoss(name, "index lists tensors the file does not hold");
  }
  return absl::OkStatus();
}

absl::Status CdzReader::LoadIndex(uint64_t offset) {
  const std::string& name = file_->Name();
  const uint64_t end_offset = file_->Size() - cdz::kEndSectionSize;
  if (offset < cdz::kFileHeaderSize ||
      offset + cdz::kSectionHeaderSize + cdz::kSectionTrailerSize >
          end_offset) {
    return DataLoss(name, "end section points outside the file");
  }
  uint8_t raw[cdz::kSectionHeaderSize];
  if (auto s = file_->ReadAt(offset, sizeof(raw), raw); !s.ok()) return s;
  const SectionHeader h = ParseSectionHeader(raw);
  const uint64_t total =
      cdz::kSectionHeaderSize + h.length + cdz::kSectionTrailerSize;
  if (h.type != static_cast<uint32_t>(SectionType::kIndex) ||
      h.length > end_offset - offset - cdz::kSectionHeaderSize -
                     cdz::kSectionTrailerSize ||
      offset + total != end_offset) {
    return DataLoss(name, "index section is missing or damaged");
  }
  std::string section(total, '\0');
  auto* bytes = reinterpret_cast<uint8_t*>(section.data());
  if (auto s = file_->ReadAt(offset, total, bytes); !s.ok()) return s;
  if (!SectionChecksumOk(bytes, total)) {
    return DataLoss(name, "index checksum mismatch: the index is damaged");
  }
  ByteReader r(AsBytes(section).subspan(cdz::kSectionHeaderSize, h.length),
               "index");
  uint32_t count = 0;
  if (auto s = r.U32("tensor count", &count); !s.ok()) return s;
  // Each entry takes at least 21 bytes: no allocation beyond the file.
  if (count > r.remaining() / 21) {
    return DataLoss(name, "index claims more tensors than it can hold");
  }
  tensors_.resize(count);
  std::set<std::string> names;
  uint64_t expected_offset = cdz::kFileHeaderSize;
  for (auto& t : tensors_) {
    if (auto s = r.U64("section offset", &t.section_offset); !s.ok()) return s;
    if (auto s = r.U64("section size", &t.section_size); !s.ok()) return s;
    if (auto s = cdz::ReadTensorHeader(&r, options_.max_tensor_elements, &t);
        !s.ok())
      return s;
    if (t.section_offset < expected_offset || t.section_offset > offset ||
        t.section_size > offset - t.section_offset) {
      return DataLoss(name, absl::StrCat("index entry for '", t.name,
                                         "' points outside the tensor area"));
    }
    expected_offset = t.section_offset + t.section_size;
    if (!names.insert(t.name).second) {
      return DataLoss(name, absl::StrCat("tensor name '", t.name,
                                         "' appears twice in the index"));
    }
  }
  if (r.remaining() != 0) return DataLoss(name, "index has trailing bytes");
  return absl::OkStatus();
}

absl::Status CdzReader::ReadTensorSection(size_t i, std::string* section,
                                          size_t* body_offset) const {
  if (i >= tensors_.size()) return OutOfRange(i, tensors_.size());
  const cdz::TensorInfo& t = tensors_[i];
  const std::string where = Describe(t.section_offset);
  section->resize(t.section_size);
  auto* bytes = reinterpret_cast<uint8_t*>(section->data());
  if (auto s = file_->ReadAt(t.section_offset, t.section_size, bytes); !s.ok())
    return s;
  if (!SectionChecksumOk(bytes, t.section_size)) {
    return DataLoss(where, "checksum mismatch: this tensor is damaged");
  }
  ByteReader r(
      AsBytes(*section).subspan(
          cdz::kSectionHeaderSize,
          t.section_size - cdz::kSectionHeaderSize - cdz::kSectionTrailerSize),
      where);
  cdz::TensorInfo header;
  if (auto s = cdz::ReadTensorHeader(&r, options_.max_tensor_elements, &header);
      !s.ok())
    return s;
  if (header.name != t.name || header.dtype != t.dtype ||
      header.shape != t.shape || header.encoding != t.encoding) {
    return DataLoss(where, "tensor header disagrees with the index");
  }
  *body_offset = cdz::kSectionHeaderSize + r.offset();
  return absl::OkStatus();
}

absl::Status CdzReader::Decode(size_t i, DecodedTensor* out) const {
  if (i >= tensors_.size()) return OutOfRange(i, tensors_.size());
  const cdz::TensorInfo& t = tensors_[i];
  out->info = t;
  DecodeScratch scratch;
  if (IsFloatingDType(t.dtype)) {
    out->dtype = DType::kF32;
    out->bytes.clear();
    // No clear(): the decoder overwrites every element, and keeping the old
    // contents spares zero-filling a reused buffer twice.
    out->values.resize(t.numel);
    return DecodeTo(i, DType::kF32, FloatBytes(out->values), &scratch);
  }
  out->dtype = t.dtype;
  out->values.clear();
  out->bytes.resize(t.numel * DTypeSize(t.dtype));
  return DecodeTo(i, t.dtype, std::span<uint8_t>(out->bytes), &scratch);
}

absl::StatusOr<uint64_t> CdzReader::ScratchBytes(size_t i, DType as) const {
  if (i >= tensors_.size()) return OutOfRange(i, tensors_.size());
  const cdz::TensorInfo& t = tensors_[i];
  if (auto s = CheckDecodeAs(t, as); !s.ok()) return s;
  const bool through_f32 =
      as != DType::kF32 && (IsQuantizedEncoding(t.encoding) || (as != t.dtype));
  return t.section_size + (through_f32 ? t.numel * 4 : 0);
}

absl::Status CdzReader::DecodeTo(size_t i, DType as, std::span<uint8_t> out,
                                 DecodeScratch* scratch) const {
  if (i >= tensors_.size()) return OutOfRange(i, tensors_.size());
  const cdz::TensorInfo& t = tensors_[i];
  if (auto s = CheckDecodeAs(t, as); !s.ok()) return s;
  if (out.size() != t.numel * DTypeSize(as)) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor '", t.name, "' has ", t.numel, " elements: as ",
                     DTypeName(as), " it needs ", t.numel * DTypeSize(as),
                     " bytes; the buffer has ", out.size()));
  }
  size_t body_offset = 0;
  if (auto s = ReadTensorSection(i, &scratch->section, &body_offset); !s.ok())
    return s;
  const std::string& section = scratch->section;
  const auto body = AsBytes(section).subspan(
      body_offset, section.size() - body_offset - cdz::kSectionTrailerSize);
  const std::string where = Describe(t.section_offset);
  // Float32 values go straight to `out` when it is F32, else through scratch.
  std::span<float> values;
  const bool direct =
      as == DType::kF32 &&
      reinterpret_cast<uintptr_t>(out.data()) % alignof(float) == 0;
  if (direct) {
    values = {reinterpret_cast<float*>(out.data()), t.numel};
  } else {
    scratch->values.resize(t.numel);
    values = std::span<float>(scratch->values);
  }
  if (IsQuantizedEncoding(t.encoding)) {
    if (!IsFloatingDType(t.dtype)) {
      return DataLoss(where, "quantized tensor with a non-floating dtype");
    }
    if (auto s = DecodeQuantized(t.encoding, body, values, where,
                                 options_.decode_threads);
        !s.ok()) {
      return s;
    }
  } else {
    const uint64_t expected = t.numel * DTypeSize(t.dtype);
    if (body.size() != expected) {
      return DataLoss(
          where, absl::StrCat("raw data has ", body.size(),
                              " bytes; its shape and dtype need ", expected));
    }
    if (as == t.dtype) {
      if (!body.empty()) std::memcpy(out.data(), body.data(), body.size());
      return absl::OkStatus();
    }
    ConvertToFloat32(t.dtype, body.data(), t.numel, values.data());
  }
  if (!direct) ConvertFromFloat32(as, values.data(), t.numel, out.data());
  return absl::OkStatus();
}

absl::StatusOr<ModelSize> CdzReader::Sizes() const {
  ModelSize m;
  m.file_bytes = file_->Size();
  m.container_bytes = container_bytes_;
  std::string section;
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const cdz::TensorInfo& t = tensors_[i];
    size_t body_offset = 0;
    if (auto s = ReadTensorSection(i, &section, &body_offset); !s.ok())
      return s;
    const uint64_t body_size =
        section.size() - body_offset - cdz::kSectionTrailerSize;
    TensorSize ts;
    ts.name = t.name;
    ts.encoding = t.encoding;
    ts.dtype = t.dtype;
    ts.numel = t.numel;
    ts.original_bytes = OriginalBytes(t.dtype, t.numel);
    ts.total_bytes = section.size();
    ts.overhead_bytes = section.size() - body_size;
    if (IsQuantizedEncoding(t.encoding)) {
      auto parts = AnalyzeQuantized(
          t.encoding, AsBytes(section).subspan(body_offset, body_size), t.numel,
          Describe(t.section_offset));
      if (!parts.ok()) return parts.status();
      AddQuantizedParts(*parts, &ts);
    } else {
      ts.raw_bytes = body_size;
      ts.nonzeros = t.numel;
    }
    m.tensors.push_back(std::move(ts));
  }
  return m;
}

}  // namespace condense::codec
