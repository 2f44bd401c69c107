// BlobService over a real gRPC server on 127.0.0.1 (ephemeral port), driven
// by the client library and by raw stubs for the broken and wrong streams
// that the client library never sends.
#include "server/blobs/blob_service.h"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "base/sha256.h"
#include "client/rpc/blob_transfer.h"
#include "client/rpc/connection.h"
#include "gmock/gmock.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "proto/grpc_status.h"

namespace condense::server {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

constexpr char kAliceToken[] = "alice-token-0123456789";
constexpr char kBobToken[] = "bob-token-0123456789ab";
constexpr char kWorkerToken[] = "worker-token-012345678";
constexpr int64_t kMaxBlobBytes = 4 << 20;

std::string RandomBytes(size_t size, unsigned seed) {
  std::mt19937 rng(seed);
  std::string data(size, '\0');
  for (char& c : data) c = static_cast<char>(rng() & 0xff);
  return data;
}

v1::Digest DigestOf(const std::string& data) {
  v1::Digest digest;
  digest.set_sha256(base::Sha256Hex(data));
  digest.set_size_bytes(static_cast<int64_t>(data.size()));
  return digest;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary) << data;
}

class BlobServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern =
        (fs::temp_directory_path() / "blob_service_test_XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    WriteFile(dir_ + "/tokens", absl::StrCat("# test tokens\n", kAliceToken,
                                             " alice\n", kBobToken, " bob\n",
                                             kWorkerToken, " fleet worker\n"));
    auto auth = Authenticator::FromFile(dir_ + "/tokens");
    ASSERT_TRUE(auth.ok()) << auth.status();
    auth_ = *std::move(auth);
    StartServer();
  }

  void TearDown() override {
    StopServer();
    fs::remove_all(dir_);
  }

  void StartServer() {
    auto store = BlobStore::Open({dir_ + "/store", kMaxBlobBytes});
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    service_ = std::make_unique<BlobService>(store_.get(), auth_.get());
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port_);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port_, 0);
  }

  void StopServer() {
    if (server_) {
      server_->Shutdown(std::chrono::system_clock::now() +
                        std::chrono::seconds(5));
      server_->Wait();
    }
    server_.reset();
    service_.reset();
    store_.reset();
  }

  std::unique_ptr<client::Connection> Connect(const std::string& token) {
    client::ConnectionOptions options;
    options.address = absl::StrCat("127.0.0.1:", port_);
    options.token = token;
    auto connection = client::Connection::Create(options);
    EXPECT_TRUE(connection.ok()) << connection.status();
    return *std::move(connection);
  }

  std::string WriteTemp(const std::string& name, const std::string& data) {
    std::string path = absl::StrCat(dir_, "/", name);
    WriteFile(path, data);
    return path;
  }

  // Sends `data` from `offset` on one raw Write stream in 256 KiB requests.
  static grpc::Status RawWrite(const client::Connection& connection,
                               const std::string& name, const std::string& data,
                               int64_t offset, bool finish) {
    auto stub = v1::Blobs::NewStub(connection.channel());
    auto context = connection.NewContext(std::chrono::seconds(30));
    v1::WriteResponse response;
    auto stream = stub->Write(context.get(), &response);
    size_t at = 0;
    do {
      v1::WriteRequest request;
      if (at == 0) request.set_resource_name(name);
      request.set_write_offset(offset + static_cast<int64_t>(at));
      request.set_data(data.substr(at, 256 << 10));
      at += request.data().size();
      request.set_finish_write(finish && at == data.size());
      if (!stream->Write(request)) break;
    } while (at < data.size());
    stream->WritesDone();
    return stream->Finish();
  }

  static absl::StatusOr<v1::QueryWriteStatusResponse> Query(
      const client::Connection& connection, const std::string& name) {
    auto stub = v1::Blobs::NewStub(connection.channel());
    auto context = connection.NewContext(std::chrono::seconds(10));
    v1::QueryWriteStatusRequest request;
    request.set_resource_name(name);
    v1::QueryWriteStatusResponse response;
    grpc::Status status =
        stub->QueryWriteStatus(context.get(), request, &response);
    if (!status.ok()) return api::FromGrpcStatus(status);
    return response;
  }

  static grpc::Status RawRead(const client::Connection& connection,
                              const std::string& name, int64_t offset) {
    auto stub = v1::Blobs::NewStub(connection.channel());
    auto context = connection.NewContext(std::chrono::seconds(10));
    v1::ReadRequest request;
    request.set_resource_name(name);
    request.set_read_offset(offset);
    auto stream = stub->Read(context.get(), request);
    v1::ReadResponse response;
    while (stream->Read(&response)) {
    }
    return stream->Finish();
  }

  // Sends the first `half` bytes of an upload on a raw stream, waits until
  // the server holds them, then cancels the stream, as a dropped connection
  // would.
  void UploadHalfThenCancel(const client::Connection& connection,
                            const std::string& data, size_t half) {
    const v1::Digest digest = DigestOf(data);
    const std::string name =
        client::UploadResourceName(client::UploadIdFor(digest), digest);
    auto stub = v1::Blobs::NewStub(connection.channel());
    auto context = connection.NewContext();
    v1::WriteResponse response;
    auto stream = stub->Write(context.get(), &response);
    v1::WriteRequest request;
    request.set_resource_name(name);
    request.set_data(data.substr(0, half));
    ASSERT_TRUE(stream->Write(request));
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(10);
    int64_t held = 0;
    while (held < static_cast<int64_t>(half) &&
           std::chrono::steady_clock::now() < deadline) {
      auto status = Query(connection, name);
      if (status.ok()) held = status->committed_size();
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_EQ(held, static_cast<int64_t>(half));
    context->TryCancel();
    EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }

  std::string dir_;
  std::unique_ptr<Authenticator> auth_;
  std::unique_ptr<BlobStore> store_;
  std::unique_ptr<BlobService> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

TEST_F(BlobServiceTest, UploadAndDownloadRoundTrip) {
  const std::string data = RandomBytes(3 * (1 << 20) + 4321, 1);
  const std::string path = WriteTemp("model.pt", data);
  auto alice = Connect(kAliceToken);

  client::TransferReport report;
  client::TransferOptions options;
  options.report = &report;
  int64_t last_progress = -1;
  options.progress = [&](int64_t done, int64_t total) {
    EXPECT_GE(done, last_progress);
    EXPECT_EQ(total, static_cast<int64_t>(data.size()));
    last_progress = done;
  };
  auto digest = client::UploadFile(*alice, path, options);
  ASSERT_TRUE(digest.ok()) << digest.status();
  EXPECT_EQ(digest->sha256(), base::Sha256Hex(data));
  EXPECT_EQ(digest->size_bytes(), static_cast<int64_t>(data.size()));
  EXPECT_EQ(last_progress, static_cast<int64_t>(data.size()));
  EXPECT_EQ(report.resumed_from, 0);
  EXPECT_EQ(report.bytes_sent, static_cast<int64_t>(data.size()));
  EXPECT_FALSE(report.deduplicated);
  EXPECT_EQ(service_->bytes_received(), static_cast<int64_t>(data.size()));

  const std::string out = dir_ + "/downloaded.pt";
  last_progress = -1;
  ASSERT_TRUE(client::DownloadBlob(*alice, *digest, out, options).ok());
  EXPECT_EQ(ReadFile(out), data);
  EXPECT_FALSE(fs::exists(out + ".partial"));
  EXPECT_EQ(last_progress, static_cast<int64_t>(data.size()));
  EXPECT_EQ(service_->bytes_sent(), static_cast<int64_t>(data.size()));

  // The same file again: the server has it, nothing is sent.
  auto again = client::UploadFile(*alice, path, options);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(report.deduplicated);
  EXPECT_EQ(report.bytes_sent, 0);
  EXPECT_EQ(store_->Stats().blobs, 1);
}

TEST_F(BlobServiceTest, EmptyFileRoundTrip) {
  const std::string path = WriteTemp("empty", "");
  auto alice = Connect(kAliceToken);
  auto digest = client::UploadFile(*alice, path);
  ASSERT_TRUE(digest.ok()) << digest.status();
  EXPECT_EQ(digest->size_bytes(), 0);
  ASSERT_TRUE(client::DownloadBlob(*alice, *digest, dir_ + "/empty.out").ok());
  EXPECT_EQ(ReadFile(dir_ + "/empty.out"), "");
}

TEST_F(BlobServiceTest, ResumesABrokenUpload) {
  const std::string data = RandomBytes(2 << 20, 2);
  const size_t half = data.size() / 2;
  auto alice = Connect(kAliceToken);
  UploadHalfThenCancel(*alice, data, half);

  client::TransferReport report;
  client::TransferOptions options;
  options.report = &report;
  auto digest =
      client::UploadFile(*alice, WriteTemp("resume.bin", data), options);
  ASSERT_TRUE(digest.ok()) << digest.status();
  EXPECT_EQ(report.resumed_from, static_cast<int64_t>(half));
  EXPECT_EQ(report.bytes_sent, static_cast<int64_t>(data.size() - half));
  ASSERT_TRUE(client::DownloadBlob(*alice, *digest, dir_ + "/resume.out").ok());
  EXPECT_EQ(ReadFile(dir_ + "/resume.out"), data);
}

TEST_F(BlobServiceTest, ResumesAfterAServerRestart) {
  const std::string data = RandomBytes(1 << 20, 3);
  const size_t half = 300000;
  {
    auto alice = Connect(kAliceToken);
    UploadHalfThenCancel(*alice, data, half);
  }
  StopServer();
  StartServer();  // A new process would see the same directory.
  auto alice = Connect(kAliceToken);
  client::TransferReport report;
  client::TransferOptions options;
  options.report = &report;
  auto digest =
      client::UploadFile(*alice, WriteTemp("restart.bin", data), options);
  ASSERT_TRUE(digest.ok()) << digest.status();
  EXPECT_EQ(report.resumed_from, static_cast<int64_t>(half));
  ASSERT_TRUE(
      client::DownloadBlob(*alice, *digest, dir_ + "/restart.out").ok());
  EXPECT_EQ(ReadFile(dir_ + "/restart.out"), data);
}

TEST_F(BlobServiceTest, DownloadResumesFromThePartialFile) {
  const std::string data = RandomBytes(1500000, 4);
  auto alice = Connect(kAliceToken);
  auto digest = client::UploadFile(*alice, WriteTemp("d.bin", data));
  ASSERT_TRUE(digest.ok());
  const std::string out = dir_ + "/d.out";
  WriteFile(out + ".partial", data.substr(0, 700000));
  client::TransferReport report;
  client::TransferOptions options;
  options.report = &report;
  ASSERT_TRUE(client::DownloadBlob(*alice, *digest, out, options).ok());
  EXPECT_EQ(report.resumed_from, 700000);
  EXPECT_EQ(report.bytes_sent, static_cast<int64_t>(data.size()) - 700000);
  EXPECT_EQ(ReadFile(out), data);

  // A partial that is not a prefix of the blob: caught, and deleted.
  const std::string bad = dir_ + "/bad.out";
  WriteFile(bad + ".partial", RandomBytes(1000, 5));
  absl::Status status = client::DownloadBlob(*alice, *digest, bad);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(), HasSubstr("run again"));
  EXPECT_FALSE(fs::exists(bad + ".partial"));
  EXPECT_FALSE(fs::exists(bad));
  EXPECT_TRUE(client::DownloadBlob(*alice, *digest, bad).ok());
  EXPECT_EQ(ReadFile(bad), data);
}

