#include "codec/huffman.h"

#include <cmath>
#include <random>

#include "codec/cdz_test_util.h"
#include "codec/test_distributions.h"
#include "gtest/gtest.h"

namespace condense::codec {
namespace {

using testing::EmpiricalEntropyBits;
using testing::GeometricSymbols;
using testing::QuantizedIndices;
using testing::UniformSymbols;

using testing::Bytes;

// Encodes, checks the header, decodes through both output widths where the
// alphabet allows, and returns the stream.
std::string RoundTrip(const std::vector<uint16_t>& symbols, uint32_t alphabet) {
  std::string stream;
  EXPECT_TRUE(HuffmanEncode(symbols, alphabet, &stream).ok());
  auto info = ParseHuffmanHeader(Bytes(stream));
  EXPECT_TRUE(info.ok()) << info.status();
  if (!info.ok()) return stream;
  EXPECT_EQ(info->num_symbols, symbols.size());
  EXPECT_EQ(info->alphabet_size, alphabet);
  EXPECT_EQ(info->header_bytes + info->payload_bytes, stream.size());

  std::vector<uint16_t> wide(symbols.size(), 0xffff);
  auto s = HuffmanDecode(Bytes(stream), std::span<uint16_t>(wide));
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_TRUE(wide == symbols) << "16-bit decode differs";
  if (alphabet <= 256) {
    std::vector<uint8_t> narrow8(symbols.begin(), symbols.end());
    std::string stream8;
    EXPECT_TRUE(HuffmanEncode(narrow8, alphabet, &stream8).ok());
    EXPECT_EQ(stream8, stream) << "8- and 16-bit encoders disagree";
    std::vector<uint8_t> narrow(symbols.size(), 0xff);
    s = HuffmanDecode(Bytes(stream), std::span<uint8_t>(narrow));
    EXPECT_TRUE(s.ok()) << s;
    EXPECT_TRUE(narrow == narrow8) << "8-bit decode differs";
  }
  return stream;
}

TEST(Huffman, DegenerateInputs) {
  RoundTrip({}, 1);
  RoundTrip({}, 65536);
  RoundTrip({0}, 1);
  RoundTrip(std::vector<uint16_t>(100000, 65535), 65536);  // One symbol.
  RoundTrip({3, 3, 3, 7}, 8);
  RoundTrip({0, 1}, 2);
  // One distinct symbol costs no coded bits at all.
  std::string s = RoundTrip(std::vector<uint16_t>(1 << 20, 5), 32);
  EXPECT_LT(s.size(), 16u);
}

TEST(Huffman, MaximumAlphabetAllEquallyLikely) {
  std::vector<uint16_t> all(65536 * 3);
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<uint16_t>(i);
  std::string s = RoundTrip(all, 65536);
  // All 65,536 symbols equally likely: exactly 16 bits each.
  auto info = ParseHuffmanHeader(Bytes(s));
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->payload_bytes, all.size() * 2);
}

TEST(Huffman, RoundTripsManyDistributionsAndSizes) {
  const size_t sizes[] = {2,    3,    17,    255,   4095,
                          4096, 4097, 10007, 65536, 300001};
  uint64_t seed = 1;
  for (size_t n : sizes) {
    for (uint32_t alphabet :
         {2u, 3u, 5u, 16u, 33u, 256u, 257u, 4096u, 65536u}) {
      RoundTrip(UniformSymbols(n, alphabet, seed++), alphabet);
      RoundTrip(GeometricSymbols(n, alphabet, 0.78673, seed++), alphabet);
      RoundTrip(GeometricSymbols(n, alphabet, 0.3, seed++), alphabet);
    }
    for (int bits : {1, 2, 3, 4, 5, 8}) {
      RoundTrip(QuantizedIndices(n, 1 << bits, true, seed++), 1u << bits);
      RoundTrip(QuantizedIndices(n, 1 << bits, false, seed++), 1u << bits);
    }
  }
}

TEST(Huffman, PortableAndBmi2LoopsDecodeAlike) {
  // Long enough for the multi-symbol fast loop (and its 12-bit tables).
  uint64_t seed = 40;
  for (bool bmi2 : {false, true}) {
    internal::AllowBmi2DecodeForTesting(bmi2);
    for (int bits : {1, 2, 5, 8}) {
      RoundTrip(QuantizedIndices(300001, 1 << bits, true, seed++), 1u << bits);
    }
    RoundTrip(GeometricSymbols(300001, 4096, 0.9, seed++), 4096);
  }
  internal::AllowBmi2DecodeForTesting(true);
}

TEST(Huffman, SkewedLargeAlphabetNeedsLongCodesAndStillRoundTrips) {
  // A very skewed law over 4,096 symbols: unlimited Huffman would want codes
  // far longer than 12 bits; the limit is max(11, ceil(log2 used)) = 12.
  RoundTrip(GeometricSymbols(200000, 4096, 0.5, 9), 4096);
  // Fibonacci-like frequencies force the deepest possible tree.
  std::vector<uint16_t> fib;
  uint64_t a = 1, b = 1;
  for (uint16_t sym = 0; sym < 25; ++sym) {
    for (uint64_t i = 0; i < a; ++i) fib.push_back(sym);
    const uint64_t c = a + b;
    a = b;
    b = c;
  }
  std::shuffle(fib.begin(), fib.end(), std::mt19937(3));
  RoundTrip(fib, 25);
}

TEST(Huffman, CodeLengthsAreCompleteLimitedAndOptimalWhenUnconstrained) {
  std::mt19937_64 rng(11);
  for (int trial = 0; trial < 200; ++trial) {
    const size_t alphabet = 2 + rng() % 300;
    std::vector<uint64_t> freqs(alphabet);
    for (auto& f : freqs)
      f = (rng() % 4 == 0) ? 0 : 1 + rng() % (1 << (rng() % 20));
    freqs[0] = std::max<uint64_t>(freqs[0], 1);
    freqs[1] = std::max<uint64_t>(freqs[1], 1);
    for (int limit : {9, 11, 16}) {
      auto lengths = internal::BuildCodeLengths(freqs, limit);
      double kraft = 0;
      for (size_t s = 0; s < alphabet; ++s) {
        EXPECT_EQ(lengths[s] == 0, freqs[s] == 0);
        EXPECT_LE(lengths[s], limit);
        if (lengths[s]) kraft += std::ldexp(1.0, -lengths[s]);
      }
      EXPECT_DOUBLE_EQ(kraft, 1.0);
    }
  }
  // Textbook example: frequencies 45,13,12,16,9,5 give cost 224.
  std::vector<uint64_t> f = {45, 13, 12, 16, 9, 5};
  auto l = internal::BuildCodeLengths(f, 16);
  uint64_t cost = 0;
  for (size_t i = 0; i < f.size(); ++i) cost += f[i] * l[i];
  EXPECT_EQ(cost, 224u);
}

TEST(Huffman, GeometricStreamIsWithinOnePercentOfEntropy) {
  auto symbols = GeometricSymbols(1 << 20, 32, 0.78673, 42);
  std::string s = RoundTrip(symbols, 32);
  const double bits = 8.0 * s.size() / symbols.size();
  const double entropy = EmpiricalEntropyBits(symbols, 32);
  EXPECT_LT(bits, entropy * 1.01) << bits << " vs " << entropy;
}

TEST(Huffman, RejectsSymbolsOutsideAlphabet) {
  std::string out = "keep";
  std::vector<uint16_t> sym = {1, 2, 9};
  auto s = HuffmanEncode(sym, 8, &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(out, "keep");
  EXPECT_FALSE(HuffmanEncode(sym, 0, &out).ok());
  EXPECT_FALSE(HuffmanEncode(sym, 65537, &out).ok());
}

TEST(Huffman, DecodeChecksOutputSizeAndWidth) {
  std::string stream;
  auto sym = UniformSymbols(1000, 300, 5);
  ASSERT_TRUE(HuffmanEncode(sym, 300, &stream).ok());
  std::vector<uint16_t> wrong(999);
  EXPECT_EQ(HuffmanDecode(Bytes(stream), std::span<uint16_t>(wrong)).code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<uint8_t> narrow(1000);
  EXPECT_EQ(HuffmanDecode(Bytes(stream), std::span<uint8_t>(narrow)).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(Huffman, EveryTruncationIsAnError) {
  for (size_t n : {50u, 5000u}) {
    auto sym = GeometricSymbols(n, 33, 0.8, n);
    std::string stream;
    ASSERT_TRUE(HuffmanEncode(sym, 33, &stream).ok());
    std::vector<uint8_t> out(n);
    for (size_t cut = 0; cut < stream.size(); ++cut) {
      std::string t = stream.substr(0, cut);
      // A fresh heap copy of exactly `cut` bytes, so ASan sees any overread.
      std::vector<uint8_t> exact(t.begin(), t.end());
      auto status = HuffmanDecode(exact, std::span<uint8_t>(out));
      EXPECT_FALSE(status.ok()) << "cut at " << cut;
      EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
    }
  }
}

TEST(Huffman, BitFlipsNeverCrashAndNeverGoUnnoticed) {
  auto sym = GeometricSymbols(20000, 33, 0.8, 77);
  std::string stream;
  ASSERT_TRUE(HuffmanEncode(sym, 33, &stream).ok());
  std::mt19937 rng(5);
  int detected = 0;
  const int trials = 2000;
  for (int t = 0; t < trials; ++t) {
    std::vector<uint8_t> bad(stream.begin(), stream.end());
    bad[rng() % bad.size()] ^= static_cast<uint8_t>(1u << (rng() % 8));
    std::vector<uint16_t> out(sym.size());
    auto s = HuffmanDecode(bad, std::span<uint16_t>(out));
    if (!s.ok() || out != sym) ++detected;
    if (!s.ok()) {
      EXPECT_FALSE(s.message().empty());
    }
  }
  // Every flip changes the data; the decoder may only fail to notice when a
  // flip turns one valid code into another of the same length.
  EXPECT_EQ(detected, trials);
}

TEST(Huffman, LyingHeadersAreRejected) {
  auto sym = GeometricSymbols(5000, 33, 0.8, 1);
  std::string stream;
  ASSERT_TRUE(HuffmanEncode(sym, 33, &stream).ok());
  // The first varint is the symbol count: claim far more symbols.
  std::string lie = stream;
  lie[0] = static_cast<char>(0xff);
  lie.insert(1, "\xff\xff\xff\x0f");
  auto info = ParseHuffmanHeader(Bytes(lie));
  EXPECT_FALSE(info.ok());
  // Alphabet of zero, and above the maximum.
  for (const std::string& bad_alpha :
       {std::string("\x05\x00\x01\x00", 4),
        std::string("\x05\x81\x80\x04\x01\x00", 6)}) {
    EXPECT_FALSE(ParseHuffmanHeader(Bytes(bad_alpha)).ok());
  }
  // Unknown mode.
  EXPECT_FALSE(ParseHuffmanHeader(Bytes(std::string("\x01\x02\x07", 3))).ok());
}

}  // namespace
}  // namespace condense::codec

namespace condense::codec {
namespace {

// The sizer must give the encoder's exact size, or a coding choice made
// from it would differ from one made by coding.
TEST(HuffmanStreamSizerTest, IsTheEncodedSize) {
  std::mt19937 rng(11);
  for (uint32_t alphabet : {1u, 2u, 5u, 32u, 256u, 1024u, 40000u}) {
    for (size_t n : {size_t{0}, size_t{1}, size_t{100}, size_t{4095},
                     size_t{4096}, size_t{50001}}) {
      std::geometric_distribution<uint32_t> skew(0.3);
      std::vector<uint16_t> symbols(n);
      for (auto& s : symbols) {
        s = static_cast<uint16_t>(std::min(skew(rng), alphabet - 1));
      }
      std::string coded;
      ASSERT_TRUE(
          HuffmanEncode(std::span<const uint16_t>(symbols), alphabet, &coded)
              .ok());
      HuffmanStreamSizer sizer(n, alphabet);
      for (uint16_t s : symbols) sizer.Add(s);
      EXPECT_EQ(sizer.Bytes(), coded.size())
          << "alphabet " << alphabet << ", " << n << " symbols";
    }
  }
}

}  // namespace
}  // namespace condense::codec
