#include "codec/huffman.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cstring>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "codec/byte_io.h"

namespace condense::codec {
namespace {

enum class Mode : uint8_t { kEmpty = 0, kSingle = 1, kHuffman = 2 };

// Streams with at least this many symbols are split four ways so the decoder
// can run four independent dependency chains at once.
constexpr uint64_t kFourStreamThreshold = 4096;

inline uint64_t LoadBE64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return __builtin_bswap64(v);
}

inline void StoreBE32(uint8_t* p, uint32_t v) {
  v = __builtin_bswap32(v);
  std::memcpy(p, &v, 4);
}

int CeilLog2(uint64_t x) { return x <= 1 ? 0 : std::bit_width(x - 1); }

absl::Status Corrupt(absl::string_view what) {
  return absl::DataLossError(absl::StrCat("Huffman stream: ", what));
}

// ---------------------------------------------------------------------------
// Code lengths: nibble-packed, with runs of unused symbols collapsed.
//   nibble 0      : a run of zero lengths; the run length minus one follows as
//                   a nibble varint (3 value bits, high bit = more).
//   nibble 1..14  : that length.
//   nibble 15, e  : length 15 + e (e is 0 or 1).

class NibbleWriter {
 public:
  explicit NibbleWriter(ByteWriter* w) : w_(w) {}
  void Put(uint8_t v) {
    if (have_half_) {
      w_->U8(static_cast<uint8_t>(half_ | (v << 4)));
      have_half_ = false;
    } else {
      half_ = v;
      have_half_ = true;
    }
  }
  void Flush() {
    if (have_half_) w_->U8(half_);
    have_half_ = false;
  }

 private:
  ByteWriter* w_;
  uint8_t half_ = 0;
  bool have_half_ = false;
};

class NibbleReader {
 public:
  explicit NibbleReader(ByteReader* r) : r_(r) {}
  absl::Status Get(uint8_t* v) {
    if (have_half_) {
      *v = half_;
      have_half_ = false;
      return absl::OkStatus();
    }
    uint8_t byte;
    if (auto s = r_->U8("code lengths", &byte); !s.ok()) return s;
    *v = byte & 0xf;
    half_ = byte >> 4;
    have_half_ = true;
    return absl::OkStatus();
  }

