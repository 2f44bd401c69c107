#include "server/web/web_view.h"

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "base/sha256.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace condense::server {
namespace {

using metrics::HttpRequest;
using metrics::HttpResponse;
using ::testing::HasSubstr;
using ::testing::Not;

std::string Header(const HttpResponse& r, const std::string& name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return "";
}

std::string Drain(const HttpResponse& r) {
  if (!r.stream) return r.body;
  std::string out;
  EXPECT_TRUE(r.stream([&out](std::string_view chunk) {
    out.append(chunk);
    return true;
  }));
  return out;
}

class WebViewTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto store = MetadataStore::Open((dir_ / "meta.db").string());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    auto blobs = BlobStore::Open({(dir_ / "blobs").string(), 0});
    ASSERT_TRUE(blobs.ok()) << blobs.status();
    blobs_ = *std::move(blobs);
    const std::string tokens = (dir_ / "tokens").string();
    std::FILE* f = std::fopen(tokens.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs("token-a-0123456789abcdef alice\ntoken-b-0123456789abcdef bob\n",
               f);
    std::fclose(f);
    auto auth = Authenticator::FromFile(tokens);
    ASSERT_TRUE(auth.ok()) << auth.status();
    auth_ = *std::move(auth);
    view_ = std::make_unique<WebView>(store_.get(), blobs_.get(), auth_.get());
  }

  HttpResponse Get(const std::string& path, const std::string& token = "",
                   const std::string& query = "") {
    HttpRequest r;
    r.method = "GET";
    r.path = path;
    r.query = query;
    if (!token.empty()) r.headers["cookie"] = "x=1; condense_token=" + token;
    return view_->Handle(r);
  }

  v1::Digest Store(const std::string& tenant, const std::string& bytes) {
    base::Sha256Stream hash;
    hash.Update(bytes);
    v1::Digest d;
    d.set_sha256(hash.HexDigest());
    d.set_size_bytes(static_cast<int64_t>(bytes.size()));
    auto writer =
        blobs_->OpenWriter(tenant, "u1", {d.sha256(), d.size_bytes()}, 0);
    EXPECT_TRUE(writer.ok()) << writer.status();
    EXPECT_TRUE((*writer)->Append(bytes).ok());
    EXPECT_TRUE((*writer)->Finish().ok());
    return d;
  }

  // A job of `tenant` run to SUCCEEDED with a report.html artifact.
  std::string FinishedJob(const std::string& tenant,
                          const std::string& model_name) {
    v1::Model model;
    model.set_display_name(model_name);
    model.set_format(v1::Model::TORCHSCRIPT);
    *model.mutable_blob() = Store(tenant, "model bytes");
    auto m = store_->CreateModel(tenant, model, 1);
    EXPECT_TRUE(m.ok()) << m.status();
    v1::Job job;
    job.set_model(m->name());
    job.set_max_attempts(2);
    job.mutable_spec()->set_preset("deep-compression");
    auto created = store_->CreateJob(tenant, job, "", 100, 10);
    EXPECT_TRUE(created.ok()) << created.status();
    auto lease = store_->LeaseNext("w1", 11, 100000);
    EXPECT_TRUE(lease.ok() && lease->has_value());
    v1::JobEvent started;
    started.set_kind(v1::JobEvent::STAGE_STARTED);
    started.set_stage("prune");
    started.set_message("<b>pruning</b>");
    EXPECT_TRUE(
        store_->AppendEvents((*lease)->lease_id, 0, {started, started}, 12)
            .ok());
    v1::JobResult result;
    result.set_ratio(42.5);
    result.set_accuracy_before(0.891);
    result.set_accuracy_after(0.889);
    v1::Artifact* a = result.add_artifacts();
    a->set_file_name("report.html");
    *a->mutable_blob() = Store("@worker", "<html>the report</html>");
    EXPECT_TRUE(
        blobs_->Grant(tenant, {a->blob().sha256(), a->blob().size_bytes()})
            .ok());
    EXPECT_TRUE(store_->Complete((*lease)->lease_id, result, 13).ok());
    return created->name().substr(5);
  }

  std::filesystem::path dir_;
  std::unique_ptr<MetadataStore> store_;
  std::unique_ptr<BlobStore> blobs_;
  std::unique_ptr<Authenticator> auth_;
  std::unique_ptr<WebView> view_;
};

TEST_F(WebViewTest, AsksForATokenAndSetsAnHttpOnlyCookie) {
  HttpResponse r = Get("/jobs");
  EXPECT_EQ(r.status, 303);
  EXPECT_EQ(Header(r, "Location"), "/login");

  HttpRequest login;
  login.method = "POST";
  login.path = "/login";
  login.body = "token=wrong";
  r = view_->Handle(login);
  EXPECT_EQ(r.status, 401);
  EXPECT_THAT(r.body, HasSubstr("class=\"error\""));

  login.body = "token=token-a-0123456789abcdef";
  r = view_->Handle(login);
  EXPECT_EQ(r.status, 303);
  EXPECT_EQ(Header(r, "Set-Cookie"),
            "condense_token=token-a-0123456789abcdef; Path=/; HttpOnly; "
            "SameSite=Strict");

  // A bad cookie is an error page, not a redirect loop.
  EXPECT_EQ(Get("/jobs", "nope").status, 401);
  // A bearer header works like the cookie.
  HttpRequest bearer;
  bearer.method = "GET";
  bearer.path = "/jobs";
  bearer.headers["authorization"] = "Bearer token-a-0123456789abcdef";
  EXPECT_EQ(view_->Handle(bearer).status, 200);
}

