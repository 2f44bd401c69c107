#include "server/auth.h"

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace condense::server {
namespace {

using ::testing::HasSubstr;

constexpr char kAlice[] = "alice-token-0123456789";
constexpr char kBob[] = "bob-token-0123456789ab";
constexpr char kWorker[] = "worker-token-0123456789";

class AuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) / "auth_test" /
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "tokens").string();
  }
  void Write(const std::string& text) {
    std::ofstream out(path_, std::ios::trunc);
    out << text;
  }
  // The error FromFile gives for `text`.
  absl::Status LoadError(const std::string& text) {
    Write(text);
    auto auth = Authenticator::FromFile(path_);
    return auth.status();
  }

  std::filesystem::path dir_;
  std::string path_;
};

TEST_F(AuthTest, ParsesTokensCommentsBlankLinesAndWorkerFlag) {
  Write(absl::StrCat("# tokens for the test\n", "\n", "   \n", kAlice,
                     " alice\n", "\t", kWorker, "\tfleet   worker  \n",
                     "  # indented comment\n"));
  auto auth = Authenticator::FromFile(path_);
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_FALSE((*auth)->open());

  auto alice = (*auth)->Authenticate(absl::StrCat("Bearer ", kAlice));
  ASSERT_TRUE(alice.ok()) << alice.status();
  EXPECT_EQ(alice->tenant, "alice");
  EXPECT_FALSE(alice->worker);

  auto worker = (*auth)->Authenticate(absl::StrCat("Bearer ", kWorker));
  ASSERT_TRUE(worker.ok()) << worker.status();
  EXPECT_EQ(worker->tenant, "fleet");
  EXPECT_TRUE(worker->worker);

  // The scheme is matched in either common capitalisation.
  auto lower = (*auth)->Authenticate(absl::StrCat("bearer ", kAlice));
  ASSERT_TRUE(lower.ok()) << lower.status();
  EXPECT_EQ(lower->tenant, "alice");
}

TEST_F(AuthTest, ShortTokenIsRejectedWithFileAndLine) {
  auto st = LoadError(
      absl::StrCat("# header\n", kAlice, " alice\n", "short-token bob\n"));
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(), HasSubstr(path_ + ":3"));
  EXPECT_THAT(st.message(), HasSubstr("16 characters"));
}

TEST_F(AuthTest, DuplicateTokenIsRejectedWithFileAndLine) {
  auto st = LoadError(absl::StrCat(kAlice, " alice\n", kAlice, " bob\n"));
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(), HasSubstr(path_ + ":2"));
  EXPECT_THAT(st.message(), HasSubstr("twice"));
}