 private:
  ByteReader* r_;
  uint8_t half_ = 0;
  bool have_half_ = false;
};

void WriteCodeLengths(std::span<const uint8_t> lengths, ByteWriter* w) {
  NibbleWriter nw(w);
  size_t i = 0;
  while (i < lengths.size()) {
    if (lengths[i] == 0) {
      size_t run = 1;
      while (i + run < lengths.size() && lengths[i + run] == 0) ++run;
      nw.Put(0);
      uint64_t v = run - 1;
      do {
        uint8_t nib = v & 7;
        v >>= 3;
        nw.Put(static_cast<uint8_t>(nib | (v ? 8 : 0)));
      } while (v);
      i += run;
    } else if (lengths[i] < 15) {
      nw.Put(lengths[i++]);
    } else {
      nw.Put(15);
      nw.Put(static_cast<uint8_t>(lengths[i++] - 15));
    }
  }
  nw.Flush();
}

absl::Status ReadCodeLengths(ByteReader* r, size_t count,
                             std::vector<uint8_t>* lengths) {
  lengths->assign(count, 0);
  NibbleReader nr(r);
  size_t i = 0;
  while (i < count) {
    uint8_t nib;
    if (auto s = nr.Get(&nib); !s.ok()) return s;
    if (nib == 0) {
      uint64_t run = 0;
      for (int shift = 0;; shift += 3) {
        if (shift > 18) return Corrupt("zero run in code lengths is too long");
        uint8_t part;
        if (auto s = nr.Get(&part); !s.ok()) return s;
        run |= static_cast<uint64_t>(part & 7) << shift;
        if ((part & 8) == 0) break;
      }
      if (run + 1 > count - i) {
        return Corrupt("zero run in code lengths passes the alphabet end");
      }
      i += run + 1;
    } else if (nib < 15) {
      (*lengths)[i++] = nib;
    } else {
      uint8_t extra;
      if (auto s = nr.Get(&extra); !s.ok()) return s;
      if (extra > 1) return Corrupt("code length above 16 bits");
      (*lengths)[i++] = static_cast<uint8_t>(15 + extra);
    }
  }
  return absl::OkStatus();
}

// Canonical codes: within each length, codes increase with the symbol.
std::vector<uint32_t> CanonicalCodes(std::span<const uint8_t> lengths) {
  std::array<uint32_t, kHuffmanMaxCodeLength + 2> count{};
  for (uint8_t l : lengths) ++count[l];
  count[0] = 0;
  std::array<uint32_t, kHuffmanMaxCodeLength + 2> next{};
  uint32_t code = 0;
  for (int len = 1; len <= kHuffmanMaxCodeLength; ++len) {
    code = (code + count[len - 1]) << 1;
    next[len] = code;
  }
  std::vector<uint32_t> codes(lengths.size(), 0);
  for (size_t s = 0; s < lengths.size(); ++s) {
    if (lengths[s] != 0) codes[s] = next[lengths[s]]++;
  }
  return codes;
}

// ---------------------------------------------------------------------------
// Header.

struct Header {
  uint64_t num_symbols = 0;
  uint32_t alphabet_size = 0;
  Mode mode = Mode::kEmpty;
  uint32_t single_symbol = 0;
  int max_length = 0;
  std::vector<uint8_t> lengths;  // One per symbol below the last used one.
  int num_streams = 0;
  std::array<std::span<const uint8_t>, 4> streams;
  size_t header_bytes = 0;
  size_t payload_bytes = 0;
};

absl::Status ParseHeader(std::span<const uint8_t> stream, Header* h) {
  ByteReader r(stream, "Huffman stream");
  uint64_t alphabet = 0;
  uint8_t mode = 0;
  if (auto s = r.Varint("symbol count", &h->num_symbols); !s.ok()) return s;
  if (auto s = r.Varint("alphabet size", &alphabet); !s.ok()) return s;
  if (alphabet == 0 || alphabet > kHuffmanMaxAlphabet) {
    return Corrupt(absl::StrCat("alphabet size ", alphabet, " is outside 1..",
                                kHuffmanMaxAlphabet));
  }
  h->alphabet_size = static_cast<uint32_t>(alphabet);
  if (auto s = r.U8("mode", &mode); !s.ok()) return s;
  switch (static_cast<Mode>(mode)) {
    case Mode::kEmpty:
      if (h->num_symbols != 0) {
        return Corrupt("empty-stream mode with a nonzero symbol count");
      }
      h->mode = Mode::kEmpty;
      break;
    case Mode::kSingle: {
      uint64_t sym = 0;
      if (auto s = r.Varint("single symbol", &sym); !s.ok()) return s;
      if (sym >= alphabet) return Corrupt("single symbol is outside alphabet");
      if (h->num_symbols == 0) {
        return Corrupt("one-symbol mode with a zero symbol count");
      }
      h->mode = Mode::kSingle;
      h->single_symbol = static_cast<uint32_t>(sym);
      break;
    }
    case Mode::kHuffman: {
      h->mode = Mode::kHuffman;
      uint64_t count = 0;
      if (auto s = r.Varint("code length count", &count); !s.ok()) return s;
      if (count < 2 || count > alphabet) {
        return Corrupt(absl::StrCat("code length count ", count,
                                    " is outside 2..alphabet size"));
      }
      if (auto s = ReadCodeLengths(&r, count, &h->lengths); !s.ok()) return s;
      // The code must be complete (Kraft sum exactly 1): then every table
      // entry decodes to a symbol and no bit pattern is invalid.
      int max_len = 0;
      for (uint8_t l : h->lengths) max_len = std::max<int>(max_len, l);
      uint64_t kraft = 0;
      for (uint8_t l : h->lengths) {
        if (l != 0) kraft += uint64_t{1} << (max_len - l);
      }
      if (max_len == 0 || kraft != (uint64_t{1} << max_len)) {
        return Corrupt("code lengths do not form a complete prefix code");
      }
      h->max_length = max_len;
      uint8_t streams = 0;
      if (auto s = r.U8("stream count", &streams); !s.ok()) return s;
      if (streams != 1 && streams != 4) {
        return Corrupt(
            absl::StrCat("stream count ", streams, " is neither 1 nor 4"));
      }
      h->num_streams = streams;
      std::array<uint64_t, 4> sizes{};
      for (int i = 0; i + 1 < streams; ++i) {
        if (auto s = r.Varint("stream size", &sizes[i]); !s.ok()) return s;
      }
      h->header_bytes = r.offset();
      uint64_t left = r.remaining();
      for (int i = 0; i + 1 < streams; ++i) {
        if (sizes[i] > left) {
          return Corrupt(absl::StrCat("sub-stream ", i, " size ", sizes[i],
                                      " passes the end of the stream"));
        }
        left -= sizes[i];
      }
      sizes[streams - 1] = left;
      h->payload_bytes = r.remaining();
      // Every symbol takes at least one bit.
      if (h->num_symbols > uint64_t{8} * h->payload_bytes) {
        return Corrupt(absl::StrCat("symbol count ", h->num_symbols,
                                    " cannot fit in ", h->payload_bytes,
                                    " bytes of coded data"));
      }
      for (int i = 0; i < streams; ++i) {
        if (auto s = r.Bytes("sub-stream", sizes[i], &h->streams[i]); !s.ok())
          return s;
      }
      return absl::OkStatus();
    }
    default:
      return Corrupt(absl::StrCat("unknown mode ", mode,
                                  " (written by a newer condense?)"));
  }
  if (r.remaining() != 0) {
    return Corrupt(absl::StrCat(r.remaining(), " unexpected trailing bytes"));
  }
  h->header_bytes = r.offset();
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// Encoder.

class BitWriter {
 public:
  explicit BitWriter(uint8_t* out) : out_(out), begin_(out) {}
  inline void Put(uint32_t code, int len) {
    acc_ = (acc_ << len) | code;
    nbits_ += len;
    if (nbits_ >= 32) {
      nbits_ -= 32;
      StoreBE32(out_, static_cast<uint32_t>(acc_ >> nbits_));
      out_ += 4;
    }
  }
  // Pads the last byte with zero bits; returns the bytes written.
  size_t Finish() {
    while (nbits_ >= 8) {
      nbits_ -= 8;
      *out_++ = static_cast<uint8_t>(acc_ >> nbits_);
    }
    if (nbits_ > 0) *out_++ = static_cast<uint8_t>(acc_ << (8 - nbits_));
    nbits_ = 0;
    return static_cast<size_t>(out_ - begin_);
  }

 private:
  uint8_t* out_;
  uint8_t* begin_;
  uint64_t acc_ = 0;
  int nbits_ = 0;
};

// What the encoder decides from the symbol counts alone: the mode and, for
// Huffman mode, the code lengths, and the header up to the sub-stream
// sizes. Shared by the encoder and HuffmanStreamSizer, so a size computed
// without coding is the size of the stream coded.
struct StreamPlan {
  Mode mode = Mode::kEmpty;
  std::vector<uint8_t>
      lengths;         // kHuffman: one per symbol up to the last used.
  std::string header;  // Everything before the sub-stream sizes.
  int num_streams = 1;
};

StreamPlan PlanStream(const std::vector<uint64_t>& freq_in, uint64_t n,
                      uint32_t alphabet, int min_length_limit) {
  StreamPlan p;
  ByteWriter w(&p.header);
  w.Varint(n);
  w.Varint(alphabet);
  uint32_t used = 0;
  uint32_t last_used = 0;
  for (uint32_t s = 0; s < alphabet; ++s) {
    if (freq_in[s] != 0) {
      ++used;
      last_used = s;
    }
  }
  if (n == 0) {
    p.mode = Mode::kEmpty;
    w.U8(static_cast<uint8_t>(Mode::kEmpty));
    return p;
  }
  if (used == 1) {
    p.mode = Mode::kSingle;
    w.U8(static_cast<uint8_t>(Mode::kSingle));
    w.Varint(last_used);
    return p;
  }
  const int limit = std::clamp(std::max(min_length_limit, CeilLog2(used)), 1,
                               kHuffmanMaxCodeLength);
  std::vector<uint64_t> freq(freq_in.begin(), freq_in.begin() + last_used + 1);
  std::vector<uint8_t> lengths = internal::BuildCodeLengths(freq, limit);
  // One more bit of limit doubles the decoding table and can cost a lookup
  // per refill: worth it only where it makes the stream clearly smaller.
  if (limit < kHuffmanMaxCodeLength) {
    std::vector<uint8_t> longer = internal::BuildCodeLengths(freq, limit + 1);
    uint64_t bits = 0, longer_bits = 0;
    for (size_t s = 0; s < freq.size(); ++s) {
      bits += freq[s] * lengths[s];
      longer_bits += freq[s] * longer[s];
    }
    if (longer_bits * 1000 < bits * 999) lengths = std::move(longer);
  }
  p.mode = Mode::kHuffman;
  w.U8(static_cast<uint8_t>(Mode::kHuffman));
  w.Varint(lengths.size());
  WriteCodeLengths(lengths, &w);
  p.num_streams = n >= kFourStreamThreshold ? 4 : 1;
  w.U8(static_cast<uint8_t>(p.num_streams));
  p.lengths = std::move(lengths);
  return p;
}

template <typename Sym>
absl::Status EncodeImpl(std::span<const Sym> symbols, uint32_t alphabet,
                        std::string* out, int min_length_limit) {
  if (alphabet == 0 || alphabet > kHuffmanMaxAlphabet) {
    return absl::InvalidArgumentError(absl::StrCat("Huffman alphabet size ",
                                                   alphabet, " is outside 1..",
                                                   kHuffmanMaxAlphabet));
  }
  std::vector<uint64_t> freq(alphabet, 0);
  uint32_t max_symbol = 0;
  for (Sym s : symbols) {
    max_symbol = std::max<uint32_t>(max_symbol, s);
    if (max_symbol < alphabet) ++freq[s];
  }
  if (!symbols.empty() && max_symbol >= alphabet) {
    return absl::InvalidArgumentError(absl::StrCat(
        "symbol ", max_symbol, " is outside the alphabet of ", alphabet));
  }
  StreamPlan plan =
      PlanStream(freq, symbols.size(), alphabet, min_length_limit);
  if (plan.mode != Mode::kHuffman) {
    out->append(plan.header);
    return absl::OkStatus();
  }
  const std::vector<uint8_t>& lengths = plan.lengths;
  std::vector<uint32_t> codes = CanonicalCodes(lengths);
  // Code and length packed together: one load per symbol when encoding.
  std::vector<uint32_t> table(lengths.size());
  for (size_t s = 0; s < lengths.size(); ++s) {
    table[s] = (codes[s] << 5) | lengths[s];
  }

  const size_t n = symbols.size();
  const int num_streams = plan.num_streams;
  const size_t segment = (n + num_streams - 1) / num_streams;
  uint64_t total_bits = 0;
  for (size_t s = 0; s < lengths.size(); ++s)
    total_bits += freq[s] * lengths[s];
  // Room for every code plus the 4-byte stores' and padding's slack.
  std::vector<uint8_t> buffer(total_bits / 8 + 8 * num_streams + 8);
  std::array<size_t, 4> sizes{};
  size_t pos = 0;
  for (int k = 0; k < num_streams; ++k) {
    const size_t begin = std::min(n, k * segment);
    const size_t end = std::min(n, begin + segment);
    BitWriter bw(buffer.data() + pos);
    for (size_t i = begin; i < end; ++i) {
      const uint32_t e = table[symbols[i]];
      bw.Put(e >> 5, static_cast<int>(e & 31));
    }
    sizes[k] = bw.Finish();
    pos += sizes[k];
  }
  ByteWriter w(&plan.header);
  for (int k = 0; k + 1 < num_streams; ++k) w.Varint(sizes[k]);
  out->append(plan.header);
  out->append(reinterpret_cast<const char*>(buffer.data()), pos);
  return absl::OkStatus();
}

}  // namespace

HuffmanStreamSizer::HuffmanStreamSizer(uint64_t num_symbols,
                                       uint32_t alphabet_size)
    : n_(num_symbols),
      alphabet_(alphabet_size),
      segment_((num_symbols + 3) / 4),
      left_(segment_),
      freq_(4, std::vector<uint64_t>(alphabet_size, 0)) {}

uint64_t HuffmanStreamSizer::Bytes(int min_length_limit) const {
  std::vector<uint64_t> total(alphabet_, 0);
  for (const auto& f : freq_) {
    for (uint32_t s = 0; s < alphabet_; ++s) total[s] += f[s];
  }
  StreamPlan plan = PlanStream(total, n_, alphabet_, min_length_limit);
  if (plan.mode != Mode::kHuffman) return plan.header.size();
  // The encoder's split: four equal segments, or one for a short stream.
  std::vector<uint64_t> bits(4, 0);
  if (plan.num_streams == 4) {
    for (int k = 0; k < 4; ++k) {
      for (size_t s = 0; s < plan.lengths.size(); ++s) {
        bits[k] += freq_[k][s] * plan.lengths[s];
      }
    }
  } else {
    for (size_t s = 0; s < plan.lengths.size(); ++s) {
      bits[0] += total[s] * plan.lengths[s];
    }
  }
  uint64_t bytes = plan.header.size();
  std::string sizes;
  ByteWriter w(&sizes);
  for (int k = 0; k < plan.num_streams; ++k) {
    const uint64_t b = (bits[k] + 7) / 8;
    bytes += b;
    if (k + 1 < plan.num_streams) w.Varint(b);
  }
  return bytes + sizes.size();
}

namespace {

// ---------------------------------------------------------------------------
// Decoder.

template <typename Sym>
struct SingleEntry {
  Sym symbol;
  uint8_t length;
};

// Multi-symbol tables: for each value of the next kTableBits bits, all the
// symbols whose codes fit in them, up to kMaxSymbols. The bits each slot
// consumes sit in a byte table of their own, so the loop's critical path
// (index -> load bits -> shift -> next index) is one byte load with plain
// addressing; the symbols are loaded and stored off that path. Apply writes
// kStoreSymbols symbols, of which the spare ones are overwritten by the
// next write.

// 16-bit symbols: two per entry, with their count.
template <typename Sym>
struct WideEntry {
  static constexpr int kMaxSymbols = 2;
  static constexpr int kStoreSymbols = 2;
  Sym symbols[2];
  uint8_t count;