TEST_F(WebViewTest, ListsOnlyTheCallersJobs) {
  const std::string mine = FinishedJob("alice", "lenet");
  const std::string theirs = FinishedJob("bob", "vgg");
  HttpResponse r = Get("/jobs", "token-a-0123456789abcdef");
  ASSERT_EQ(r.status, 200);
  EXPECT_THAT(r.body, HasSubstr(mine));
  EXPECT_THAT(r.body, Not(HasSubstr(theirs)));
  EXPECT_THAT(r.body, HasSubstr("42.5\xC3\x97"));
  EXPECT_THAT(r.body, HasSubstr("89.10% \xE2\x86\x92 88.90%"));
  EXPECT_THAT(Header(r, "Content-Security-Policy"),
              HasSubstr("default-src 'none'"));
  // Filter by state.
  EXPECT_THAT(Get("/jobs", "token-a-0123456789abcdef", "state=QUEUED").body,
              Not(HasSubstr(mine)));
  EXPECT_EQ(Get("/jobs", "token-a-0123456789abcdef", "state=BOGUS").status,
            400);
  // Another tenant's job does not exist for this caller.
  EXPECT_EQ(Get("/jobs/" + theirs, "token-a-0123456789abcdef").status, 404);
  EXPECT_EQ(
      Get("/jobs/" + theirs + "/files/report.html", "token-a-0123456789abcdef")
          .status,
      404);
}

TEST_F(WebViewTest, JobPageShowsResultsAndEscapesEvents) {
  const std::string id = FinishedJob("alice", "lenet");
  HttpResponse r = Get("/jobs/" + id, "token-a-0123456789abcdef");
  ASSERT_EQ(r.status, 200);
  EXPECT_THAT(r.body, HasSubstr("SUCCEEDED"));
  EXPECT_THAT(r.body, HasSubstr("/jobs/" + id + "/files/report.html"));
  EXPECT_THAT(r.body, HasSubstr("&lt;b&gt;pruning&lt;/b&gt;"));
  EXPECT_THAT(r.body, Not(HasSubstr("<b>pruning")));
  // A finished job needs no polling.
  EXPECT_THAT(r.body, Not(HasSubstr("<script")));
  EXPECT_EQ(Get("/jobs/bad%20id", "token-a-0123456789abcdef").status, 400);
  EXPECT_EQ(Get("/jobs/nosuchjob", "token-a-0123456789abcdef").status, 404);
}

TEST_F(WebViewTest, EventsJsonGivesWhatIsNew) {
  const std::string id = FinishedJob("alice", "lenet");
  HttpResponse all =
      Get("/jobs/" + id + "/events.json", "token-a-0123456789abcdef");
  ASSERT_EQ(all.status, 200);
  EXPECT_EQ(all.content_type, "application/json");
  EXPECT_THAT(all.body, HasSubstr("\"final\":true"));
  EXPECT_THAT(all.body, HasSubstr("\"sequence\":\"1\""));
  HttpResponse later = Get("/jobs/" + id + "/events.json",
                           "token-a-0123456789abcdef", "after=1000");
  EXPECT_THAT(later.body, HasSubstr("\"events\":[]"));
  EXPECT_EQ(
      Get("/jobs/" + id + "/events.json", "token-a-0123456789abcdef", "after=x")
          .status,
      400);
}

TEST_F(WebViewTest, ServesArtifactsFromTheBlobStore) {
  const std::string id = FinishedJob("alice", "lenet");
  HttpResponse r =
      Get("/jobs/" + id + "/files/report.html", "token-a-0123456789abcdef");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
  EXPECT_THAT(Header(r, "Content-Security-Policy"), HasSubstr("sandbox"));
  EXPECT_EQ(Drain(r), "<html>the report</html>");
  EXPECT_EQ(r.content_length, 23);
  EXPECT_EQ(Get("/jobs/" + id + "/files/model.cdz", "token-a-0123456789abcdef")
                .status,
            404);
  EXPECT_EQ(
      Get("/jobs/" + id + "/files/..%2fmeta.db", "token-a-0123456789abcdef")
          .status,
      404);
}

TEST(WebViewHelpers, ParsesFormsAndCookies) {
  EXPECT_EQ(FormValue("a=1&token=x%2By+z&b=", "token"), "x+y z");
  EXPECT_EQ(FormValue("token=%zz", "token"), "%zz");
  EXPECT_EQ(FormValue("token=%4", "token"), "%4");
  EXPECT_EQ(FormValue("tokens=1", "token"), "");
  EXPECT_EQ(CookieValue("a=b; condense_token=t1;c=d", "condense_token"), "t1");
  EXPECT_EQ(CookieValue("a=b", "condense_token"), "");
}

}  // namespace
}  // namespace condense::server
