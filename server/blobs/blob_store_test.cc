#include "server/blobs/blob_store.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/sha256.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace condense::server {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string RandomBytes(size_t size, unsigned seed) {
  std::mt19937 rng(seed);
  std::string data(size, '\0');
  for (char& c : data) c = static_cast<char>(rng() & 0xff);
  return data;
}

BlobDigest DigestOf(const std::string& data) {
  return BlobDigest{base::Sha256Hex(data), static_cast<int64_t>(data.size())};
}

class BlobStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern =
        (fs::temp_directory_path() / "blob_store_test_XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
    store_ = OpenStore();
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(root_);
  }

  std::unique_ptr<BlobStore> OpenStore(int64_t max_blob_bytes = 0) {
    auto store = BlobStore::Open({root_, max_blob_bytes});
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }

  // Uploads `data` in `chunk`-byte appends and finishes.
  absl::Status Upload(const std::string& tenant, const std::string& uuid,
                      const std::string& data, size_t chunk = 64 << 10,
                      BlobStore* store = nullptr) {
    if (store == nullptr) store = store_.get();
    auto writer = store->OpenWriter(tenant, uuid, DigestOf(data), 0);
    if (!writer.ok()) return writer.status();
    for (size_t at = 0; at < data.size() && !(*writer)->complete();
         at += chunk) {
      auto st = (*writer)->Append(absl::string_view(data).substr(at, chunk));
      if (!st.ok()) return st;
    }
    return (*writer)->Finish();
  }

  absl::StatusOr<std::string> ReadAll(const std::string& tenant,
                                      const BlobDigest& digest,
                                      int64_t offset = 0, int64_t limit = 0,
                                      bool any_tenant = false) {
    auto reader = store_->OpenReader(tenant, any_tenant, digest, offset, limit);
    if (!reader.ok()) return reader.status();
    std::string out;
    while (true) {
      auto chunk = (*reader)->Next(100 << 10);
      if (!chunk.ok()) return chunk.status();
      if (chunk->empty()) return out;
      out += *chunk;
    }
  }

  std::string BlobFile(const BlobDigest& digest) const {
    return absl::StrCat(root_, "/blobs/", digest.sha256.substr(0, 2), "/",
                        digest.sha256, "_", digest.size_bytes);
  }

  std::string root_;
  std::unique_ptr<BlobStore> store_;
};

TEST_F(BlobStoreTest, RoundTrip) {
  const std::string data = RandomBytes(3 * (1 << 20) + 123, 1);
  const BlobDigest digest = DigestOf(data);
  EXPECT_FALSE(store_->Exists(digest));
  ASSERT_TRUE(Upload("alice", "u1", data).ok());
  EXPECT_TRUE(store_->Exists(digest));
  EXPECT_TRUE(store_->Owns("alice", digest));
  EXPECT_TRUE(fs::exists(BlobFile(digest)));
  auto read = ReadAll("alice", digest);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, data);
  auto status = store_->QueryWriteStatus("alice", "u1", digest);
  ASSERT_TRUE(status.ok());
  EXPECT_TRUE(status->complete);
  EXPECT_EQ(status->committed_size, digest.size_bytes);
}

TEST_F(BlobStoreTest, ReadsRangesWithAnyLimit) {
  const std::string data = RandomBytes(1000, 5);
  const BlobDigest digest = DigestOf(data);
  ASSERT_TRUE(Upload("alice", "u1", data).ok());
  EXPECT_EQ(*ReadAll("alice", digest, 100, 50), data.substr(100, 50));
  EXPECT_EQ(*ReadAll("alice", digest, 990, 50), data.substr(990));
  // A limit near INT64_MAX means "to the end" (no overflow on the way).
  EXPECT_EQ(*ReadAll("alice", digest, 900, std::numeric_limits<int64_t>::max()),
            data.substr(900));
  EXPECT_EQ(*ReadAll("alice", digest, 1000, 1), "");
  EXPECT_EQ(ReadAll("alice", digest, 1001).status().code(),
            absl::StatusCode::kOutOfRange);
}

