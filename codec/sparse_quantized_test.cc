#include "codec/sparse_quantized.h"

#include <bit>
#include <cstring>
#include <random>

#include "codec/test_distributions.h"
#include "gtest/gtest.h"

namespace condense::codec {
namespace {

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

void ExpectBitExact(const std::vector<float>& a, const std::vector<float>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    const float expect = a[i] == 0.0f ? 0.0f : a[i];  // -0.0 decodes as +0.0.
    ASSERT_EQ(std::bit_cast<uint32_t>(expect), std::bit_cast<uint32_t>(b[i]))
        << "element " << i;
  }
}

SparseQuantizedParts RoundTrip(const std::vector<float>& values,
                               const std::vector<float>& codebook,
                               int gap_bits) {
  std::string payload;
  SparseQuantizedParts parts;
  auto s = EncodeSparseQuantized(values, codebook, gap_bits, &payload, &parts);
  EXPECT_TRUE(s.ok()) << s;
  std::vector<float> out(values.size(), 1.0f);
  s = DecodeSparseQuantized(Bytes(payload), std::span<float>(out), "t");
  EXPECT_TRUE(s.ok()) << s;
  ExpectBitExact(values, out);
  EXPECT_EQ(parts.codebook_bytes + parts.table_bytes + parts.gap_bytes +
                parts.index_bytes + parts.other_bytes,
            payload.size());
  // The size the writer chooses by is the size it writes.
  const int widths[] = {gap_bits};
  auto sized = SparseQuantizedBytes(values, codebook, widths);
  EXPECT_TRUE(sized.ok()) << sized.status();
  if (sized.ok()) {
    EXPECT_EQ((*sized)[0], payload.size());
  }
  return parts;
}

TEST(SparseQuantized, RoundTripsAcrossDensitiesGapBitsAndLaws) {
  uint64_t seed = 1;
  for (size_t n : {1u, 10u, 1000u, 40000u}) {
    for (double density : {0.0, 0.01, 0.05, 0.1, 0.3, 0.7, 1.0}) {
      for (int gap_bits : {1, 2, 3, 4, 5, 8, 9, 12, 16}) {
        for (int centroids : {1, 4, 32, 256, 300}) {
          std::vector<float> codebook;
          auto w = testing::QuantizedSparseWeights(
              n, density, centroids, seed % 2 == 0, seed, &codebook);
          ++seed;
          RoundTrip(w, codebook, gap_bits);
        }
      }
    }
  }
}

TEST(SparseQuantized, SizesEveryWidthInOnePassAsCodingThemWould) {
  uint64_t seed = 100;
  for (size_t n : {0u, 5u, 3000u, 200000u}) {
    for (double density : {0.0, 0.002, 0.1, 0.6, 1.0}) {
      for (int centroids : {1, 2, 3, 16, 64, 4096}) {
        std::vector<float> codebook;
        auto w = testing::QuantizedSparseWeights(
            n, density, centroids, seed % 2 == 0, seed, &codebook);
        ++seed;
        const std::vector<int> widths = {1, 3, 7, 16};
        auto sized = SparseQuantizedBytes(w, codebook, widths);
        ASSERT_TRUE(sized.ok()) << sized.status();
        for (size_t k = 0; k < widths.size(); ++k) {
          std::string payload;
          ASSERT_TRUE(
              EncodeSparseQuantized(w, codebook, widths[k], &payload).ok());
          EXPECT_EQ((*sized)[k], payload.size())
              << n << " weights, density " << density << ", " << centroids
              << " centroids, " << widths[k] << " gap bits";
        }
      }
    }
  }
  const int bad_width[] = {17};
  EXPECT_EQ(SparseQuantizedBytes(std::vector<float>{1.0f},
                                 std::vector<float>{1.0f}, bad_width)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  const int one[] = {4};
  EXPECT_EQ(SparseQuantizedBytes(std::vector<float>{2.0f},
                                 std::vector<float>{1.0f}, one)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);  // 2 is in no entry.
}

TEST(SparseQuantized, FillersBridgeGapsFarBeyondTwoToTheB) {
  // Two nonzeros 100,000 apart with 3-bit gaps: 100000 / 7 fillers.
  std::vector<float> w(200000, 0.0f);
  w[5] = 0.5f;
  w[100005] = -0.25f;
  auto parts = RoundTrip(w, {-0.25f, 0.5f}, 3);
  EXPECT_EQ(parts.nonzeros, 2u);
  EXPECT_EQ(parts.fillers, (100005 - 6) / 7);
  EXPECT_EQ(parts.gap_entries, parts.nonzeros + parts.fillers);
  // A nonzero exactly at gap F-1 and F (the filler boundary).
  for (size_t gap : {6u, 7u, 8u, 14u, 15u}) {
    std::vector<float> v(40, 0.0f);
    v[0] = 1.0f;
    v[1 + gap] = 1.0f;
    RoundTrip(v, {1.0f}, 3);
  }
}

TEST(SparseQuantized, NegativeZeroIsTreatedAsPruned) {
  std::vector<float> w = {-0.0f, 1.0f, 0.0f, -0.0f, 2.0f};
  RoundTrip(w, {1.0f, 2.0f}, 4);
}

TEST(SparseQuantized, RejectsBadInput) {
  std::string payload = "unchanged";
  std::vector<float> w = {0.0f, 0.3f};
  auto s = EncodeSparseQuantized(w, std::vector<float>{0.5f}, 4, &payload);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("not in the codebook"), std::string::npos) << s;
  EXPECT_EQ(payload, "unchanged");
  EXPECT_FALSE(
      EncodeSparseQuantized(w, std::vector<float>{0.3f}, 0, &payload).ok());
  EXPECT_FALSE(
      EncodeSparseQuantized(w, std::vector<float>{0.3f}, 17, &payload).ok());
  EXPECT_FALSE(
      EncodeSparseQuantized(w, std::vector<float>{}, 4, &payload).ok());
  EXPECT_FALSE(
      EncodeSparseQuantized(w, std::vector<float>{0.3f, 0.3f}, 4, &payload)
          .ok());
  EXPECT_FALSE(
      EncodeSparseQuantized(w, std::vector<float>{0.3f, NAN}, 4, &payload)
          .ok());
  EXPECT_EQ(payload, "unchanged");
}

TEST(SparseQuantized, CorruptPayloadsGiveErrorsNeverCrashes) {
  std::vector<float> codebook;
  auto w = testing::QuantizedSparseWeights(5000, 0.1, 32, true, 3, &codebook);
  std::string payload;
  ASSERT_TRUE(EncodeSparseQuantized(w, codebook, 5, &payload).ok());
  std::vector<float> out(w.size());
  for (size_t cut = 0; cut < payload.size(); ++cut) {
    std::vector<uint8_t> exact(payload.begin(), payload.begin() + cut);
    EXPECT_FALSE(DecodeSparseQuantized(exact, std::span<float>(out), "t").ok())
        << cut;
  }
  std::mt19937 rng(1);
  for (int t = 0; t < 3000; ++t) {
    std::vector<uint8_t> bad(payload.begin(), payload.end());
    bad[rng() % bad.size()] ^= static_cast<uint8_t>(1u << (rng() % 8));
    auto s = DecodeSparseQuantized(bad, std::span<float>(out), "t");
    if (!s.ok()) {
      EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
    }
  }
  // The wrong element count for the payload.
  std::vector<float> small(10);
  EXPECT_FALSE(
      DecodeSparseQuantized(Bytes(payload), std::span<float>(small), "t").ok());
}

}  // namespace
}  // namespace condense::codec

namespace condense::codec {
namespace {

TEST(SparseQuantized, SmallCodebooksPackSeveralIndicesPerSymbol) {
  for (size_t n : {7u, 1001u, 200003u}) {
    for (int centroids : {2, 3, 4, 8, 16, 40}) {
      std::vector<float> codebook;
      auto w = testing::QuantizedSparseWeights(n, 0.3, centroids, true,
                                               n + centroids, &codebook);
      RoundTrip(w, codebook, 4);
    }
  }
  // A skewed 2-bit codebook (entropy 0.85 bits per index): Huffman alone
  // cannot go below one bit per index; packing must.
  std::mt19937 rng(4);
  std::discrete_distribution<int> pick({85, 5, 5, 5});
  const std::vector<float> codebook = {-0.5f, -0.1f, 0.1f, 0.5f};
  std::vector<float> w(100001);
  for (auto& x : w) x = codebook[pick(rng)];
  auto parts = RoundTrip(w, codebook, 2);
  EXPECT_GT(parts.index_pack, 1);
  EXPECT_LT(parts.index_bytes * 8, parts.nonzeros * 9 / 10);
}

}  // namespace
}  // namespace condense::codec