  void Set(const Sym* syms, int n) {
    std::copy(syms, syms + n, symbols);
    count = static_cast<uint8_t>(n);
  }
  static inline void Apply(const uint8_t* bits_table, const WideEntry* table,
                           uint64_t index, Sym*& o, uint64_t& b, unsigned& c) {
    const unsigned bits = bits_table[index];
    const WideEntry& e = table[index];
    std::memcpy(o, e.symbols, sizeof(e.symbols));
    o += e.count;
    c -= bits;
    b <<= bits;
  }
};

// 8-bit symbols: one 64-bit word, so one load and one store move up to
// seven symbols (bytes 0-6; their count in byte 7). Little-endian only.
struct PackedEntry {
  static constexpr int kMaxSymbols = 7;
  static constexpr int kStoreSymbols = 8;
  uint64_t word;

  void Set(const uint8_t* syms, int n) {
    uint8_t bytes[8] = {};
    std::copy(syms, syms + n, bytes);
    bytes[7] = static_cast<uint8_t>(n);
    std::memcpy(&word, bytes, sizeof(bytes));
  }
  static inline void Apply(const uint8_t* bits_table, const PackedEntry* table,
                           uint64_t index, uint8_t*& o, uint64_t& b,
                           unsigned& c) {
    const unsigned bits = bits_table[index];
    const uint64_t w = table[index].word;
    std::memcpy(o, &w, sizeof(w));
    o += w >> 56;
    c -= bits;
    b <<= bits;
  }
};

template <typename Sym>
using MultiEntryFor =
    std::conditional_t<sizeof(Sym) == 1 &&
                           std::endian::native == std::endian::little,
                       PackedEntry, WideEntry<Sym>>;

// One sub-stream being decoded. Bits are consumed from the top of `bits`;
// `count` of them are valid. Reads beyond `end` supply zeros and are counted
// in `virtual_bytes`, so consumption past the end is detected, never read.
template <typename Sym>
struct StreamState {
  const uint8_t* start;
  const uint8_t* end;
  const uint8_t* p;
  uint64_t bits = 0;
  unsigned count = 0;
  uint64_t virtual_bytes = 0;
  Sym* out;
  Sym* out_end;