// The unverified reads a check of an upload's format uses.
TEST_F(BlobStoreTest, ReadsHeadsAndPiecesOfOwnedBlobs) {
  const std::string data = RandomBytes(1000, 6);
  const BlobDigest digest = DigestOf(data);
  ASSERT_TRUE(Upload("alice", "u1", data).ok());
  EXPECT_EQ(*store_->ReadHead("alice", digest, 16), data.substr(0, 16));
  EXPECT_EQ(*store_->ReadAt("alice", digest, 978, 100), data.substr(978));
  EXPECT_EQ(*store_->ReadAt("alice", digest, 1000, 10), "");
  EXPECT_EQ(*store_->ReadAt("alice", digest, 5000, 10), "");
  EXPECT_EQ(store_->ReadAt("alice", digest, -1, 10).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->ReadAt("bob", digest, 0, 10).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(BlobStoreTest, EmptyBlob) {
  ASSERT_TRUE(Upload("alice", "empty", "").ok());
  auto read = ReadAll("alice", DigestOf(""));
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, "");
}

TEST_F(BlobStoreTest, ResumesAfterReopeningTheStore) {
  const std::string data = RandomBytes(1 << 20, 2);
  const BlobDigest digest = DigestOf(data);
  const size_t half = data.size() / 2;
  {
    auto writer = store_->OpenWriter("alice", "resume", digest, 0);
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->Append(data.substr(0, half)).ok());
  }
  store_ = OpenStore();  // As after a server restart.
  auto status = store_->QueryWriteStatus("alice", "resume", digest);
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_FALSE(status->complete);
  EXPECT_EQ(status->committed_size, static_cast<int64_t>(half));

  auto wrong = store_->OpenWriter("alice", "resume", digest, 0);
  ASSERT_EQ(wrong.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(wrong.status().message(), HasSubstr(absl::StrCat(half)));

  auto writer = store_->OpenWriter("alice", "resume", digest, half);
  ASSERT_TRUE(writer.ok()) << writer.status();
  EXPECT_EQ((*writer)->committed_size(), static_cast<int64_t>(half));
  ASSERT_TRUE((*writer)->Append(data.substr(half)).ok());
  ASSERT_TRUE((*writer)->Finish().ok());
  auto read = ReadAll("alice", digest);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, data);
}

TEST_F(BlobStoreTest, OwnedBlobCompletesAtOnce) {
  const std::string data = RandomBytes(5000, 3);
  ASSERT_TRUE(Upload("alice", "first", data).ok());
  auto writer = store_->OpenWriter("alice", "second", DigestOf(data), 0);
  ASSERT_TRUE(writer.ok());
  EXPECT_TRUE((*writer)->complete());
  EXPECT_EQ((*writer)->committed_size(), 5000);
  EXPECT_TRUE((*writer)->Finish().ok());
  auto status = store_->QueryWriteStatus("alice", "never-used", DigestOf(data));
  ASSERT_TRUE(status.ok());
  EXPECT_TRUE(status->complete);
  EXPECT_EQ(store_->Stats().blobs, 1);
}

TEST_F(BlobStoreTest, TenantsSeeOnlyTheirBlobs) {
  const std::string data = RandomBytes(7000, 4);
  const BlobDigest digest = DigestOf(data);
  ASSERT_TRUE(Upload("alice", "u", data).ok());

  EXPECT_EQ(ReadAll("bob", digest).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->QueryWriteStatus("bob", "u", digest).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_FALSE(store_->Owns("bob", digest));
  // Bob must send the bytes even though they are on disk.
  auto writer = store_->OpenWriter("bob", "u", digest, 0);
  ASSERT_TRUE(writer.ok());
  EXPECT_FALSE((*writer)->complete());
  EXPECT_EQ((*writer)->committed_size(), 0);
  writer->reset();
  ASSERT_TRUE(Upload("bob", "u", data).ok());
  EXPECT_TRUE(store_->Owns("bob", digest));
  EXPECT_EQ(store_->Stats().blobs, 1);  // Stored once.
  // Workers read anything.
  auto read = ReadAll("@workers", digest, 0, 0, /*any_tenant=*/true);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(*read, data);
}

TEST_F(BlobStoreTest, DigestMismatchDeletesThePartial) {
  const std::string data = RandomBytes(4096, 5);
  BlobDigest wrong = DigestOf(RandomBytes(4096, 6));
  auto writer = store_->OpenWriter("alice", "bad", wrong, 0);
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Append(data).ok());
  absl::Status st = (*writer)->Finish();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(), HasSubstr(wrong.sha256));
  EXPECT_THAT(st.message(), HasSubstr(DigestOf(data).sha256));
  writer->reset();
  EXPECT_EQ(store_->QueryWriteStatus("alice", "bad", wrong).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_FALSE(store_->Exists(wrong));
  EXPECT_TRUE(
      fs::is_empty(fs::path(root_) / "uploads" / base::Sha256Hex("alice")));
}

