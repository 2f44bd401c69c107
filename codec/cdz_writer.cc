#include "codec/cdz_writer.h"

#include "absl/strings/str_cat.h"
#include "codec/crc32c.h"

namespace condense::codec {

using cdz::Encoding;
using cdz::SectionType;

namespace {

// Large enough for any real model, small enough that a product of dims can
// never overflow the byte counts derived from it.
constexpr uint64_t kMaxWriteElements = uint64_t{1} << 40;

}  // namespace

absl::StatusOr<std::unique_ptr<CdzWriter>> CdzWriter::Create(
    std::unique_ptr<WritableFile> file, const Manifest& manifest) {
  std::unique_ptr<CdzWriter> w(new CdzWriter(std::move(file)));
  std::string out;
  ByteWriter bw(&out);
  bw.Bytes(cdz::kMagic, sizeof(cdz::kMagic));
  bw.U16(cdz::kMajorVersion);
  bw.U16(cdz::kMinorVersion);
  bw.U32(0);  // Flags: none defined.
  bw.U32(Crc32c(out.data(), out.size()));

  std::string payload;
  ByteWriter pw(&payload);
  pw.U32(static_cast<uint32_t>(manifest.size()));
  for (const auto& [key, value] : manifest) {
    if (key.empty() || key.size() > UINT32_MAX || value.size() > UINT32_MAX ||
        !IsValidUtf8(key) || !IsValidUtf8(value)) {
      return absl::InvalidArgumentError(
          "manifest keys and values must be UTF-8 under 4 GiB, keys non-empty");
    }
    pw.U32(static_cast<uint32_t>(key.size()));
    pw.Bytes(key);
    pw.U32(static_cast<uint32_t>(value.size()));
    pw.Bytes(value);
  }
  cdz::AppendSection(SectionType::kManifest, cdz::kSectionRequired, payload,
                     &out);
  w->container_bytes_ = out.size();
  if (auto s = w->file_->Append(out); !s.ok()) return s;
  return w;
}

absl::Status CdzWriter::CheckTensor(const std::string& name,
                                    const std::vector<uint64_t>& shape,
                                    uint64_t* numel) {
  if (name.empty() || name.size() > cdz::kMaxNameBytes || !IsValidUtf8(name)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tensor name must be UTF-8 of 1..", cdz::kMaxNameBytes, " bytes"));
  }
  if (shape.size() > cdz::kMaxRank) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor '", name, "' has rank ", shape.size(),
                     "; at most ", cdz::kMaxRank, " is supported"));
  }
  auto n = cdz::ElementCount(shape, kMaxWriteElements);
  if (!n.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor '", name, "': ", n.status().message()));
  }
  *numel = *n;
  return absl::OkStatus();
}

absl::Status CdzWriter::CheckNewTensor(const std::string& name,
                                       const std::vector<uint64_t>& shape,
                                       uint64_t* numel) const {
  if (!error_.ok()) return error_;
  if (finished_) {
    return absl::FailedPreconditionError("writer already finished");
  }
  if (names_.count(name)) {
    return absl::AlreadyExistsError(
        absl::StrCat("tensor '", name, "' was already added"));
  }
  return CheckTensor(name, shape, numel);
}

absl::Status CdzWriter::AddRaw(const std::string& name, DType dtype,
                               const std::vector<uint64_t>& shape,
                               std::span<const uint8_t> bytes) {
  uint64_t numel = 0;
  if (auto s = CheckNewTensor(name, shape, &numel); !s.ok()) return s;
  if (DTypeSize(dtype) == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor '", name, "': unknown dtype"));
  }
  if (bytes.size() != numel * DTypeSize(dtype)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tensor '", name, "': ", bytes.size(), " bytes given, shape and ",
        DTypeName(dtype), " need ", numel * DTypeSize(dtype)));
  }
  cdz::TensorInfo info{name, dtype, shape, Encoding::kRaw, numel, 0, 0};
  TensorSize size;
  size.raw_bytes = bytes.size();
  size.nonzeros = numel;
  return WriteTensor(
      std::move(info),
      {reinterpret_cast<const char*>(bytes.data()), bytes.size()}, size);
}