TEST_F(AuthTest, WrongFieldCountsAreRejected) {
  auto four = LoadError(absl::StrCat(kAlice, " alice worker extra\n"));
  EXPECT_EQ(four.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(four.message(), HasSubstr(path_ + ":1"));
  EXPECT_THAT(four.message(), HasSubstr("TOKEN TENANT"));

  auto one = LoadError(absl::StrCat(kAlice, " alice\n", kBob, "\n"));
  EXPECT_EQ(one.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(one.message(), HasSubstr(path_ + ":2"));

  // A third field other than `worker` is a typo, not a tenant-only token.
  auto flag = LoadError(absl::StrCat(kAlice, " alice admin\n"));
  EXPECT_EQ(flag.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(flag.message(), HasSubstr(path_ + ":1"));
}

TEST_F(AuthTest, MissingFileIsNotFound) {
  auto auth = Authenticator::FromFile((dir_ / "absent").string());
  EXPECT_EQ(auth.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(auth.status().message(), HasSubstr("absent"));
}

TEST_F(AuthTest, AuthenticateRejectsMissingMalformedAndUnknown) {
  Write(absl::StrCat(kAlice, " alice\n"));
  auto auth = Authenticator::FromFile(path_);
  ASSERT_TRUE(auth.ok()) << auth.status();

  auto missing = (*auth)->Authenticate("");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(missing.status().message(), HasSubstr("missing token"));

  auto malformed = (*auth)->Authenticate(kAlice);  // No scheme.
  EXPECT_EQ(malformed.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(malformed.status().message(), HasSubstr("malformed"));
  auto basic = (*auth)->Authenticate("Basic dXNlcjpwYXNz");
  EXPECT_EQ(basic.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(basic.status().message(), HasSubstr("malformed"));

  auto unknown = (*auth)->Authenticate(absl::StrCat("Bearer ", kBob));
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(unknown.status().message(), HasSubstr("unknown token"));

  auto empty = (*auth)->Authenticate("Bearer ");
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kUnauthenticated);

  // A prefix of a valid token is not that token.
  auto prefix = (*auth)->Authenticate(
      absl::StrCat("Bearer ", std::string(kAlice).substr(0, 18)));
  EXPECT_EQ(prefix.status().code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(AuthTest, OpenServerTreatsEveryoneAsDefaultWorker) {
  Authenticator auth;
  EXPECT_TRUE(auth.open());
  for (const char* header : {"", "Bearer whatever", "garbage"}) {
    auto caller = auth.Authenticate(header);
    ASSERT_TRUE(caller.ok()) << header << ": " << caller.status();
    EXPECT_EQ(caller->tenant, "default") << header;
    EXPECT_TRUE(caller->worker) << header;
  }
  EXPECT_TRUE(auth.Reload().ok());
}

TEST_F(AuthTest, AddTokenWorksOnAnOpenServer) {
  Authenticator auth;
  auth.AddToken(kWorker, "embedded", /*worker=*/true);
  auth.AddToken(kBob, "bob", /*worker=*/false);
  auto worker = auth.Authenticate(absl::StrCat("Bearer ", kWorker));
  ASSERT_TRUE(worker.ok()) << worker.status();
  EXPECT_EQ(worker->tenant, "embedded");
  EXPECT_TRUE(worker->worker);
  auto bob = auth.Authenticate(absl::StrCat("Bearer ", kBob));
  ASSERT_TRUE(bob.ok()) << bob.status();
  EXPECT_EQ(bob->tenant, "bob");
  EXPECT_FALSE(bob->worker);
  // Anyone else is still the open server's default caller.
  auto other = auth.Authenticate("");
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_EQ(other->tenant, "default");
}

TEST_F(AuthTest, AddTokenWorksOnATokenServerAndSurvivesReload) {
  Write(absl::StrCat(kAlice, " alice\n"));
  auto auth = Authenticator::FromFile(path_);
  ASSERT_TRUE(auth.ok()) << auth.status();
  (*auth)->AddToken(kWorker, "embedded", /*worker=*/true);
  auto worker = (*auth)->Authenticate(absl::StrCat("Bearer ", kWorker));
  ASSERT_TRUE(worker.ok()) << worker.status();
  EXPECT_EQ(worker->tenant, "embedded");
  EXPECT_TRUE(worker->worker);

  Write(absl::StrCat(kBob, " bob\n"));
  ASSERT_TRUE((*auth)->Reload().ok());
  EXPECT_TRUE((*auth)->Authenticate(absl::StrCat("Bearer ", kWorker)).ok());
}

TEST_F(AuthTest, ReloadPicksUpChangesAndKeepsOldTableOnError) {
  Write(absl::StrCat(kAlice, " alice\n"));
  auto auth = Authenticator::FromFile(path_);
  ASSERT_TRUE(auth.ok()) << auth.status();
  const std::string alice = absl::StrCat("Bearer ", kAlice);
  const std::string bob = absl::StrCat("Bearer ", kBob);
  ASSERT_TRUE((*auth)->Authenticate(alice).ok());
  ASSERT_FALSE((*auth)->Authenticate(bob).ok());

  // Alice's token revoked, Bob's added, Bob promoted to worker.
  Write(absl::StrCat(kBob, " bob worker\n"));
  ASSERT_TRUE((*auth)->Reload().ok());
  EXPECT_EQ((*auth)->Authenticate(alice).status().code(),
            absl::StatusCode::kUnauthenticated);
  auto caller = (*auth)->Authenticate(bob);
  ASSERT_TRUE(caller.ok()) << caller.status();
  EXPECT_EQ(caller->tenant, "bob");
  EXPECT_TRUE(caller->worker);

  // A broken file is reported and the table in force stays.
  Write(absl::StrCat(kAlice, " alice\nshort bob\n"));
  auto st = (*auth)->Reload();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(), HasSubstr(path_ + ":2"));
  EXPECT_TRUE((*auth)->Authenticate(bob).ok());
  EXPECT_FALSE((*auth)->Authenticate(alice).ok());

  // So does a file that went away.
  std::filesystem::remove(path_);
  EXPECT_EQ((*auth)->Reload().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE((*auth)->Authenticate(bob).ok());
}

}  // namespace
}  // namespace condense::server
