#include "codec/range_coder.h"

namespace condense::codec {

void RangeEncoder::ShiftLow() {
  // The top byte is final unless a later carry can still reach it: hold
  // 0xFF bytes in the cache until the carry is known.
  if (static_cast<uint32_t>(low_) < 0xFF000000u || (low_ >> 32) != 0) {
    const auto carry = static_cast<uint8_t>(low_ >> 32);
    uint8_t byte = cache_;
    do {
      if (first_) {
        first_ = false;  // Always 0 (the value is below 1.0): not written.
      } else {
        out_->push_back(static_cast<char>(static_cast<uint8_t>(byte + carry)));
      }
      byte = 0xFF;
    } while (--cache_size_ != 0);
    cache_ = static_cast<uint8_t>(low_ >> 24);
  }
  ++cache_size_;
  low_ = (low_ & 0x00FFFFFFu) << 8;
}

void RangeEncoder::Finish() {
  // Any value in [low, low + range) identifies the stream; the one with the
  // most trailing zero bytes lets those bytes go unwritten, since the
  // decoder reads zeros past the end.
  int zero_bytes = 0;
  for (int k = 4; k >= 1; --k) {
    const uint64_t mask = (uint64_t{1} << (8 * k)) - 1;
    const uint64_t v = (low_ + mask) & ~mask;
    if (v < low_ + range_) {
      low_ = v;
      zero_bytes = k;
      break;
    }
  }
  for (int i = 0; i < 5; ++i) ShiftLow();
  for (int i = 0;
       i < zero_bytes && out_->size() > start_ && out_->back() == '\0'; ++i) {
    out_->pop_back();
  }
}

}  // namespace condense::codec
