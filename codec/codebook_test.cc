#include "codec/codebook.h"

#include <bit>
#include <cmath>
#include <limits>
#include <random>
#include <unordered_set>
#include <vector>

#include "gtest/gtest.h"

namespace condense::codec {
namespace {

// Every entry is found at its own index; a value that differs from every
// entry, even in one bit, is not.
void ExpectFindsExactlyTheEntries(const std::vector<float>& codebook) {
  ASSERT_TRUE(CheckCodebook(codebook).ok());
  const CodebookLookup lookup(codebook);
  std::unordered_set<uint32_t> entries;
  for (float c : codebook) entries.insert(std::bit_cast<uint32_t>(c));
  for (size_t i = 0; i < codebook.size(); ++i) {
    const float v = codebook[i];
    ASSERT_EQ(lookup.Find(v), static_cast<int64_t>(i)) << v;
    for (float near :
         {std::nextafter(v, -INFINITY), std::nextafter(v, INFINITY), -v}) {
      if (!entries.contains(std::bit_cast<uint32_t>(near))) {
        EXPECT_EQ(lookup.Find(near), -1) << near << " near " << v;
      }
    }
  }
  for (float v : {std::numeric_limits<float>::quiet_NaN(), INFINITY, -INFINITY,
                  std::numeric_limits<float>::denorm_min()}) {
    EXPECT_EQ(lookup.Find(v), -1) << v;
  }
}

TEST(CodebookLookup, FindsEntriesBitForBitAtEverySize) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  for (size_t size : {1u, 2u, 3u, 32u, 255u, 256u, 4096u, 65536u}) {
    SCOPED_TRACE(size);
    std::vector<float> codebook;
    std::unordered_set<uint32_t> seen;
    while (codebook.size() < size) {
      const float v = normal(rng);
      if (v != 0.0f && seen.insert(std::bit_cast<uint32_t>(v)).second) {
        codebook.push_back(v);
      }
    }
    ExpectFindsExactlyTheEntries(codebook);
  }
}

TEST(CodebookLookup, ZeroAndNegativeZeroAreDifferentValues) {
  const CodebookLookup lookup(std::vector<float>{-0.5f, 0.0f, 0.5f});
  EXPECT_EQ(lookup.Find(0.0f), 1);
  EXPECT_EQ(lookup.Find(-0.0f), -1);
}

// Entries that share their low bits (evenly spaced values, as linear k-means
// initialisation gives) must not collide into long probe runs that lose one.
TEST(CodebookLookup, EvenlySpacedEntries) {
  std::vector<float> codebook;
  for (int i = 0; i < 256; ++i) codebook.push_back(-1.0f + i / 128.0f + 1e-3f);
  ExpectFindsExactlyTheEntries(codebook);
  std::vector<float> powers;
  for (int e = -60; e <= 60; ++e) powers.push_back(std::ldexp(1.0f, e));
  ExpectFindsExactlyTheEntries(powers);
}

}  // namespace
}  // namespace condense::codec