  // Only when p + 8 <= the end of readable memory.
  inline void RefillFast() {
    bits |= LoadBE64(p) >> count;
    p += (63 - count) >> 3;
    count |= 56;
  }
  inline void RefillSafe() {
    while (count <= 56) {
      uint64_t byte = 0;
      if (p < end) {
        byte = *p++;
      } else {
        ++virtual_bytes;
      }
      bits |= byte << (56 - count);
      count += 8;
    }
  }
  uint64_t ConsumedBits() const {
    return (static_cast<uint64_t>(p - start) + virtual_bytes) * 8 - count;
  }
};

// The hot loop: four sub-streams interleaved so their dependency chains
// (table load -> shift -> next index) overlap, several symbols per lookup,
// one branch-free refill per kLookups lookups. Instead of bounds checks per
// lookup it runs batches of iterations that provably stay in bounds: each
// iteration advances each output by at most kLookups * kMaxSymbols (and
// writes up to kSlots - kMaxSymbols beyond that) and each input pointer by
// at most 7 bytes.
template <typename Sym, typename Entry, int kTableBits>
__attribute__((always_inline)) inline void DecodeFourFast(
    const uint8_t* bits_table, const Entry* table, const uint8_t* load_limit,
    StreamState<Sym>* st) {
  constexpr int kShift = 64 - kTableBits;
  constexpr int kLookups = std::min(5, 56 / kTableBits);
  constexpr ptrdiff_t kAdvance = ptrdiff_t{kLookups} * Entry::kMaxSymbols;
  constexpr ptrdiff_t kOverwrite =
      ptrdiff_t{Entry::kStoreSymbols} - Entry::kMaxSymbols;
  const uint8_t *p0 = st[0].p, *p1 = st[1].p, *p2 = st[2].p, *p3 = st[3].p;
  uint64_t b0 = st[0].bits, b1 = st[1].bits, b2 = st[2].bits, b3 = st[3].bits;
  unsigned c0 = st[0].count, c1 = st[1].count, c2 = st[2].count,
           c3 = st[3].count;
  Sym *o0 = st[0].out, *o1 = st[1].out, *o2 = st[2].out, *o3 = st[3].out;
  for (;;) {
    ptrdiff_t batch = PTRDIFF_MAX;
    for (int k = 0; k < 4; ++k) {
      const uint8_t* p = k == 0 ? p0 : k == 1 ? p1 : k == 2 ? p2 : p3;
      const Sym* o = k == 0 ? o0 : k == 1 ? o1 : k == 2 ? o2 : o3;
      const ptrdiff_t in_room = load_limit - p;
      batch = std::min(batch, in_room < 0 ? 0 : in_room / 7 + 1);
      batch = std::min(batch, (st[k].out_end - o - kOverwrite) / kAdvance);
    }
    if (batch <= 0) break;
    do {
#define CONDENSE_REFILL(p, b, c) \
  b |= LoadBE64(p) >> c;         \
  p += (63 - c) >> 3;            \
  c |= 56;
#define CONDENSE_LOOKUP(b, c, o) \
  Entry::Apply(bits_table, table, b >> kShift, o, b, c);
      CONDENSE_REFILL(p0, b0, c0)
      CONDENSE_REFILL(p1, b1, c1)
      CONDENSE_REFILL(p2, b2, c2)
      CONDENSE_REFILL(p3, b3, c3)
#pragma GCC unroll 8
      for (int j = 0; j < kLookups; ++j) {
        CONDENSE_LOOKUP(b0, c0, o0)
        CONDENSE_LOOKUP(b1, c1, o1)
        CONDENSE_LOOKUP(b2, c2, o2)
        CONDENSE_LOOKUP(b3, c3, o3)
      }
#undef CONDENSE_LOOKUP
#undef CONDENSE_REFILL
    } while (--batch > 0);
  }
  st[0].p = p0, st[1].p = p1, st[2].p = p2, st[3].p = p3;
  st[0].bits = b0, st[1].bits = b1, st[2].bits = b2, st[3].bits = b3;
  st[0].count = c0, st[1].count = c1, st[2].count = c2, st[3].count = c3;
  st[0].out = o0, st[1].out = o1, st[2].out = o2, st[3].out = o3;
}

// The fast loop compiled twice: with BMI2 (shlx/shrx take the shift count
// from any register, which saves a move per lookup and frees registers in a
// loop that juggles sixteen of them) for CPUs that have it, and without.
#if defined(__x86_64__) && defined(__GNUC__)
template <typename Sym, typename Entry, int kTableBits>
__attribute__((target("bmi2"), noinline)) void DecodeFourFastBmi2(
    const uint8_t* bits_table, const Entry* table, const uint8_t* load_limit,
    StreamState<Sym>* st) {
  DecodeFourFast<Sym, Entry, kTableBits>(bits_table, table, load_limit, st);
}
std::atomic<bool> allow_bmi2{true};  // Off only in tests of the other path.
bool HasBmi2() {
  static const bool has = __builtin_cpu_supports("bmi2");
  return has && allow_bmi2.load(std::memory_order_relaxed);
}
#endif

template <typename Sym, typename Entry, int kTableBits>
__attribute__((noinline)) void DecodeFourFastGeneric(const uint8_t* bits_table,
                                                     const Entry* table,
                                                     const uint8_t* load_limit,
                                                     StreamState<Sym>* st) {
  DecodeFourFast<Sym, Entry, kTableBits>(bits_table, table, load_limit, st);
}

// Builds the multi-symbol table with kTableBits index bits (at least the
// longest code) and runs the fast loop.
template <typename Sym, int kTableBits>
void DecodeFourWithTable(const std::vector<SingleEntry<Sym>>& single,
                         int max_length, std::span<const uint8_t> stream,
                         StreamState<Sym>* st) {
  using Entry = MultiEntryFor<Sym>;
  constexpr size_t kSize = size_t{1} << kTableBits;
  std::vector<Entry> table(kSize);
  std::vector<uint8_t> bits_table(kSize);
  const int widen = kTableBits - max_length;
  const size_t mask = kSize - 1;
  for (size_t i = 0; i < kSize; ++i) {
    Sym symbols[Entry::kMaxSymbols];
    int used = 0;
    int count = 0;
    while (count < Entry::kMaxSymbols) {
      const SingleEntry<Sym> e = single[((i << used) & mask) >> widen];
      if (e.length > kTableBits - used) break;
      symbols[count++] = e.symbol;
      used += e.length;
    }
    bits_table[i] = static_cast<uint8_t>(used);
    table[i].Set(symbols, count);
  }
  const uint8_t* load_limit = stream.data() + stream.size() - 8;
#if defined(__x86_64__) && defined(__GNUC__)
  if (HasBmi2()) {
    DecodeFourFastBmi2<Sym, Entry, kTableBits>(bits_table.data(), table.data(),
                                               load_limit, st);
    return;
  }
#endif
  DecodeFourFastGeneric<Sym, Entry, kTableBits>(bits_table.data(), table.data(),
                                                load_limit, st);
}

template <typename Sym>
void DecodeTail(const SingleEntry<Sym>* table, int table_bits,
                StreamState<Sym>* s) {
  const int shift = 64 - table_bits;
  while (s->out < s->out_end) {
    if (s->count < static_cast<unsigned>(table_bits)) s->RefillSafe();
    const SingleEntry<Sym> e = table[s->bits >> shift];
    *s->out++ = e.symbol;
    s->bits <<= e.length;
    s->count -= e.length;
  }
}

template <typename Sym>
absl::Status DecodeImpl(std::span<const uint8_t> stream, std::span<Sym> out) {
  Header h;
  if (auto s = ParseHeader(stream, &h); !s.ok()) return s;
  if (h.num_symbols != out.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Huffman stream holds ", h.num_symbols,
                     " symbols but the caller expects ", out.size()));
  }
  if (h.alphabet_size - 1 > std::numeric_limits<Sym>::max()) {
    return absl::InvalidArgumentError(
        absl::StrCat("alphabet of ", h.alphabet_size, " symbols does not fit ",
                     sizeof(Sym) * 8, "-bit output"));
  }
  if (h.mode == Mode::kEmpty) return absl::OkStatus();
  if (h.mode == Mode::kSingle) {
    std::fill(out.begin(), out.end(), static_cast<Sym>(h.single_symbol));
    return absl::OkStatus();
  }

