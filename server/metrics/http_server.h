// MetricsHttpServer: the Prometheus scrape endpoint, an embedded civetweb
// HTTP server.
//
//   GET /metrics  -> 200, Registry::Serialize(), Content-Type
//                    "text/plain; version=0.0.4; charset=utf-8"
//   GET /healthz  -> 200 "ok"
//   anything else -> 404 (405 for a method other than GET/HEAD on the paths
//                    above)
//
// The server does not own the Registry, which must outlive it. It serves from
// its own civetweb threads until destroyed; the destructor stops them and
// waits for requests in flight. Methods are thread-safe.
#ifndef CONDENSE_SERVER_METRICS_HTTP_SERVER_H_
#define CONDENSE_SERVER_METRICS_HTTP_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/metrics/registry.h"

struct mg_connection;
struct mg_context;

namespace condense::metrics {

class MetricsHttpServer {
 public:
  // Starts listening on `listen_address`: "IP:port" ("127.0.0.1:0",
  // "0.0.0.0:9090", "[::1]:9090") or a bare port ("9090"). Port 0 picks a
  // free port; see port(). Errors: INVALID_ARGUMENT for a malformed address,
  // UNAVAILABLE when the address cannot be bound (port in use, no such
  // interface).
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(
      const std::string& listen_address, Registry* registry);

  ~MetricsHttpServer();
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  // The bound port (the one the system chose when port 0 was asked).
  int port() const { return port_; }

 private:
  explicit MetricsHttpServer(Registry* registry) : registry_(registry) {}

  // civetweb request handler; `cbdata` is the MetricsHttpServer.
  static int HandleRequest(struct mg_connection* conn, void* cbdata);

  // Connects to the listener once, to wake civetweb's accept loop.
  void PokeListener() const;

  Registry* const registry_;
  mg_context* context_ = nullptr;
  int port_ = 0;
  std::string wake_host_;  // Loopback when listening on a wildcard address.
  int wake_family_ = 0;    // AF_INET or AF_INET6.
};

}  // namespace condense::metrics

#endif  // CONDENSE_SERVER_METRICS_HTTP_SERVER_H_