TEST_F(BlobStoreTest, TruncatedFinishKeepsThePartial) {
  const std::string data = RandomBytes(4096, 7);
  const BlobDigest digest = DigestOf(data);
  auto writer = store_->OpenWriter("alice", "short", digest, 0);
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Append(data.substr(0, 1000)).ok());
  absl::Status st = (*writer)->Finish();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(), HasSubstr("truncated: got 1000 of 4096 bytes"));
  writer->reset();
  auto status = store_->QueryWriteStatus("alice", "short", digest);
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->committed_size, 1000);
}

TEST_F(BlobStoreTest, TooManyBytes) {
  const std::string data = RandomBytes(100, 8);
  auto writer = store_->OpenWriter("alice", "long", DigestOf(data), 0);
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Append(data).ok());
  absl::Status st = (*writer)->Append("x");
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(), HasSubstr("too many bytes"));
  EXPECT_EQ((*writer)->committed_size(), 100);
  EXPECT_TRUE((*writer)->Finish().ok());  // The right bytes are still held.
}

TEST_F(BlobStoreTest, WriteOffsetMustMatchWhatIsHeld) {
  const std::string data = RandomBytes(100, 9);
  const BlobDigest digest = DigestOf(data);
  auto fresh = store_->OpenWriter("alice", "off", digest, 5);
  EXPECT_EQ(fresh.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(fresh.status().message(), HasSubstr("committed size 0"));
  // A refused start leaves nothing behind.
  EXPECT_EQ(store_->QueryWriteStatus("alice", "off", digest).status().code(),
            absl::StatusCode::kNotFound);
  {
    auto writer = store_->OpenWriter("alice", "off", digest, 0);
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->Append(data.substr(0, 10)).ok());
  }
  auto behind = store_->OpenWriter("alice", "off", digest, 3);
  EXPECT_EQ(behind.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(behind.status().message(), HasSubstr("committed size 10"));
}

TEST_F(BlobStoreTest, OneWriterPerUpload) {
  const std::string data = RandomBytes(100, 10);
  const BlobDigest digest = DigestOf(data);
  auto first = store_->OpenWriter("alice", "one", digest, 0);
  ASSERT_TRUE(first.ok());
  auto second = store_->OpenWriter("alice", "one", digest, 0);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kAborted);
  EXPECT_THAT(second.status().message(), HasSubstr("upload in progress"));
  // Another tenant's upload with the same id is another upload.
  EXPECT_TRUE(store_->OpenWriter("bob", "one", digest, 0).ok());
  first->reset();
  EXPECT_TRUE(store_->OpenWriter("alice", "one", digest, 0).ok());
}

