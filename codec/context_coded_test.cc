// The range coder and the CONTEXT_CODED tensor encoding: bit-exact round
// trips over the families of tensors the Huffman tests use, the rates the
// coder reaches, and damaged payloads (run under ASan/UBSan in CI).
#include "codec/context_coded.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <random>

#include "codec/cdz_test_util.h"
#include "codec/range_coder.h"
#include "codec/sparse_quantized.h"
#include "codec/test_distributions.h"
#include "gtest/gtest.h"

namespace condense::codec {
namespace {

using testing::Bytes;

void ExpectBitExact(const std::vector<float>& a, const std::vector<float>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    const float expect = a[i] == 0.0f ? 0.0f : a[i];  // -0.0 decodes as +0.0.
    ASSERT_EQ(std::bit_cast<uint32_t>(expect), std::bit_cast<uint32_t>(b[i]))
        << "element " << i;
  }
}

ContextCodedParts RoundTrip(const std::vector<float>& values,
                            const std::vector<float>& codebook,
                            uint64_t row_length,
                            std::string* payload_out = nullptr) {
  std::string payload;
  ContextCodedParts parts;
  auto s = EncodeContextCoded(values, codebook, row_length, &payload, &parts);
  EXPECT_TRUE(s.ok()) << s;
  std::vector<float> out(values.size(), 7.0f);  // Stale contents.
  s = DecodeContextCoded(Bytes(payload), std::span<float>(out), "t");
  EXPECT_TRUE(s.ok()) << s;
  ExpectBitExact(values, out);
  EXPECT_EQ(parts.codebook_bytes + parts.mask_bytes + parts.index_bytes +
                parts.other_bytes,
            payload.size());
  if (payload_out != nullptr) *payload_out = payload;
  return parts;
}

TEST(RangeCoder, RoundTripsBitsUnderChangingProbabilities) {
  std::mt19937_64 rng(3);
  for (int n : {0, 1, 2, 7, 100, 10000, 200000}) {
    std::vector<uint32_t> bits(n);
    std::vector<int> ctx(n);
    std::uniform_real_distribution<double> u(0, 1);
    for (int i = 0; i < n; ++i) {
      ctx[i] = static_cast<int>(rng() % 4);
      // Context 0 almost always 0, 3 almost always 1, two in between.
      const double p1[] = {0.001, 0.3, 0.6, 0.999};
      bits[i] = u(rng) < p1[ctx[i]] ? 1 : 0;
    }
    std::string out = "prefix";
    BitModel enc_models[4];
    RangeEncoder enc(&out, 7);
    for (int i = 0; i < n; ++i) enc.Encode(bits[i], &enc_models[ctx[i]]);
    enc.Finish();
    ASSERT_EQ(out.substr(0, 6), "prefix");
    const std::string stream = out.substr(6);
    // The decoder's two forms of one decision, in turn, must agree.
    BitModel dec_models[4];
    RangeDecoder dec(Bytes(stream), 7);
    for (int i = 0; i < n; ++i) {
      BitModel* m = &dec_models[ctx[i]];
      const uint32_t bit =
          i % 2 == 0 ? dec.Decode(m) : dec.DecodeWithP16(m->P16(), m);
      ASSERT_EQ(bit, bits[i]) << "bit " << i;
    }
    EXPECT_TRUE(dec.Finish()) << n << " bits, " << stream.size() << " bytes";
  }
}

TEST(RangeCoder, IidBitsCostWithinOnePercentOfTheirEntropy) {
  std::mt19937_64 rng(5);
  for (double p : {0.5, 0.2, 0.05, 0.01}) {
    const int n = 1'000'000;
    std::bernoulli_distribution bit(p);
    std::string out;
    BitModel m;
    RangeEncoder enc(&out, 10);  // A stationary stream.
    uint64_t ones = 0;
    for (int i = 0; i < n; ++i) {
      const uint32_t b = bit(rng) ? 1 : 0;
      ones += b;
      enc.Encode(b, &m);
    }
    enc.Finish();
    const double q = static_cast<double>(ones) / n;
    const double entropy_bytes =
        n * -(q * std::log2(q) + (1 - q) * std::log2(1 - q)) / 8;
    EXPECT_LT(static_cast<double>(out.size()), 1.01 * entropy_bytes)
        << "p = " << p;
  }
}

TEST(RangeCoder, FlushDropsTrailingZerosAndDecoderNoticesMissingBytes) {
  std::string out;
  BitModel m;
  RangeEncoder enc(&out, 7);
  for (int i = 0; i < 1000; ++i) enc.Encode(i % 3 == 0 ? 1 : 0, &m);
  enc.Finish();
  ASSERT_FALSE(out.empty());
  // Cutting bytes the decoder needs is noticed: it must read past the four
  // zero bytes it may assume.
  const std::string cut = out.substr(0, out.size() > 5 ? out.size() - 5 : 0);
  BitModel d;
  RangeDecoder dec(Bytes(cut), 7);
  for (int i = 0; i < 1000; ++i) dec.Decode(&d);
  EXPECT_FALSE(dec.Finish());
}

TEST(ContextCoded, RoundTripsAcrossDensitiesCodebooksAndShapes) {
  uint64_t seed = 1;
  for (size_t rows : {1u, 3u, 40u}) {
    for (size_t cols : {1u, 7u, 250u}) {
      const size_t n = rows * cols;
      for (double density : {0.0, 0.001, 0.01, 0.1, 0.5, 0.9, 1.0}) {
        for (int centroids : {1, 2, 3, 4, 5, 16, 31, 32, 256, 300}) {
          std::vector<float> codebook;
          auto w = testing::QuantizedSparseWeights(
              n, density, centroids, seed % 2 == 0, seed, &codebook);
          ++seed;
          RoundTrip(w, codebook, cols);
        }
      }
    }
  }
}

TEST(ContextCoded, EmptyAndOneElementTensors) {
  RoundTrip({}, {1.0f}, 1);
  RoundTrip({0.0f}, {1.0f}, 1);
  RoundTrip({-0.0f}, {2.5f}, 1);
  RoundTrip({2.5f}, {2.5f}, 1);
  RoundTrip({2.5f}, {-1.0f, 2.5f}, 1);
  RoundTrip({0.0f, 2.5f, 0.0f}, {-1.0f, 2.5f}, 3);
}

TEST(ContextCoded, LargestCodebookRoundTrips) {
  std::vector<float> codebook(65536);
  for (size_t i = 0; i < codebook.size(); ++i) {
    codebook[i] = static_cast<float>(i) - 32768.5f;
  }
  std::mt19937_64 rng(11);
  std::vector<float> w(200000, 0.0f);
  for (float& v : w) {
    if (rng() % 3 != 0) v = codebook[rng() % codebook.size()];
  }
  RoundTrip(w, codebook, 400);
}

TEST(ContextCoded, TensOfMillionsOfWeights) {
  std::vector<float> codebook;
  auto w = testing::QuantizedSparseWeights(20'000'000, 0.05, 32, true, 17,
                                           &codebook);
  RoundTrip(w, codebook, 4000);
}

TEST(ContextCoded, CodebookOrderDoesNotMatterAndIsStoredAscending) {
  std::vector<float> codebook;
  auto w = testing::QuantizedSparseWeights(5000, 0.3, 16, true, 4, &codebook);
  std::vector<float> reversed(codebook.rbegin(), codebook.rend());
  std::string a, b;
  RoundTrip(w, codebook, 100, &a);
  RoundTrip(w, reversed, 100, &b);
  EXPECT_EQ(a, b);
}

// Whole input columns pruned in every row (the border pixels of an image
// classifier's first layer) and rows of different densities: the structure
// an order-0 code of gaps cannot see.
std::vector<float> StructuredLayer(size_t rows, size_t cols,
                                   std::vector<float>* codebook,
                                   uint64_t seed) {
  std::mt19937_64 rng(seed);
  *codebook = {};
  for (int c = 0; c < 32; ++c) codebook->push_back(-0.31f + 0.02f * c);
  std::vector<double> column_density(cols);
  for (auto& d : column_density) d = rng() % 3 == 0 ? 0.0 : 0.15;
  std::vector<float> w(rows * cols, 0.0f);
  std::uniform_real_distribution<double> u(0, 1);
  for (size_t r = 0; r < rows; ++r) {
    const double row_scale = 0.3 + 1.4 * u(rng);
    for (size_t c = 0; c < cols; ++c) {
      if (u(rng) < column_density[c] * row_scale) {
        w[r * cols + c] = (*codebook)[rng() % 32];
      }
    }
  }
  return w;
}

TEST(ContextCoded, BeatsHuffmanWhereTheMaskHasStructure) {
  std::vector<float> codebook;
  const auto w = StructuredLayer(300, 784, &codebook, 2);
  std::string context;
  const ContextCodedParts parts = RoundTrip(w, codebook, 784, &context);
  uint64_t best_gaps = UINT64_MAX;
  uint64_t best_total = UINT64_MAX;
  for (int gap_bits = 2; gap_bits <= 8; ++gap_bits) {
    std::string huffman;
    SparseQuantizedParts h;
    ASSERT_TRUE(
        EncodeSparseQuantized(w, codebook, gap_bits, &huffman, &h).ok());
    best_gaps = std::min<uint64_t>(best_gaps, h.gap_bytes);
    best_total = std::min<uint64_t>(best_total, huffman.size());
  }
  // The indices are uniform (incompressible); the positions carry the gain.
  EXPECT_LT(static_cast<double>(parts.mask_bytes), 0.9 * best_gaps)
      << parts.mask_bytes << " vs " << best_gaps;
  EXPECT_LT(context.size(), best_total);
}

TEST(ContextCoded, RejectsBadInputs) {
  std::string payload;
  const std::vector<float> three = {1, 2, 3};
  const std::vector<float> two = {1, 2};
  const std::vector<float> equal = {1, 1};
  EXPECT_EQ(EncodeContextCoded(three, three, 2, &payload).code(),
            absl::StatusCode::kInvalidArgument);  // 2 does not divide 3.
  EXPECT_EQ(
      EncodeContextCoded(std::vector<float>{1, 5}, two, 1, &payload).code(),
      absl::StatusCode::kInvalidArgument);  // 5 is in no entry.
  EXPECT_EQ(
      EncodeContextCoded(std::vector<float>{1}, equal, 1, &payload).code(),
      absl::StatusCode::kInvalidArgument);  // Equal entries.
  EXPECT_TRUE(payload.empty());
}

TEST(ContextCoded, TruncationsAreErrorsAndBitFlipsNeverCrash) {
  std::vector<float> codebook;
  const auto w = StructuredLayer(20, 64, &codebook, 3);
  std::string payload;
  ASSERT_TRUE(EncodeContextCoded(w, codebook, 64, &payload).ok());
  std::vector<float> out(w.size());
  // The decoder reads zeros past the end of its streams, so only cuts deep
  // enough to lose real bytes must fail; none may crash.
  int failed = 0;
  for (size_t len = 0; len < payload.size(); ++len) {
    const auto s = DecodeContextCoded(Bytes(payload.substr(0, len)),
                                      std::span<float>(out), "layer");
    if (!s.ok()) {
      ++failed;
      EXPECT_NE(s.message().find("layer"), std::string::npos) << s;
    }
  }
  EXPECT_GE(failed, static_cast<int>(payload.size()) - 8);
  std::mt19937_64 rng(1);
  for (int i = 0; i < 2000; ++i) {
    std::string bad = payload;
    bad[rng() % bad.size()] ^= static_cast<char>(1u << (rng() % 8));
    (void)DecodeContextCoded(Bytes(bad), std::span<float>(out), "layer");
  }
}

TEST(ContextCoded, AnalyzeChecksTheFraming) {
  std::vector<float> codebook;
  const auto w = StructuredLayer(10, 30, &codebook, 4);
  std::string payload;
  ASSERT_TRUE(EncodeContextCoded(w, codebook, 30, &payload).ok());
  EXPECT_TRUE(AnalyzeContextCoded(Bytes(payload), w.size(), "t").ok());
  // A row length that does not divide the element count.
  EXPECT_FALSE(AnalyzeContextCoded(Bytes(payload), w.size() + 1, "t").ok());
  std::string bad = payload;
  bad[0] = 9;  // Unknown model.
  const auto s = AnalyzeContextCoded(Bytes(bad), w.size(), "t");
  EXPECT_EQ(s.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(s.status().message().find("upgrade"), std::string::npos);
}

// A tensor of 8.4M elements (past the segmenting threshold) whose regions
// differ: dense rows, all-zero rows and 10% rows, so that segments differ in
// what they code (a dense first segment leaves its successors no mask
// choice to copy).
std::vector<float> SegmentedLayer(std::vector<float>* codebook) {
  const size_t cols = 1000;
  const size_t rows = 8400;
  std::vector<float> w =
      testing::QuantizedSparseWeights(rows * cols, 1.0, 16, true, 21, codebook);
  std::mt19937_64 rng(22);
  for (size_t i = 4500 * cols; i < 6000 * cols; ++i) w[i] = 0.0f;
  for (size_t i = 6000 * cols; i < w.size(); ++i) {
    if (rng() % 10 != 0) w[i] = 0.0f;
  }
  return w;
}

TEST(ContextCoded, SegmentsGiveTheSameBytesAndValuesOnAnyThreads) {
  std::vector<float> codebook;
  const auto w = SegmentedLayer(&codebook);
  std::string one;
  const ContextCodedParts parts = RoundTrip(w, codebook, 1000, &one);
  EXPECT_EQ(one[0], 2);           // The segmented model.
  EXPECT_EQ(parts.segments, 3u);  // 4,194 rows each, the last 12.
  EXPECT_EQ(parts.nonzeros,
            static_cast<uint64_t>(std::count_if(
                w.begin(), w.end(), [](float v) { return v != 0.0f; })));
  std::string three;
  ContextCodedParts parts3;
  ASSERT_TRUE(EncodeContextCoded(w, codebook, 1000, &three, &parts3, 3).ok());
  EXPECT_EQ(one, three);
  std::vector<float> out(w.size(), 7.0f);
  ASSERT_TRUE(
      DecodeContextCoded(Bytes(one), std::span<float>(out), "t", 4).ok());
  ExpectBitExact(w, out);
}

TEST(ContextCoded, AValueInNoEntryIsNamedAtItsPositionInTheTensor) {
  std::vector<float> codebook;
  auto w = SegmentedLayer(&codebook);
  const size_t at = 8000 * 1000 + 17;  // In the second segment.
  w[at] = 12345.0f;
  for (int threads : {1, 2}) {
    std::string payload;
    const absl::Status s =
        EncodeContextCoded(w, codebook, 1000, &payload, nullptr, threads);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(s.message().find(std::to_string(at)), std::string::npos) << s;
  }
}

TEST(ContextCoded, RowsLongerThanASegmentMakeASegmentEach) {
  std::vector<float> codebook;
  auto w = testing::QuantizedSparseWeights(3 * 3'000'000, 0.02, 4, false, 23,
                                           &codebook);
  const ContextCodedParts parts = RoundTrip(w, codebook, 3'000'000);
  EXPECT_EQ(parts.segments, 3u);
}

TEST(ContextCoded, SegmentsCodeAsSmallAsSeparateBodies) {
  // Each segment's rows coded as a tensor of their own (under the threshold:
  // one body, which tries every candidate) against the segments of the
  // large tensor (which take the first segment's choice, plus a table):
  // within a tenth of a percent.
  std::vector<float> codebook;
  const auto w = SegmentedLayer(&codebook);
  std::string whole;
  const ContextCodedParts parts = RoundTrip(w, codebook, 1000, &whole);
  uint64_t separately = 0;
  for (size_t first = 0; first < 8400; first += 4194) {
    const size_t rows = std::min<size_t>(4194, 8400 - first);
    std::string payload;
    const std::span<const float> part =
        std::span<const float>(w).subspan(first * 1000, rows * 1000);
    ASSERT_TRUE(EncodeContextCoded(part, codebook, 1000, &payload).ok());
    separately += payload.size();
  }
  EXPECT_LT(static_cast<double>(whole.size()), 1.001 * separately)
      << parts.segments << " segments";
}

// The segment table of a segmented payload, read as docs/format.md gives it.
struct SegmentTable {
  size_t count_at = 0;  // Offset of the segment count.
  size_t count_bytes = 0;
  struct Entry {
    size_t at = 0;  // Offset of its row count.
    uint64_t rows, nonzeros, mask_len, index_len;
  };
  std::vector<Entry> entries;
  size_t streams_at = 0;
};

uint64_t ReadVarint(const std::string& p, size_t* at) {
  uint64_t v = 0;
  for (int shift = 0;; shift += 7) {
    const auto b = static_cast<uint8_t>(p.at((*at)++));
    v |= uint64_t{b & 0x7Fu} << shift;
    if ((b & 0x80) == 0) return v;
  }
}

SegmentTable ReadTable(const std::string& p) {
  SegmentTable t;
  size_t at = 1;
  const uint64_t centroids = ReadVarint(p, &at);
  at += 4 * centroids;
  (void)ReadVarint(p, &at);  // Row length.
  t.count_at = at;
  const uint64_t count = ReadVarint(p, &at);
  t.count_bytes = at - t.count_at;
  for (uint64_t k = 0; k < count; ++k) {
    SegmentTable::Entry e;
    e.at = at;
    e.rows = ReadVarint(p, &at);
    at += 3;  // Model, limits.
    e.nonzeros = ReadVarint(p, &at);
    e.mask_len = ReadVarint(p, &at);
    e.index_len = ReadVarint(p, &at);
    t.entries.push_back(e);
  }
  t.streams_at = at;
  return t;
}

std::string WithVarint(const std::string& p, size_t at, size_t old_bytes,
                       uint64_t value) {
  std::string v;
  do {
    v.push_back(static_cast<char>((value & 0x7F) | (value >= 0x80 ? 0x80 : 0)));
    value >>= 7;
  } while (value != 0);
  std::string out(p, 0, at);
  out.append(v);
  out.append(p, at + old_bytes);
  return out;
}

TEST(ContextCoded, LyingSegmentTablesAreErrorsThatNameTheSegment) {
  std::vector<float> codebook;
  const auto w = SegmentedLayer(&codebook);
  std::string payload;
  ASSERT_TRUE(EncodeContextCoded(w, codebook, 1000, &payload).ok());
  const SegmentTable t = ReadTable(payload);
  ASSERT_EQ(t.entries.size(), 3u);
  uint64_t streams = 0;
  for (const auto& e : t.entries) streams += e.mask_len + e.index_len;
  ASSERT_EQ(t.streams_at + streams, payload.size());  // The page is right.

  std::vector<float> out(w.size());
  auto expect_error = [&](const std::string& bad, absl::string_view words) {
    const auto s =
        DecodeContextCoded(Bytes(bad), std::span<float>(out), "layer", 2);
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
    EXPECT_NE(s.message().find("layer"), std::string::npos) << s;
    EXPECT_NE(s.message().find(words), std::string::npos) << s;
  };
  expect_error(WithVarint(payload, t.count_at, t.count_bytes, 0),
               "segment count 0");
  expect_error(WithVarint(payload, t.count_at, t.count_bytes, 1u << 30),
               "segment count");
  {
    // The first segment claims one row more: the rows no longer add up.
    size_t at = t.entries[0].at;
    (void)ReadVarint(payload, &at);
    expect_error(WithVarint(payload, t.entries[0].at, at - t.entries[0].at,
                            t.entries[0].rows + 1),
                 "segment 2: 12 rows where 11 remain");
  }
  {
    std::string bad = payload;
    size_t at = t.entries[1].at;
    (void)ReadVarint(bad, &at);
    bad[at] = 2;  // The second segment's index model.
    expect_error(bad, "segment 1: index model 2 unknown");
  }
  expect_error(payload + std::string(3, '\0'), "after the last segment");
  {
    // The last segment's index stream loses its final bytes and its length
    // says so: the framing holds, the contents do not, and the error names
    // the segment.
    std::string bad = payload.substr(0, payload.size() - 6);
    size_t at = t.entries[2].at;
    (void)ReadVarint(bad, &at);  // Rows.
    at += 3;
    (void)ReadVarint(bad, &at);  // Nonzeros.
    (void)ReadVarint(bad, &at);  // Mask stream length.
    const size_t index_at = at;
    (void)ReadVarint(bad, &at);
    expect_error(
        WithVarint(bad, index_at, at - index_at, t.entries[2].index_len - 6),
        "segment 2: index stream length disagrees");
  }
  // Cuts anywhere in the table, and random damage, never crash.
  for (size_t len = 0; len < t.streams_at + 40; ++len) {
    (void)DecodeContextCoded(Bytes(payload.substr(0, len)),
                             std::span<float>(out), "layer", 2);
  }
  std::mt19937_64 rng(5);
  for (int i = 0; i < 20; ++i) {
    std::string bad = payload;
    bad[rng() % bad.size()] ^= static_cast<char>(1u << (rng() % 8));
    (void)DecodeContextCoded(Bytes(bad), std::span<float>(out), "layer", 2);
  }
}

}  // namespace
}  // namespace condense::codec