absl::StatusOr<EncodedTensor> CdzWriter::EncodeQuantized(
    const std::string& name, DType source_dtype,
    const std::vector<uint64_t>& shape, std::span<const float> values,
    std::span<const float> codebook, const QuantizedEncodeOptions& options) {
  uint64_t numel = 0;
  if (auto s = CheckTensor(name, shape, &numel); !s.ok()) return s;
  if (!IsFloatingDType(source_dtype)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tensor '", name, "': only floating tensors can be quantized, not ",
        DTypeName(source_dtype)));
  }
  if (values.size() != numel) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor '", name, "': ", values.size(),
                     " values given, the shape has ", numel));
  }
  auto encoded = codec::EncodeQuantized(values, shape, codebook, options);
  if (!encoded.ok()) {
    return absl::Status(
        encoded.status().code(),
        absl::StrCat("tensor '", name, "': ", encoded.status().message()));
  }
  EncodedTensor t;
  t.body = std::move(encoded->body);
  t.info = {name, source_dtype, shape, encoded->encoding, numel, 0, 0};
  AddQuantizedParts(encoded->parts, &t.size);  // WriteTensor adds framing.
  t.size.alternatives = encoded->alternatives;
  return t;
}

absl::Status CdzWriter::AddEncoded(EncodedTensor tensor) {
  uint64_t numel = 0;
  if (auto s = CheckNewTensor(tensor.info.name, tensor.info.shape, &numel);
      !s.ok()) {
    return s;
  }
  return WriteTensor(std::move(tensor.info), tensor.body, tensor.size);
}

absl::Status CdzWriter::AddQuantized(const std::string& name,
                                     DType source_dtype,
                                     const std::vector<uint64_t>& shape,
                                     std::span<const float> values,
                                     std::span<const float> codebook,
                                     const QuantizedEncodeOptions& options) {
  uint64_t numel = 0;
  if (auto s = CheckNewTensor(name, shape, &numel); !s.ok()) return s;
  auto encoded =
      EncodeQuantized(name, source_dtype, shape, values, codebook, options);
  if (!encoded.ok()) return encoded.status();
  return AddEncoded(*std::move(encoded));
}

absl::Status CdzWriter::WriteTensor(cdz::TensorInfo info,
                                    absl::string_view body, TensorSize size) {
  // The section as AppendSection frames it, written in three pieces so the
  // body (a whole raw tensor, possibly large) is never copied.
  std::string header;
  {
    std::string tensor_header;
    ByteWriter th(&tensor_header);
    cdz::WriteTensorHeader(info, &th);
    ByteWriter w(&header);
    cdz::WriteSectionFrame(SectionType::kTensor, cdz::kSectionRequired,
                           tensor_header.size() + body.size(), &w);
    w.Bytes(tensor_header);
  }
  uint32_t crc = Crc32c(header.data(), header.size());
  crc = Crc32cExtend(crc, body.data(), body.size());
  std::string trailer;
  ByteWriter(&trailer).U32(crc);
  info.section_offset = file_->Size();
  info.section_size = header.size() + body.size() + trailer.size();
  for (absl::string_view piece :
       {absl::string_view(header), body, absl::string_view(trailer)}) {
    if (auto s = file_->Append(piece); !s.ok()) {
      error_ = s;
      return s;
    }
  }
  const uint64_t section_size = info.section_size;
  size.name = info.name;
  size.encoding = info.encoding;
  size.dtype = info.dtype;
  size.numel = info.numel;
  size.original_bytes = OriginalBytes(info.dtype, info.numel);
  size.total_bytes = section_size;
  size.overhead_bytes += section_size - body.size();
  sizes_.tensors.push_back(std::move(size));
  names_.insert(info.name);
  index_.push_back(std::move(info));
  return absl::OkStatus();
}

absl::Status CdzWriter::Finish() {
  if (!error_.ok()) return error_;
  if (finished_) return absl::FailedPreconditionError("already finished");
  finished_ = true;
  std::string payload;
  ByteWriter pw(&payload);
  pw.U32(static_cast<uint32_t>(index_.size()));
  for (const auto& info : index_) {
    pw.U64(info.section_offset);
    pw.U64(info.section_size);
    cdz::WriteTensorHeader(info, &pw);
  }
  std::string tail;
  const uint64_t index_offset = file_->Size();
  cdz::AppendSection(SectionType::kIndex, cdz::kSectionRequired, payload,
                     &tail);
  std::string end_payload;
  ByteWriter(&end_payload).U64(index_offset);
  cdz::AppendSection(SectionType::kEnd, cdz::kSectionRequired, end_payload,
                     &tail);
  container_bytes_ += tail.size();
  if (auto s = file_->Append(tail); !s.ok()) return error_ = s;
  sizes_.file_bytes = file_->Size();
  sizes_.container_bytes = container_bytes_;
  if (auto s = file_->Close(); !s.ok()) return error_ = s;
  return absl::OkStatus();
}

}  // namespace condense::codec
