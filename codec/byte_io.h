// Little-endian fixed-width integers, LEB128 varints and a bounds-checked
// reader over a byte span.
//
// ByteWriter appends to a std::string it does not own. ByteReader reads from
// a span it does not own; every read checks the remaining length and returns
// an error naming the field that did not fit, so corrupt input can never make
// it read out of bounds. Neither class is thread-safe; use one per thread.
#ifndef CONDENSE_CODEC_BYTE_IO_H_
#define CONDENSE_CODEC_BYTE_IO_H_

#include <cstdint>
#include <cstring>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace condense::codec {

inline void StoreLE32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline void StoreLE64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline uint32_t LoadLE32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
inline uint64_t LoadLE64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// True if `s` is well-formed UTF-8 (no overlongs, surrogates or code points
// above U+10FFFF). Names and manifest entries must be, since they end up in
// JSON.
bool IsValidUtf8(absl::string_view s);

class ByteWriter {
 public:
  explicit ByteWriter(std::string* out) : out_(out) {}

  void U8(uint8_t v) { out_->push_back(static_cast<char>(v)); }
  void U16(uint16_t v) {
    U8(static_cast<uint8_t>(v));
    U8(static_cast<uint8_t>(v >> 8));
  }
  void U32(uint32_t v) {
    uint8_t b[4];
    StoreLE32(b, v);
    Bytes(b, 4);
  }
  void U64(uint64_t v) {
    uint8_t b[8];
    StoreLE64(b, v);
    Bytes(b, 8);
  }
  void F32(float v) {
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    U32(bits);
  }
  void Varint(uint64_t v) {
    while (v >= 0x80) {
      U8(static_cast<uint8_t>(v | 0x80));
      v >>= 7;
    }
    U8(static_cast<uint8_t>(v));
  }
  void Bytes(const void* data, size_t n) {
    out_->append(static_cast<const char*>(data), n);
  }
  void Bytes(absl::string_view s) { out_->append(s.data(), s.size()); }
  size_t size() const { return out_->size(); }

 private:
  std::string* out_;
};

class ByteReader {
 public:
  ByteReader(std::span<const uint8_t> data, absl::string_view context)
      : begin_(data.data()),
        p_(data.data()),
        end_(data.data() + data.size()),
        context_(context) {}

  absl::Status U8(absl::string_view field, uint8_t* v);
  absl::Status U16(absl::string_view field, uint16_t* v);
  absl::Status U32(absl::string_view field, uint32_t* v);
  absl::Status U64(absl::string_view field, uint64_t* v);
  absl::Status F32(absl::string_view field, float* v);
  // Reads a varint of at most 10 bytes whose value fits in 64 bits.
  absl::Status Varint(absl::string_view field, uint64_t* v);
  // Returns a view of the next n bytes (no copy).
  absl::Status Bytes(absl::string_view field, uint64_t n,
                     std::span<const uint8_t>* out);

  size_t remaining() const { return static_cast<size_t>(end_ - p_); }
  size_t offset() const { return static_cast<size_t>(p_ - begin_); }
  std::span<const uint8_t> rest() const { return {p_, remaining()}; }
  absl::string_view context() const { return context_; }

  // An error in this reader's context, e.g. "gap stream: <message>".
  absl::Status Corrupt(absl::string_view message) const;

 private:
  absl::Status Need(absl::string_view field, uint64_t n) const;

  const uint8_t* begin_;
  const uint8_t* p_;
  const uint8_t* end_;
  absl::string_view context_;
};

}  // namespace condense::codec

#endif  // CONDENSE_CODEC_BYTE_IO_H_
