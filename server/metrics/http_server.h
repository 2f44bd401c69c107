// MetricsHttpServer: the Prometheus scrape endpoint, an embedded civetweb
// HTTP server.
//
//   GET /metrics  -> 200, Registry::Serialize(), Content-Type
//                    "text/plain; version=0.0.4; charset=utf-8"
//   GET /healthz  -> 200 "ok"
//   anything else -> the HttpApp given to Start (the web view), else 404
//                    (405 for a method other than GET/HEAD on the paths
//                    above)
//
// The server does not own the Registry, which must outlive it. It serves from
// its own civetweb threads until destroyed; the destructor stops them and
// waits for requests in flight. Methods are thread-safe.
#ifndef CONDENSE_SERVER_METRICS_HTTP_SERVER_H_
#define CONDENSE_SERVER_METRICS_HTTP_SERVER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "server/metrics/registry.h"

struct mg_connection;
struct mg_context;

namespace condense::metrics {

// One HTTP request, as an HttpApp sees it.
struct HttpRequest {
  std::string method;  // "GET", "HEAD", "POST", ...
  std::string path;    // Decoded path, without the query.
  std::string query;   // Raw query string, without '?'.
  std::map<std::string, std::string> headers;  // Names lower-cased.
  std::string body;  // POST bodies up to kMaxBodyBytes; longer ones get 413.
  static constexpr size_t kMaxBodyBytes = 64 << 10;
};

// The answer. A response with `stream` set sends `content_length` bytes
// produced by `stream`, which calls `write` with each chunk (false: the
// client went away, stop) and returns false when it could not produce them
// all (the connection is then closed short, so the client sees the error).
struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  int64_t content_length = -1;
  std::function<bool(const std::function<bool(std::string_view)>& write)>
      stream;
};

// Serves every path the metrics server does not answer itself. Handle is
// called from civetweb's threads, concurrently: implementations must be
// thread-safe.
class HttpApp {
 public:
  virtual ~HttpApp() = default;
  virtual HttpResponse Handle(const HttpRequest& request) = 0;
};

class MetricsHttpServer {
 public:
  // Starts listening on `listen_address`: "IP:port" ("127.0.0.1:0",
  // "0.0.0.0:9090", "[::1]:9090") or a bare port ("9090"). Port 0 picks a
  // free port; see port(). Errors: INVALID_ARGUMENT for a malformed address,
  // UNAVAILABLE when the address cannot be bound (port in use, no such
  // interface).
  // `app` (may be null; not owned, must outlive the server) answers the
  // other paths.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(
      const std::string& listen_address, Registry* registry,
      HttpApp* app = nullptr);

  ~MetricsHttpServer();
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  // The bound port (the one the system chose when port 0 was asked).
  int port() const { return port_; }

 private:
  MetricsHttpServer(Registry* registry, HttpApp* app)
      : registry_(registry), app_(app) {}

  // civetweb request handler; `cbdata` is the MetricsHttpServer.
  static int HandleRequest(struct mg_connection* conn, void* cbdata);

  // Connects to the listener once, to wake civetweb's accept loop.
  void PokeListener() const;

  // Answers a request for `app_`.
  static int Dispatch(struct mg_connection* conn, HttpApp* app);

  Registry* const registry_;
  HttpApp* const app_;
  mg_context* context_ = nullptr;
  int port_ = 0;
  std::string wake_host_;  // Loopback when listening on a wildcard address.
  int wake_family_ = 0;    // AF_INET or AF_INET6.
};

}  // namespace condense::metrics

#endif  // CONDENSE_SERVER_METRICS_HTTP_SERVER_H_
