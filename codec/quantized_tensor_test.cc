// The writer's choice among the quantized encodings, the FIXED_WIDTH
// encoding, and files written by earlier versions of the format.
#include "codec/quantized_tensor.h"

#include <bit>
#include <random>

#include "codec/cdz_reader.h"
#include "codec/cdz_test_util.h"
#include "codec/fixed_width.h"
#include "codec/safetensors.h"
#include "codec/test_distributions.h"
#include "gtest/gtest.h"

#ifndef CONDENSE_SOURCE_DIR
#error "CONDENSE_SOURCE_DIR must name the source tree (for codec/testdata)"
#endif

namespace condense::codec {
namespace {

using cdz::Encoding;

using testing::Bytes;

void ExpectDecodes(const EncodedQuantized& e, const std::vector<float>& w) {
  std::vector<float> out(w.size(), 3.0f);
  const auto s =
      DecodeQuantized(e.encoding, Bytes(e.body), std::span<float>(out), "t");
  ASSERT_TRUE(s.ok()) << s;
  for (size_t i = 0; i < w.size(); ++i) {
    const float expect = w[i] == 0.0f ? 0.0f : w[i];
    ASSERT_EQ(std::bit_cast<uint32_t>(expect), std::bit_cast<uint32_t>(out[i]))
        << "element " << i;
  }
  auto parts = AnalyzeQuantized(e.encoding, Bytes(e.body), w.size(), "t");
  ASSERT_TRUE(parts.ok()) << parts.status();
  EXPECT_EQ(parts->codebook_bytes + parts->table_bytes + parts->position_bytes +
                parts->index_bytes + parts->other_bytes,
            e.body.size());
}

// With threads the context coder runs beside the other encodings on a large
// tensor; the choice and every byte are those of one thread. So is an error
// the context coder finds while the others run.
TEST(EncodeQuantized, ThreadsChangeNoByte) {
  const std::vector<uint64_t> shape{1024, 1030};
  const size_t n = 1024 * 1030;
  ASSERT_GE(n, kParallelEncodeElements);
  for (double density : {0.1, 1.0}) {
    std::vector<float> codebook;
    auto w =
        testing::QuantizedSparseWeights(n, density, 32, true, 5, &codebook);
    auto one = EncodeQuantized(w, shape, codebook, {.threads = 1});
    auto two = EncodeQuantized(w, shape, codebook, {.threads = 2});
    ASSERT_TRUE(one.ok()) << one.status();
    ASSERT_TRUE(two.ok()) << two.status();
    EXPECT_EQ(one->encoding, two->encoding);
    EXPECT_EQ(one->body, two->body);
    EXPECT_EQ(one->alternatives.context_coded, two->alternatives.context_coded);
    EXPECT_GT(two->alternatives.context_coded, 0u);
    EXPECT_EQ(one->alternatives.sparse_quantized,
              two->alternatives.sparse_quantized);
    ExpectDecodes(*two, w);
    w[n / 2] = 12345.0f;  // In no centroid.
    auto bad = EncodeQuantized(w, shape, codebook, {.threads = 2});
    EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  }
}

// A tensor past the segmenting size, written and read back through the
// container with the reader's decode threads: the same values either way.
TEST(EncodeQuantized, LargeTensorsDecodeOnSeveralThreadsThroughTheReader) {
  const testing::ModelTensor big = testing::SegmentedTensor(9);
  const std::string file = testing::WriteModel({big}, {});
  ASSERT_FALSE(file.empty());
  std::vector<std::vector<float>> decoded;
  for (int threads : {1, 3}) {
    ReaderOptions options;
    options.decode_threads = threads;
    auto reader = testing::OpenBytes(file, options);
    ASSERT_TRUE(reader.ok()) << reader.status();
    DecodedTensor t;
    ASSERT_TRUE((*reader)->Decode(0, &t).ok());
    decoded.push_back(std::move(t.values));
  }
  EXPECT_EQ(decoded[0], big.values);
  EXPECT_EQ(decoded[1], big.values);
}

TEST(FixedWidth, RoundTripsAndItsSizeIsKnownInAdvance) {
  uint64_t seed = 1;
  for (size_t n : {0u, 1u, 9u, 1000u, 30000u}) {
    for (double density : {0.0, 0.05, 0.5, 1.0}) {
      for (int centroids : {1, 2, 3, 8, 255, 256, 257, 5000}) {
        std::vector<float> codebook;
        auto w = testing::QuantizedSparseWeights(n, density, centroids, true,
                                                 seed++, &codebook);
        auto e = EncodeQuantized(
            w, std::vector<uint64_t>{n}, codebook,
            {.allow_sparse_quantized = false, .allow_context_coded = false});
        ASSERT_TRUE(e.ok()) << e.status();
        EXPECT_EQ(e->encoding, Encoding::kFixedWidth);
        uint64_t nonzeros = 0;
        for (float v : w) nonzeros += v != 0.0f ? 1 : 0;
        EXPECT_EQ(e->body.size(),
                  FixedWidthBytes(n, nonzeros,
                                  static_cast<uint32_t>(codebook.size())));
        ExpectDecodes(*e, w);
      }
    }
  }
}

TEST(FixedWidth, DamageIsAnErrorNeverACrash) {
  std::vector<float> codebook;
  auto w = testing::QuantizedSparseWeights(500, 0.3, 5, true, 2, &codebook);
  std::string body;
  ASSERT_TRUE(EncodeFixedWidth(w, codebook, &body).ok());
  std::vector<float> out(w.size());
  for (size_t len = 0; len < body.size(); ++len) {
    EXPECT_FALSE(
        DecodeFixedWidth(Bytes(body.substr(0, len)), std::span<float>(out), "t")
            .ok())
        << len;
  }
  std::mt19937_64 rng(4);
  for (int i = 0; i < 2000; ++i) {
    std::string bad = body;
    bad[rng() % bad.size()] ^= static_cast<char>(1u << (rng() % 8));
    (void)DecodeFixedWidth(Bytes(bad), std::span<float>(out), "t");
  }
}

// The property the writer promises: whatever the tensor, what it stores is
// no larger than the fixed-width form of the same weights, and it decodes.
TEST(EncodeQuantized, NeverLargerThanFixedWidthOverRandomTensors) {
  std::mt19937_64 rng(2024);
  for (int trial = 0; trial < 300; ++trial) {
    const size_t rows = 1 + rng() % 40;
    const size_t cols = 1 + rng() % 300;
    const double density =
        std::pow(10.0, -3.0 * static_cast<double>(rng() % 1000) / 1000.0);
    const int centroids = 1 + static_cast<int>(rng() % 64);
    std::vector<float> codebook;
    auto w = testing::QuantizedSparseWeights(rows * cols, density, centroids,
                                             trial % 2 == 0, rng(), &codebook);
    const std::vector<uint64_t> shape = {rows, cols};
    auto e = EncodeQuantized(w, shape, codebook, {});
    ASSERT_TRUE(e.ok()) << e.status();
    uint64_t nonzeros = 0;
    for (float v : w) nonzeros += v != 0.0f ? 1 : 0;
    const uint64_t fixed = FixedWidthBytes(
        w.size(), nonzeros, static_cast<uint32_t>(codebook.size()));
    EXPECT_LE(e->body.size(), fixed) << "trial " << trial;
    EXPECT_EQ(e->alternatives.fixed_width, fixed);
    EXPECT_EQ(e->body.size(), std::min({e->alternatives.sparse_quantized,
                                        e->alternatives.context_coded,
                                        e->alternatives.fixed_width}));
    ExpectDecodes(*e, w);
  }
}

TEST(EncodeQuantized, ChoosesTheContextCoderOnALargeSparseLayer) {
  std::vector<float> codebook;
  auto w =
      testing::QuantizedSparseWeights(300 * 784, 0.08, 32, true, 5, &codebook);
  auto e = EncodeQuantized(w, std::vector<uint64_t>{300, 784}, codebook, {});
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->encoding, Encoding::kContextCoded);
  EXPECT_LT(e->alternatives.context_coded, e->alternatives.sparse_quantized);
  ExpectDecodes(*e, w);
}

TEST(EncodeQuantized, WrittenFilesAreTheCurrentVersionAndReportAlternatives) {
  ModelSize sizes;
  const std::string file =
      testing::WriteModel(testing::SampleModel(1), {{"k", "v"}}, &sizes);
  auto reader = testing::OpenBytes(file);
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ((*reader)->major_version(), 1);
  EXPECT_EQ((*reader)->minor_version(), cdz::kMinorVersion);
  bool saw[4] = {};
  for (const auto& t : sizes.tensors) {
    saw[static_cast<int>(t.encoding)] = true;
    if (t.encoding == Encoding::kRaw) continue;
    EXPECT_GT(t.alternatives.fixed_width + t.alternatives.context_coded +
                  t.alternatives.sparse_quantized,
              0u)
        << t.name;
  }
  EXPECT_TRUE(saw[1] && saw[2] && saw[3]) << "every quantized encoding";
  // What the reader reports agrees with the writer, byte for byte.
  auto read = (*reader)->Sizes();
  ASSERT_TRUE(read.ok());
  ASSERT_EQ(read->tensors.size(), sizes.tensors.size());
  for (size_t i = 0; i < sizes.tensors.size(); ++i) {
    EXPECT_EQ(read->tensors[i].total_bytes, sizes.tensors[i].total_bytes);
    EXPECT_EQ(read->tensors[i].encoding, sizes.tensors[i].encoding);
    EXPECT_EQ(read->tensors[i].position_bytes, sizes.tensors[i].position_bytes);
  }
}

// A file written by condense before 1.1 (codec/testdata/format-1.0.cdz, by
// `cdz pack` of that version) decodes to the tensors that version exported.
TEST(EncodeQuantized, FormatOneZeroFilesStillDecode) {
  const std::string dir = std::string(CONDENSE_SOURCE_DIR) + "/codec/testdata";
  auto reader = CdzReader::OpenPath(dir + "/format-1.0.cdz");
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ((*reader)->minor_version(), 0);
  auto expected = SafetensorsReader::OpenPath(dir + "/format-1.0.safetensors");
  ASSERT_TRUE(expected.ok()) << expected.status();
  ASSERT_EQ((*reader)->tensors().size(), (*expected)->entries().size());
  int quantized = 0;
  DecodedTensor t;
  for (const auto& e : (*expected)->entries()) {
    auto i = (*reader)->Find(e.name);
    ASSERT_TRUE(i.has_value()) << e.name;
    ASSERT_TRUE((*reader)->Decode(*i, &t).ok());
    if (t.info.encoding == Encoding::kSparseQuantized) ++quantized;
    if (t.dtype == DType::kF32) {
      std::vector<float> want;
      ASSERT_TRUE((*expected)->ReadFloat32(e, &want).ok());
      EXPECT_EQ(t.values, want) << e.name;
    } else {
      std::vector<uint8_t> want;
      ASSERT_TRUE((*expected)->ReadBytes(e, &want).ok());
      EXPECT_EQ(t.bytes, want) << e.name;
    }
  }
  EXPECT_EQ(quantized, 2);
}

}  // namespace
}  // namespace condense::codec