  const int table_bits = h.max_length;
  const size_t table_size = size_t{1} << table_bits;
  const std::vector<uint32_t> codes = CanonicalCodes(h.lengths);
  std::vector<SingleEntry<Sym>> single(table_size);
  for (size_t sym = 0; sym < h.lengths.size(); ++sym) {
    const int len = h.lengths[sym];
    if (len == 0) continue;
    const size_t first = size_t{codes[sym]} << (table_bits - len);
    const size_t span = size_t{1} << (table_bits - len);
    for (size_t i = first; i < first + span; ++i) {
      single[i] = {static_cast<Sym>(sym), static_cast<uint8_t>(len)};
    }
  }

  const size_t n = out.size();
  const int num_streams = h.num_streams;
  const size_t segment = (n + num_streams - 1) / num_streams;
  std::array<StreamState<Sym>, 4> st;
  for (int k = 0; k < num_streams; ++k) {
    const size_t begin = std::min(n, k * segment);
    const size_t end = std::min(n, begin + segment);
    st[k].start = st[k].p = h.streams[k].data();
    st[k].end = h.streams[k].data() + h.streams[k].size();
    st[k].out = out.data() + begin;
    st[k].out_end = out.data() + end;
  }

  // The multi-symbol table pays for itself only on long streams.
  if (num_streams == 4 && n >= 4 * table_size && stream.size() >= 8) {
    // Byte-sized alphabets get 12 index bits even when their codes are
    // shorter: more symbols per lookup, and the bit-count table on the
    // critical path (4 KiB) stays in L1. (13 bits was no faster.)
    const bool widen_to_12 =
        table_bits <= 11 && sizeof(Sym) == 1 && n >= 4 * 4096;
    if (table_bits == 12 || widen_to_12) {
      DecodeFourWithTable<Sym, 12>(single, table_bits, stream, st.data());
    } else if (table_bits <= 11) {
      DecodeFourWithTable<Sym, 11>(single, table_bits, stream, st.data());
    } else if (table_bits <= 14) {
      DecodeFourWithTable<Sym, 14>(single, table_bits, stream, st.data());
    } else {
      DecodeFourWithTable<Sym, 16>(single, table_bits, stream, st.data());
    }
  }
  for (int k = 0; k < num_streams; ++k) {
    DecodeTail(single.data(), table_bits, &st[k]);
  }

