#include "codec/crc32c.h"

#include <random>
#include <string>

#include "gtest/gtest.h"

namespace condense::codec {
namespace {

TEST(Crc32c, KnownVectors) {
  // RFC 3720 (iSCSI) test vectors.
  EXPECT_EQ(Crc32c("", 0), 0u);
  EXPECT_EQ(Crc32c("123456789", 9), 0xE3069283u);
  std::string zeros(32, '\0');
  EXPECT_EQ(Crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);
  std::string ones(32, '\xff');
  EXPECT_EQ(Crc32c(ones.data(), ones.size()), 0x62A8AB43u);
}

TEST(Crc32c, FastAndPortableAgreeAndExtendComposes) {
  std::mt19937 rng(7);
  for (size_t n : {1u, 7u, 8u, 9u, 63u, 1000u, 4097u}) {
    std::string data(n, '\0');
    for (char& c : data) c = static_cast<char>(rng());
    const uint32_t whole = Crc32c(data.data(), n);
    EXPECT_EQ(whole, Crc32cExtendPortable(0, data.data(), n)) << n;
    const size_t cut = n / 3;
    EXPECT_EQ(whole, Crc32cExtend(Crc32c(data.data(), cut), data.data() + cut,
                                  n - cut))
        << n;
  }
}

}  // namespace
}  // namespace condense::codec