TEST_F(BlobServiceTest, WrongDigestIsInvalidArgument) {
  auto alice = Connect(kAliceToken);
  const std::string data = RandomBytes(10000, 6);
  const v1::Digest claimed = DigestOf(RandomBytes(10000, 7));
  grpc::Status status = RawWrite(
      *alice, client::UploadResourceName("wrong", claimed), data, 0, true);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("digest mismatch"));
  EXPECT_THAT(status.error_message(), HasSubstr(claimed.sha256()));
  EXPECT_FALSE(store_->Exists({claimed.sha256(), claimed.size_bytes()}));
  // Nothing kept to resume.
  EXPECT_EQ(Query(*alice, client::UploadResourceName("wrong", claimed))
                .status()
                .code(),
            absl::StatusCode::kNotFound);
}

TEST_F(BlobServiceTest, TruncatedUploadIsInvalidArgument) {
  auto alice = Connect(kAliceToken);
  const std::string data = RandomBytes(10000, 8);
  const std::string name = client::UploadResourceName("short", DigestOf(data));
  grpc::Status status = RawWrite(*alice, name, data.substr(0, 6000), 0, true);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(),
              HasSubstr("truncated: got 6000 of 10000 bytes"));
  auto held = Query(*alice, name);
  ASSERT_TRUE(held.ok()) << held.status();
  EXPECT_EQ(held->committed_size(), 6000);
  EXPECT_FALSE(held->complete());
  // The rest, from where it stopped, completes it.
  status = RawWrite(*alice, name, data.substr(6000), 6000, true);
  EXPECT_TRUE(status.ok()) << status.error_message();
  held = Query(*alice, name);
  ASSERT_TRUE(held.ok());
  EXPECT_TRUE(held->complete());
}

