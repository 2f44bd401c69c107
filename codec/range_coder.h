// A binary adaptive range coder (the LZMA construction: 32-bit range, byte
// output with carry propagation through a cache byte) and the adaptive bit
// model it codes with. The context-coded tensor encoding is built on it
// (context_coded.h); docs/format.md ("Range-coded stream") specifies it to
// the bit so that other decoders can be written from the page.
//
// A model holds P(bit = 1) in 32 bits and adapts at a rate that starts fast
// (1/2, as the Krichevsky-Trofimov estimator does after one symbol) and slows
// to 2^-limit, the stream's adaptation limit: short streams learn quickly,
// long stationary ones get within a fraction of a percent of their entropy,
// and a low limit keeps tracking where statistics drift.
//
// The decoder never reads out of bounds: past the end of its bytes it reads
// zeros (the encoder drops up to four trailing zero bytes of its flush), and
// Finish() tells whether it consumed exactly what the encoder wrote.
//
// Thread-compatible: one coder per thread; no shared state.
#ifndef CONDENSE_CODEC_RANGE_CODER_H_
#define CONDENSE_CODEC_RANGE_CODER_H_

#include <algorithm>
#include <bit>
#include <cstdint>
#include <span>
#include <string>

namespace condense::codec {

// Adaptation limits a stream may use (its rate stops falling at 2^-limit).
inline constexpr int kMinAdaptLimit = 4;
inline constexpr int kMaxAdaptLimit = 12;

struct BitModel {
  uint32_t p1 = 1u << 31;  // P(bit = 1) in units of 2^-32.
  uint16_t count = 0;      // Updates seen, saturating.

  // P(1) in 16 bits for the coder, kept within 1..65535 so that neither
  // symbol ever gets an empty interval.
  uint32_t P16() const { return std::clamp<uint32_t>(p1 >> 16, 1, 65535); }

  void Update(uint32_t bit, int limit) {
    // Rate 2^-bit_width(count + 1): 1/2 after no update (the KT estimate
    // after one symbol), about 1/(count + 2) after that, down to 2^-limit.
    const int shift =
        std::min(static_cast<int>(std::bit_width(uint32_t{count} + 1u)), limit);
    count = static_cast<uint16_t>(count + (count < UINT16_MAX ? 1 : 0));
    // Branch-free: the bit is what the coder could not predict.
    const uint32_t ones = 0u - bit;
    p1 = p1 + (((~p1) >> shift) & ones) - ((p1 >> shift) & ~ones);
  }
};

class RangeEncoder {
 public:
  // limit: kMinAdaptLimit..kMaxAdaptLimit.
  RangeEncoder(std::string* out, int limit)
      : out_(out), limit_(limit), start_(out->size()) {}

  void Encode(uint32_t bit, BitModel* m) {
    const uint32_t bound = (range_ >> 16) * m->P16();
    // Branch-free: an index bit is near even odds, which a branch would
    // mispredict half the time.
    const uint32_t ones = 0u - bit;
    low_ += bound & ~ones;
    range_ = (bound & ones) | ((range_ - bound) & ~ones);
    m->Update(bit, limit_);
    while (range_ < kTop) {
      range_ <<= 8;
      ShiftLow();
    }
  }

  // Flushes the coder; the stream is complete after this. Picks the final
  // value in the interval with the most trailing zero bytes and drops them.
  void Finish();

 private:
  static constexpr uint32_t kTop = 1u << 24;
  void ShiftLow();

  std::string* out_;
  int limit_;
  uint64_t low_ = 0;  // 33 bits: bit 32 is a pending carry.
  uint32_t range_ = 0xFFFFFFFFu;
  uint8_t cache_ = 0;
  uint64_t cache_size_ = 1;
  bool first_ = true;  // The first byte is always 0 and is not written.
  size_t start_;       // Where this stream begins in *out_.
};

class RangeDecoder {
 public:
  RangeDecoder(std::span<const uint8_t> in, int limit)
      : in_(in), limit_(limit) {
    for (int i = 0; i < 4; ++i) code_ = (code_ << 8) | Next();
  }

  // Branches on the decided bit rather than selecting: flags that mostly
  // take one value (a pruned tensor's mask, at any density measured from 1%
  // to 90%) decode faster, since the processor predicts the common value and
  // starts the next decision at once instead of waiting on this one.
  uint32_t Decode(BitModel* m) {
    const uint32_t bound = (range_ >> 16) * m->P16();
    uint32_t bit;
    if (code_ < bound) {
      range_ = bound;
      m->Update(1, limit_);
      bit = 1;
    } else {
      range_ -= bound;
      code_ -= bound;
      m->Update(0, limit_);
      bit = 0;
    }
    Normalize();
    return bit;
  }

  // The same decision as Decode, branch-free, with m->P16() given: for bits
  // near even odds (a branch would be mispredicted half the time) whose
  // probability the caller can load ahead, as a tree walk can for both
  // children of a node before its bit is known.
  uint32_t DecodeWithP16(uint32_t p16, BitModel* m) {
    const uint32_t bound = (range_ >> 16) * p16;
    const uint32_t bit = code_ < bound ? 1u : 0u;
    const uint32_t ones = 0u - bit;
    range_ = (bound & ones) | ((range_ - bound) & ~ones);
    code_ -= bound & ~ones;
    m->Update(bit, limit_);
    Normalize();
    return bit;
  }

  // True when the decoder consumed the encoder's bytes exactly: all of the
  // input, plus at most the four zero bytes the encoder may drop.
  bool Finish() const { return pos_ >= in_.size() && pos_ <= in_.size() + 4; }

 private:
  static constexpr uint32_t kTop = 1u << 24;
  void Normalize() {
    while (range_ < kTop) {
      range_ <<= 8;
      code_ = (code_ << 8) | Next();
    }
  }
  uint32_t Next() {
    const uint32_t b = pos_ < in_.size() ? in_[pos_] : 0u;
    ++pos_;
    return b;
  }

  std::span<const uint8_t> in_;
  int limit_;
  uint64_t pos_ = 0;
  uint32_t code_ = 0;
  uint32_t range_ = 0xFFFFFFFFu;
};

}  // namespace condense::codec

#endif  // CONDENSE_CODEC_RANGE_CODER_H_