TEST_F(BlobStoreTest, ReadRanges) {
  const std::string data = RandomBytes(300 << 10, 11);
  const BlobDigest digest = DigestOf(data);
  ASSERT_TRUE(Upload("alice", "r", data).ok());
  auto middle = ReadAll("alice", digest, 1000, 150000);
  ASSERT_TRUE(middle.ok()) << middle.status();
  EXPECT_EQ(*middle, data.substr(1000, 150000));
  auto tail = ReadAll("alice", digest, 200000, 1 << 30);
  ASSERT_TRUE(tail.ok());
  EXPECT_EQ(*tail, data.substr(200000));
  auto at_end = ReadAll("alice", digest, digest.size_bytes);
  ASSERT_TRUE(at_end.ok());
  EXPECT_EQ(*at_end, "");
  auto beyond = ReadAll("alice", digest, digest.size_bytes + 1);
  EXPECT_EQ(beyond.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(beyond.status().message(), HasSubstr("read_offset"));
  EXPECT_EQ(ReadAll("alice", digest, -1).status().code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_EQ(ReadAll("alice", digest, 0, -1).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(BlobStoreTest, DamagedBlobIsDataLoss) {
  const std::string data = RandomBytes(400 << 10, 12);
  const BlobDigest digest = DigestOf(data);
  ASSERT_TRUE(Upload("alice", "d", data).ok());
  {
    std::fstream file(BlobFile(digest),
                      std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(300000);
    file.put(static_cast<char>(data[300000] ^ 1));
  }
  for (auto [offset, limit] : std::vector<std::pair<int64_t, int64_t>>{
           {0, 0}, {0, 1000}, {350000, 0}}) {
    auto read = ReadAll("alice", digest, offset, limit);
    EXPECT_EQ(read.status().code(), absl::StatusCode::kDataLoss)
        << offset << "+" << limit;
    EXPECT_THAT(read.status().message(), HasSubstr(digest.sha256));
  }
  fs::resize_file(BlobFile(digest), 1000);
  EXPECT_EQ(ReadAll("alice", digest).status().code(),
            absl::StatusCode::kDataLoss);
}

TEST_F(BlobStoreTest, SizeLimit) {
  store_ = OpenStore(/*max_blob_bytes=*/1000);
  const std::string data = RandomBytes(1001, 13);
  auto writer = store_->OpenWriter("alice", "big", DigestOf(data), 0);
  EXPECT_EQ(writer.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(writer.status().message(), HasSubstr("1000"));
  EXPECT_THAT(writer.status().message(), HasSubstr("1001"));
  EXPECT_TRUE(Upload("alice", "small", data.substr(0, 1000)).ok());
}

TEST_F(BlobStoreTest, GrantGivesATenantAStoredBlob) {
  const std::string data = RandomBytes(2000, 14);
  const BlobDigest digest = DigestOf(data);
  EXPECT_EQ(store_->Grant("alice", digest).code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(Upload("@workers", "artifact", data).ok());
  EXPECT_EQ(ReadAll("alice", digest).status().code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE(store_->Grant("alice", digest).ok());
  auto read = ReadAll("alice", digest);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(*read, data);
}

TEST_F(BlobStoreTest, StatsSurviveReopening) {
  ASSERT_TRUE(Upload("alice", "a", RandomBytes(1000, 15)).ok());
  ASSERT_TRUE(Upload("bob", "b", RandomBytes(2500, 16)).ok());
  ASSERT_TRUE(Upload("bob", "c", RandomBytes(1000, 15)).ok());  // Same bytes.
  BlobStoreStats stats = store_->Stats();
  EXPECT_EQ(stats.blobs, 2);
  EXPECT_EQ(stats.total_bytes, 3500);
  store_ = OpenStore();
  stats = store_->Stats();
  EXPECT_EQ(stats.blobs, 2);
  EXPECT_EQ(stats.total_bytes, 3500);
}

TEST_F(BlobStoreTest, RejectsBadNames) {
  BlobDigest bad{"ABC", 3};
  EXPECT_EQ(store_->OpenWriter("alice", "u", bad, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  BlobDigest good = DigestOf("abc");
  for (const char* uuid : {"", "../etc", "a/b", "x.y"}) {
    auto writer = store_->OpenWriter("alice", uuid, good, 0);
    EXPECT_EQ(writer.status().code(), absl::StatusCode::kInvalidArgument)
        << uuid;
  }
  // Any tenant string is safe: it is hashed into the path.
  EXPECT_TRUE(Upload("../../evil tenant/", "u", "abc").ok());
  EXPECT_TRUE(store_->Owns("../../evil tenant/", good));
}

TEST_F(BlobStoreTest, ConcurrentUploads) {
  const std::string shared = RandomBytes(256 << 10, 17);
  std::vector<std::string> own(4);
  for (int i = 0; i < 4; ++i) own[i] = RandomBytes(200 << 10, 100 + i);
  std::vector<absl::Status> results(12);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    // The same blob from different tenants, and twice from one tenant
    // under different ids.
    threads.emplace_back([&, i] {
      results[i] = Upload(absl::StrCat("tenant", i), "same", shared, 10000);
    });
    threads.emplace_back([&, i] {
      results[4 + i] = Upload("tenant0", absl::StrCat("dup", i), shared, 7000);
    });
    threads.emplace_back([&, i] {
      results[8 + i] = Upload("tenant0", absl::StrCat("own", i), own[i], 9000);
    });
  }
  for (auto& thread : threads) thread.join();
  for (size_t i = 0; i < results.size(); ++i) {
    EXPECT_TRUE(results[i].ok()) << i << ": " << results[i];
  }
  EXPECT_EQ(store_->Stats().blobs, 5);
  for (int i = 0; i < 4; ++i) {
    auto read = ReadAll(absl::StrCat("tenant", i), DigestOf(shared));
    ASSERT_TRUE(read.ok());
    EXPECT_EQ(*read, shared);
    auto mine = ReadAll("tenant0", DigestOf(own[i]));
    ASSERT_TRUE(mine.ok());
    EXPECT_EQ(*mine, own[i]);
  }
}

}  // namespace
}  // namespace condense::server