  for (int k = 0; k < num_streams; ++k) {
    const uint64_t consumed = st[k].ConsumedBits();
    const uint64_t size = static_cast<uint64_t>(st[k].end - st[k].start);
    if (consumed > size * 8) {
      return Corrupt(absl::StrCat("sub-stream ", k,
                                  " is truncated or damaged: its symbols "
                                  "need more than its ",
                                  size, " bytes"));
    }
    if ((consumed + 7) / 8 != size) {
      return Corrupt(absl::StrCat("sub-stream ", k, " has ",
                                  size - (consumed + 7) / 8,
                                  " unused bytes after its last symbol"));
    }
    const unsigned pad = static_cast<unsigned>(size * 8 - consumed);
    if (pad != 0 && (st[k].start[size - 1] & ((1u << pad) - 1)) != 0) {
      return Corrupt(
          absl::StrCat("sub-stream ", k, " has nonzero padding bits"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

namespace internal {

void AllowBmi2DecodeForTesting(bool allow) {
#if defined(__x86_64__) && defined(__GNUC__)
  allow_bmi2.store(allow, std::memory_order_relaxed);
#else
  (void)allow;
#endif
}

std::vector<uint8_t> BuildCodeLengths(std::span<const uint64_t> freqs,
                                      int max_length) {
  std::vector<uint32_t> order;  // Used symbols, ascending frequency.
  for (uint32_t s = 0; s < freqs.size(); ++s) {
    if (freqs[s] != 0) order.push_back(s);
  }
  std::stable_sort(order.begin(), order.end(),
                   [&](uint32_t a, uint32_t b) { return freqs[a] < freqs[b]; });
  const size_t used = order.size();
  std::vector<uint8_t> lengths(freqs.size(), 0);
  if (used < 2) {
    if (used == 1) lengths[order[0]] = 1;
    return lengths;
  }

  // Two-queue Huffman construction over the sorted leaves. Nodes 0..used-1
  // are leaves, used.. are internal nodes in creation (= weight) order.
  std::vector<uint64_t> weight(2 * used - 1);
  std::vector<uint32_t> parent(2 * used - 1, 0);
  for (size_t i = 0; i < used; ++i) weight[i] = freqs[order[i]];
  size_t next_leaf = 0;
  size_t next_internal = used;
  auto pop = [&](size_t created) {
    if (next_leaf < used && (next_internal >= created ||
                             weight[next_leaf] <= weight[next_internal])) {
      return next_leaf++;
    }
    return next_internal++;
  };
  for (size_t created = used; created < 2 * used - 1; ++created) {
    const size_t a = pop(created);
    const size_t b = pop(created);
    weight[created] = weight[a] + weight[b];
    parent[a] = parent[b] = static_cast<uint32_t>(created);
  }
  // Depths, from the root down; internal nodes only point to later nodes.
  std::vector<uint32_t> depth(2 * used - 1, 0);
  for (size_t i = 2 * used - 2; i-- > 0;) depth[i] = depth[parent[i]] + 1;

  // Count codes per length, clamp to max_length, then repair the Kraft sum
  // by lengthening the deepest codes that are still shorter than the limit.
  std::vector<uint32_t> per_length(max_length + 1, 0);
  for (size_t i = 0; i < used; ++i) {
    ++per_length[std::min<uint32_t>(depth[i], max_length)];
  }
  uint64_t total = 0;
  for (int len = 1; len <= max_length; ++len) {
    total += uint64_t{per_length[len]} << (max_length - len);
  }
  while (total > (uint64_t{1} << max_length)) {
    --per_length[max_length];
    for (int len = max_length - 1; len > 0; --len) {
      if (per_length[len] != 0) {
        --per_length[len];
        per_length[len + 1] += 2;
        break;
      }
    }
    --total;
  }
  // Longest codes to the least frequent symbols.
  size_t i = 0;
  for (int len = max_length; len >= 1; --len) {
    for (uint32_t c = 0; c < per_length[len]; ++c) {
      lengths[order[i++]] = static_cast<uint8_t>(len);
    }
  }
  return lengths;
}

}  // namespace internal

absl::Status HuffmanEncode(std::span<const uint8_t> symbols,
                           uint32_t alphabet_size, std::string* out,
                           int min_length_limit) {
  return EncodeImpl(symbols, alphabet_size, out, min_length_limit);
}
absl::Status HuffmanEncode(std::span<const uint16_t> symbols,
                           uint32_t alphabet_size, std::string* out,
                           int min_length_limit) {
  return EncodeImpl(symbols, alphabet_size, out, min_length_limit);
}

absl::StatusOr<HuffmanStreamInfo> ParseHuffmanHeader(
    std::span<const uint8_t> stream) {
  Header h;
  if (auto s = ParseHeader(stream, &h); !s.ok()) return s;
  HuffmanStreamInfo info;
  info.num_symbols = h.num_symbols;
  info.alphabet_size = h.alphabet_size;
  info.header_bytes = h.header_bytes;
  info.payload_bytes = h.payload_bytes;
  return info;
}

absl::Status HuffmanDecode(std::span<const uint8_t> stream,
                           std::span<uint8_t> out) {
  return DecodeImpl(stream, out);
}
absl::Status HuffmanDecode(std::span<const uint8_t> stream,
                           std::span<uint16_t> out) {
  return DecodeImpl(stream, out);
}

}  // namespace condense::codec
