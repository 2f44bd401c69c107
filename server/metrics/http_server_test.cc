#include "server/metrics/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace condense::metrics {
namespace {

using ::testing::HasSubstr;

struct HttpResponse {
  int status = 0;
  std::string headers;  // Lower-cased, "name: value" lines.
  std::string body;
};

// A tiny HTTP/1.0 client: one request, read until the server closes. Fails
// the test (and returns status 0) on any socket error; 5 s timeouts bound it.
HttpResponse Fetch(int port, const std::string& method,
                   const std::string& path) {
  HttpResponse response;
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  EXPECT_GE(fd, 0);
  if (fd < 0) return response;
  timeval timeout{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ADD_FAILURE() << "connect to port " << port << " failed";
    close(fd);
    return response;
  }
  const std::string request = method + " " + path + " HTTP/1.0\r\n\r\n";
  EXPECT_EQ(send(fd, request.data(), request.size(), 0),
            static_cast<ssize_t>(request.size()));
  std::string raw;
  char buf[4096];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) raw.append(buf, n);
  EXPECT_EQ(n, 0) << "read error or timeout";
  close(fd);

  const size_t split = raw.find("\r\n\r\n");
  if (split == std::string::npos) {
    ADD_FAILURE() << "no end of headers in: " << raw;
    return response;
  }
  response.body = raw.substr(split + 4);
  std::vector<std::string> lines = absl::StrSplit(raw.substr(0, split), "\r\n");
  // "HTTP/1.1 200 OK"
  std::vector<std::string> status_line = absl::StrSplit(lines[0], ' ');
  if (status_line.size() >= 2) response.status = std::stoi(status_line[1]);
  for (size_t i = 1; i < lines.size(); ++i) {
    response.headers += absl::AsciiStrToLower(lines[i]) + "\n";
  }
  return response;
}

class MetricsHttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_.AddCounter("test_hits_total", "Hits.", {"path"})
        .WithLabels({"a\"b"})
        .Add(3);
    absl::StatusOr<std::unique_ptr<MetricsHttpServer>> server =
        MetricsHttpServer::Start("127.0.0.1:0", &registry_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    ASSERT_GT(server_->port(), 0);
  }

  Registry registry_;
  std::unique_ptr<MetricsHttpServer> server_;
};

TEST_F(MetricsHttpServerTest, ServesMetrics) {
  HttpResponse response = Fetch(server_->port(), "GET", "/metrics");
  EXPECT_EQ(response.status, 200);
  EXPECT_THAT(response.headers,
              HasSubstr("content-type: text/plain; version=0.0.4; "
                        "charset=utf-8\n"));
  EXPECT_THAT(response.headers,
              HasSubstr("content-length: " +
                        std::to_string(response.body.size()) + "\n"));
  EXPECT_EQ(response.body, registry_.Serialize());
  EXPECT_THAT(response.body, HasSubstr("test_hits_total{path=\"a\\\"b\"} 3\n"));
}

TEST_F(MetricsHttpServerTest, MetricsReflectLaterUpdates) {
  registry_.AddGauge("test_later", "Later.", {}).WithLabels({}).Set(42);
  EXPECT_THAT(Fetch(server_->port(), "GET", "/metrics").body,
              HasSubstr("test_later 42\n"));
}

TEST_F(MetricsHttpServerTest, ServesHealthz) {
  HttpResponse response = Fetch(server_->port(), "GET", "/healthz");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "ok");
}

TEST_F(MetricsHttpServerTest, UnknownPathsAre404) {
  EXPECT_EQ(Fetch(server_->port(), "GET", "/").status, 404);
  EXPECT_EQ(Fetch(server_->port(), "GET", "/metrics/extra").status, 404);
  EXPECT_EQ(Fetch(server_->port(), "GET", "/nope").status, 404);
}

TEST_F(MetricsHttpServerTest, OtherMethodsAre405) {
  EXPECT_EQ(Fetch(server_->port(), "POST", "/metrics").status, 405);
}

TEST_F(MetricsHttpServerTest, PortInUseIsUnavailable) {
  absl::StatusOr<std::unique_ptr<MetricsHttpServer>> second =
      MetricsHttpServer::Start("127.0.0.1:" + std::to_string(server_->port()),
                               &registry_);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable)
      << second.status();
}

TEST(MetricsHttpServerStartTest, RejectsBadAddresses) {
  Registry registry;
  for (const char* address :
       {"", "127.0.0.1:", "127.0.0.1:99999", "localhost:9090", "1.2.3:80",
        "127.0.0.1:80x", "[::1:80"}) {
    absl::StatusOr<std::unique_ptr<MetricsHttpServer>> server =
        MetricsHttpServer::Start(address, &registry);
    ASSERT_FALSE(server.ok()) << address;
    EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument)
        << address << ": " << server.status();
  }
}

TEST(MetricsHttpServerStartTest, StopsCleanly) {
  Registry registry;
  int port = 0;
  {
    auto server = MetricsHttpServer::Start("127.0.0.1:0", &registry);
    ASSERT_TRUE(server.ok()) << server.status();
    port = (*server)->port();
    EXPECT_EQ(Fetch(port, "GET", "/healthz").status, 200);
  }
  // The port is free again once the server is gone.
  auto again =
      MetricsHttpServer::Start("127.0.0.1:" + std::to_string(port), &registry);
  EXPECT_TRUE(again.ok()) << again.status();
}

}  // namespace
}  // namespace condense::metrics
