#include "codec/cdz_section.h"

#include "absl/strings/str_cat.h"
#include "codec/crc32c.h"

namespace condense::codec::cdz {

absl::StatusOr<uint64_t> ElementCount(const std::vector<uint64_t>& shape,
                                      uint64_t max_elements) {
  uint64_t n = 1;
  for (uint64_t d : shape) {
    if (d != 0 && n > max_elements / d) {
      return absl::InvalidArgumentError(absl::StrCat(
          "shape has more than ", max_elements, " elements (the limit)"));
    }
    n *= d;
  }
  if (n > max_elements) {
    return absl::InvalidArgumentError(absl::StrCat(
        "shape has ", n, " elements, above the limit of ", max_elements));
  }
  return n;
}

void WriteSectionFrame(SectionType type, uint32_t flags, uint64_t payload_size,
                       ByteWriter* w) {
  w->U32(static_cast<uint32_t>(type));
  w->U32(flags);
  w->U64(payload_size);
}

void AppendSection(SectionType type, uint32_t flags, absl::string_view payload,
                   std::string* out) {
  const size_t start = out->size();
  ByteWriter w(out);
  WriteSectionFrame(type, flags, payload.size(), &w);
  w.Bytes(payload);
  const uint32_t crc = Crc32c(out->data() + start, out->size() - start);
  w.U32(crc);
}

void WriteTensorHeader(const TensorInfo& info, ByteWriter* w) {
  w->U16(static_cast<uint16_t>(info.name.size()));
  w->Bytes(info.name);
  w->U8(static_cast<uint8_t>(info.dtype));
  w->U8(static_cast<uint8_t>(info.shape.size()));
  for (uint64_t d : info.shape) w->U64(d);
  w->U8(static_cast<uint8_t>(info.encoding));
}

absl::Status ReadTensorHeader(ByteReader* r, uint64_t max_elements,
                              TensorInfo* info) {
  uint16_t name_len = 0;
  std::span<const uint8_t> name;
  uint8_t dtype = 0, rank = 0, encoding = 0;
  if (auto s = r->U16("name length", &name_len); !s.ok()) return s;
  if (name_len == 0) return r->Corrupt("empty tensor name");
  if (auto s = r->Bytes("name", name_len, &name); !s.ok()) return s;
  info->name.assign(reinterpret_cast<const char*>(name.data()), name.size());
  if (!IsValidUtf8(info->name)) {
    return r->Corrupt("tensor name is not valid UTF-8");
  }
  if (auto s = r->U8("dtype", &dtype); !s.ok()) return s;
  if (!IsKnownDType(dtype)) {
    return r->Corrupt(
        absl::StrCat("tensor '", info->name, "': unknown dtype ", dtype));
  }
  info->dtype = static_cast<DType>(dtype);
  if (auto s = r->U8("rank", &rank); !s.ok()) return s;
  if (rank > kMaxRank) {
    return r->Corrupt(absl::StrCat("tensor '", info->name, "': rank ", rank,
                                   " above the maximum of ", kMaxRank));
  }
  info->shape.resize(rank);
  for (auto& d : info->shape) {
    if (auto s = r->U64("dimension", &d); !s.ok()) return s;
  }
  auto numel = ElementCount(info->shape, max_elements);
  if (!numel.ok()) {
    return r->Corrupt(
        absl::StrCat("tensor '", info->name, "': ", numel.status().message()));
  }
  info->numel = *numel;
  if (auto s = r->U8("encoding", &encoding); !s.ok()) return s;
  if (encoding > cdz::kMaxEncoding) {
    return r->Corrupt(
        absl::StrCat("tensor '", info->name, "': unknown encoding ", encoding,
                     " (written by a newer condense? upgrade to read it)"));
  }
  info->encoding = static_cast<Encoding>(encoding);
  return absl::OkStatus();
}

}  // namespace condense::codec::cdz