TEST_F(BlobServiceTest, BadWritesAreInvalidArgument) {
  auto alice = Connect(kAliceToken);
  const std::string data = RandomBytes(1000, 9);
  const v1::Digest digest = DigestOf(data);
  struct Case {
    std::string name;
    int64_t offset;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {"blobs/abc/3", 0, "expected uploads/{uuid}"},
           {"uploads/u/blobs/ABC/3", 0, "64 lowercase hex"},
           {absl::StrCat("uploads/u/blobs/", digest.sha256(), "/x"), 0,
            "bad size"},
           {client::UploadResourceName("bad.id", digest), 0, "upload id"},
           {"", 0, "first WriteRequest must carry resource_name"},
           {client::UploadResourceName("u", digest), 10, "committed size 0"},
       }) {
    grpc::Status status = RawWrite(*alice, c.name, data, c.offset, true);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << c.name;
    EXPECT_THAT(status.error_message(), HasSubstr(c.message)) << c.name;
  }
  // More bytes than the name's size.
  grpc::Status status =
      RawWrite(*alice, client::UploadResourceName("long", digest),
               data + "extra", 0, true);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("too many bytes"));
}

TEST_F(BlobServiceTest, ReadOffsetBeyondSizeIsOutOfRange) {
  auto alice = Connect(kAliceToken);
  const std::string data = RandomBytes(5000, 10);
  auto digest = client::UploadFile(*alice, WriteTemp("r.bin", data));
  ASSERT_TRUE(digest.ok());
  grpc::Status status =
      RawRead(*alice, client::BlobResourceName(*digest), 5001);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_THAT(status.error_message(), HasSubstr("read_offset 5001"));
  EXPECT_TRUE(RawRead(*alice, client::BlobResourceName(*digest), 5000).ok());
  EXPECT_EQ(RawRead(*alice, "blobs/nope/1", 0).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(BlobServiceTest, OtherTenantsBlobIsNotFound) {
  auto alice = Connect(kAliceToken);
  auto bob = Connect(kBobToken);
  const std::string data = RandomBytes(5000, 11);
  auto digest = client::UploadFile(*alice, WriteTemp("a.bin", data));
  ASSERT_TRUE(digest.ok());
  absl::Status status =
      client::DownloadBlob(*bob, *digest, dir_ + "/stolen.bin");
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(), HasSubstr("not found"));
  EXPECT_FALSE(fs::exists(dir_ + "/stolen.bin.partial"));
  EXPECT_EQ(Query(*bob, client::UploadResourceName(client::UploadIdFor(*digest),
                                                   *digest))
                .status()
                .code(),
            absl::StatusCode::kNotFound);
  // Bob holding the bytes himself may upload them, and then read them.
  client::TransferReport report;
  client::TransferOptions options;
  options.report = &report;
  ASSERT_TRUE(client::UploadFile(*bob, dir_ + "/a.bin", options).ok());
  EXPECT_FALSE(report.deduplicated);
  EXPECT_TRUE(client::DownloadBlob(*bob, *digest, dir_ + "/b.bin").ok());
}

TEST_F(BlobServiceTest, WorkersReadAnyBlobAndOwnTheirUploads) {
  auto alice = Connect(kAliceToken);
  auto worker = Connect(kWorkerToken);
  auto input = client::UploadFile(*alice, WriteTemp("in.bin", "input"));
  ASSERT_TRUE(input.ok());
  ASSERT_TRUE(client::DownloadBlob(*worker, *input, dir_ + "/w.in").ok());

  auto artifact = client::UploadFile(*worker, WriteTemp("out.cdz", "result"));
  ASSERT_TRUE(artifact.ok()) << artifact.status();
  EXPECT_TRUE(store_->Owns(kWorkersTenant,
                           {artifact->sha256(), artifact->size_bytes()}));
  EXPECT_EQ(client::DownloadBlob(*alice, *artifact, dir_ + "/a.out").code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE(
      store_->Grant("alice", {artifact->sha256(), artifact->size_bytes()})
          .ok());
  EXPECT_TRUE(client::DownloadBlob(*alice, *artifact, dir_ + "/a.out").ok());
  EXPECT_EQ(ReadFile(dir_ + "/a.out"), "result");
}

TEST_F(BlobServiceTest, MissingOrWrongTokenIsUnauthenticated) {
  const std::string path = WriteTemp("x.bin", "some bytes");
  auto anonymous = Connect("");
  auto status = client::UploadFile(*anonymous, path).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(status.message(), HasSubstr("missing token"));

  auto stranger = Connect("not-a-known-token-at-all");
  status = client::UploadFile(*stranger, path).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(status.message(), HasSubstr("unknown token"));

  const v1::Digest digest = DigestOf("some bytes");
  EXPECT_EQ(client::DownloadBlob(*stranger, digest, dir_ + "/x.out").code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(RawWrite(*anonymous, client::UploadResourceName("u", digest),
                     "some bytes", 0, true)
                .error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(service_->bytes_received(), 0);
}

TEST_F(BlobServiceTest, SizeLimitIsResourceExhausted) {
  auto alice = Connect(kAliceToken);
  const std::string path =
      WriteTemp("big.bin", RandomBytes(kMaxBlobBytes + 1, 12));
  absl::Status status = client::UploadFile(*alice, path).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(status.message(), HasSubstr(absl::StrCat(kMaxBlobBytes)));
  EXPECT_THAT(status.message(), HasSubstr(absl::StrCat(kMaxBlobBytes + 1)));
}

TEST_F(BlobServiceTest, GivesUpWhenTheServerIsDown) {
  const std::string path = WriteTemp("x.bin", "bytes");
  auto alice = Connect(kAliceToken);
  StopServer();
  client::TransferOptions options;
  options.max_attempts = 2;
  absl::Status status = client::UploadFile(*alice, path, options).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(status.message(), HasSubstr("gave up after 2 attempts"));
}

TEST(UploadOwnerTest, WorkersUploadAsTheWorkersTenant) {
  Authenticator open_server;
  EXPECT_EQ(UploadOwner({"default", true}, open_server), "default");
  std::string pattern =
      (fs::temp_directory_path() / "upload_owner_XXXXXX").string();
  ASSERT_NE(mkdtemp(pattern.data()), nullptr);
  WriteFile(pattern + "/tokens", "alice-token-0123456789 alice\n");
  auto auth = Authenticator::FromFile(pattern + "/tokens");
  ASSERT_TRUE(auth.ok());
  EXPECT_EQ(UploadOwner({"alice", false}, **auth), "alice");
  EXPECT_EQ(UploadOwner({"default", true}, **auth), kWorkersTenant);
  EXPECT_EQ(UploadOwner({"fleet", true}, **auth), kWorkersTenant);
  fs::remove_all(pattern);
}

TEST(ConnectionTest, ReportsBadTlsSettings) {
  client::ConnectionOptions options;
  options.address = "127.0.0.1:1";
  options.tls_ca = "/nonexistent/ca.pem";
  auto connection = client::Connection::Create(options);
  EXPECT_EQ(connection.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(connection.status().message(), HasSubstr("/nonexistent/ca.pem"));
  options.tls_cert = "/nonexistent/cert.pem";
  connection = client::Connection::Create(options);
  EXPECT_EQ(connection.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(connection.status().message(), HasSubstr("key"));
}

TEST(ConnectionTest, EnvironmentFillsEmptyFields) {
  setenv("CONDENSE_ADDR", "example.org:1234", 1);
  setenv("CONDENSE_TOKEN", "from-env", 1);
  client::ConnectionOptions options;
  options.token = "from-flag";
  options = client::WithEnvironmentDefaults(options);
  EXPECT_EQ(options.address, "example.org:1234");
  EXPECT_EQ(options.token, "from-flag");
  unsetenv("CONDENSE_ADDR");
  unsetenv("CONDENSE_TOKEN");
  EXPECT_EQ(client::WithEnvironmentDefaults({}).address, "127.0.0.1:7350");
}

}  // namespace
}  // namespace condense::server
