#include "base/sha256.h"

#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace condense::base {
namespace {

TEST(Sha256Test, KnownVectors) {
  EXPECT_EQ(Sha256Hex(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // Two blocks (FIPS 180-4 example).
  EXPECT_EQ(
      Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(Sha256Hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256Test, StreamingMatchesOneShotAtEverySplit) {
  std::string data;
  for (int i = 0; i < 300; ++i) data.push_back(static_cast<char>(i * 7));
  const std::string want = Sha256Hex(data);
  for (size_t split = 0; split <= data.size(); split += 13) {
    Sha256Stream h;
    h.Update(absl::string_view(data).substr(0, split));
    h.Update(absl::string_view(data).substr(split));
    EXPECT_EQ(h.HexDigest(), want) << split;
  }
}

TEST(Sha256Test, FilesHashAsTheirBytes) {
  const std::string path = ::testing::TempDir() + "/sha256_file";
  const std::string data(3 << 20, 'x');  // Several read chunks.
  std::ofstream(path, std::ios::binary) << data;
  auto digest = FileSha256Hex(path);
  ASSERT_TRUE(digest.ok()) << digest.status();
  EXPECT_EQ(*digest, Sha256Hex(data));
  EXPECT_EQ(FileSha256Hex(path + ".missing").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(IsSha256Hex(*digest));
}

}  // namespace
}  // namespace condense::base
