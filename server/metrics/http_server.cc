#include "server/metrics/http_server.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstring>
#include <mutex>
#include <thread>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace condense::metrics {
namespace {

constexpr char kMetricsContentType[] =
    "text/plain; version=0.0.4; charset=utf-8";

// Checks "IP:port", "[IPv6]:port" or "port" before civetweb sees it, so that
// a typo gets INVALID_ARGUMENT with a useful message rather than a bind error.
absl::Status ValidateListenAddress(absl::string_view address) {
  const auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "metrics listen address \"", address, "\" is invalid: ", why,
        "; use IP:port such as 127.0.0.1:9090, [::1]:9090 or 0.0.0.0:0"));
  };
  absl::string_view host;
  absl::string_view port = address;
  const size_t colon = address.rfind(':');
  if (colon != absl::string_view::npos) {
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
  }
  int port_number = 0;
  if (port.empty() || port.find_first_not_of("0123456789") != port.npos ||
      !absl::SimpleAtoi(port, &port_number) || port_number > 65535) {
    return bad("the port must be a number from 0 to 65535");
  }
  if (colon == absl::string_view::npos) return absl::OkStatus();
  unsigned char buf[sizeof(struct in6_addr)];
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    const std::string ip(host.substr(1, host.size() - 2));
    if (inet_pton(AF_INET6, ip.c_str(), buf) == 1) return absl::OkStatus();
    return bad("the host is not an IPv6 address");
  }
  const std::string ip(host.data(), host.size());
  if (inet_pton(AF_INET, ip.c_str(), buf) == 1) {
    return absl::OkStatus();
  }
  return bad("the host must be an IP address");
}

// Where the destructor connects to wake civetweb: the listen IP, or loopback
// for a wildcard address.
void WakeTarget(absl::string_view listen_address, std::string* host,
                int* family) {
  const size_t colon = listen_address.rfind(':');
  absl::string_view ip = colon == absl::string_view::npos
                             ? absl::string_view("0.0.0.0")
                             : listen_address.substr(0, colon);
  if (!ip.empty() && ip.front() == '[') {
    ip = ip.substr(1, ip.size() - 2);
    *family = AF_INET6;
    if (ip == "::") ip = "::1";
  } else {
    *family = AF_INET;
    if (ip == "0.0.0.0") ip = "127.0.0.1";
  }
  host->assign(ip.data(), ip.size());
}

void SendText(struct mg_connection* conn, int status, const char* reason,
              const char* content_type, absl::string_view body,
              bool head_only) {
  mg_printf(conn,
            "HTTP/1.1 %d %s\r\n"
            "Content-Type: %s\r\n"
            "Content-Length: %zu\r\n"
            "Cache-Control: no-store\r\n"
            "Connection: close\r\n\r\n",
            status, reason, content_type, body.size());
  if (!head_only) mg_write(conn, body.data(), body.size());
}

// Keeps civetweb's own error output off stderr; Start() reports errors.
int SilenceLog(const struct mg_connection* /*conn*/, const char* /*msg*/) {
  return 1;
}

}  // namespace

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(
    const std::string& listen_address, Registry* registry, HttpApp* app) {
  absl::Status valid = ValidateListenAddress(listen_address);
  if (!valid.ok()) return valid;
  static std::once_flag init_once;
  std::call_once(init_once, [] { mg_init_library(0); });

  std::unique_ptr<MetricsHttpServer> server(
      new MetricsHttpServer(registry, app));
  // Scrapes, web pages and artifact downloads share the threads: enough
  // that a few slow downloads do not starve /metrics.
  const char* options[] = {"listening_ports",
                           listen_address.c_str(),
                           "num_threads",
                           "16",
                           "request_timeout_ms",
                           "10000",
                           "enable_keep_alive",
                           "no",
                           nullptr};
  struct mg_callbacks callbacks;
  std::memset(&callbacks, 0, sizeof(callbacks));
  callbacks.log_message = SilenceLog;
  struct mg_init_data init;
  std::memset(&init, 0, sizeof(init));
  init.callbacks = &callbacks;
  init.user_data = server.get();
  init.configuration_options = options;
  char error_text[256] = {0};
  unsigned error_code = 0;
  struct mg_error_data error;
  error.code = &error_code;
  error.text = error_text;
  error.text_buffer_size = sizeof(error_text);

  server->context_ = mg_start2(&init, &error);
  if (server->context_ == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve metrics on ", listen_address, ": ",
                     error_text, "; pick a free port or another address"));
  }
  // One handler for every URI ("**"), so that routing, and 404s for unknown
  // paths, are ours rather than civetweb's prefix matching.
  mg_set_request_handler(server->context_, "**", &HandleRequest, server.get());

  struct mg_server_port ports[4];
  std::memset(ports, 0, sizeof(ports));
  const int count = mg_get_server_ports(server->context_, 4, ports);
  if (count < 1 || ports[0].port <= 0) {
    return absl::InternalError(
        absl::StrCat("metrics server on ", listen_address,
                     " started but reports no bound port"));
  }
  server->port_ = ports[0].port;
  WakeTarget(listen_address, &server->wake_host_, &server->wake_family_);
  return server;
}

MetricsHttpServer::~MetricsHttpServer() {
  if (context_ == nullptr) return;
  // civetweb's listener thread notices the stop flag only when its poll()
  // returns, which takes up to 2 s when idle; connecting wakes it at once.
  std::atomic<bool> stopped{false};
  std::thread waker([this, &stopped] {
    while (!stopped.load()) {
      PokeListener();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  mg_stop(context_);
  stopped.store(true);
  waker.join();
}

void MetricsHttpServer::PokeListener() const {
  const int fd = socket(wake_family_, SOCK_STREAM, 0);
  if (fd < 0) return;
  sockaddr_storage addr{};
  socklen_t len = 0;
  if (wake_family_ == AF_INET6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&addr);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(static_cast<uint16_t>(port_));
    inet_pton(AF_INET6, wake_host_.c_str(), &in6->sin6_addr);
    len = sizeof(*in6);
  } else {
    auto* in4 = reinterpret_cast<sockaddr_in*>(&addr);
    in4->sin_family = AF_INET;
    in4->sin_port = htons(static_cast<uint16_t>(port_));
    inet_pton(AF_INET, wake_host_.c_str(), &in4->sin_addr);
    len = sizeof(*in4);
  }
  // Failure is fine: the next poke, or civetweb's own timeout, follows.
  (void)connect(fd, reinterpret_cast<sockaddr*>(&addr), len);
  close(fd);
}

int MetricsHttpServer::HandleRequest(struct mg_connection* conn, void* cbdata) {
  auto* self = static_cast<MetricsHttpServer*>(cbdata);
  const struct mg_request_info* info = mg_get_request_info(conn);
  const absl::string_view uri =
      info->local_uri != nullptr ? info->local_uri : "";
  const absl::string_view method =
      info->request_method != nullptr ? info->request_method : "";
  const bool head = method == "HEAD";
  const bool known = uri == "/metrics" || uri == "/healthz";
  if (!known && self->app_ != nullptr) return Dispatch(conn, self->app_);
  if (!known) {
    SendText(conn, 404, "Not Found", "text/plain; charset=utf-8",
             "not found; try /metrics or /healthz\n", head);
    return 404;
  }
  if (method != "GET" && !head) {
    SendText(conn, 405, "Method Not Allowed", "text/plain; charset=utf-8",
             "method not allowed; use GET\n", false);
    return 405;
  }
  if (uri == "/healthz") {
    SendText(conn, 200, "OK", "text/plain; charset=utf-8", "ok", head);
  } else {
    SendText(conn, 200, "OK", kMetricsContentType, self->registry_->Serialize(),
             head);
  }
  return 200;
}

int MetricsHttpServer::Dispatch(struct mg_connection* conn, HttpApp* app) {
  const struct mg_request_info* info = mg_get_request_info(conn);
  HttpRequest request;
  request.method = info->request_method != nullptr ? info->request_method : "";
  request.path = info->local_uri != nullptr ? info->local_uri : "";
  request.query = info->query_string != nullptr ? info->query_string : "";
  for (int i = 0; i < info->num_headers; ++i) {
    std::string name = info->http_headers[i].name;
    for (char& c : name) c = static_cast<char>(std::tolower(c));
    request.headers[name] = info->http_headers[i].value;
  }
  if (request.method == "POST") {
    if (info->content_length >
        static_cast<int64_t>(HttpRequest::kMaxBodyBytes)) {
      SendText(conn, 413, "Payload Too Large", "text/plain; charset=utf-8",
               "request body too large\n", false);
      return 413;
    }
    char buf[4096];
    int n;
    while (request.body.size() < HttpRequest::kMaxBodyBytes &&
           (n = mg_read(conn, buf, sizeof(buf))) > 0) {
      request.body.append(buf, static_cast<size_t>(n));
    }
  }
  HttpResponse response = app->Handle(request);
  const bool head = request.method == "HEAD";
  const int64_t length = response.stream
                             ? response.content_length
                             : static_cast<int64_t>(response.body.size());
  std::string header = absl::StrCat(
      "HTTP/1.1 ", response.status, " ",
      mg_get_response_code_text(conn, response.status),
      "\r\nContent-Type: ", response.content_type,
      "\r\nContent-Length: ", length,
      "\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff"
      "\r\nConnection: close\r\n");
  for (const auto& [name, value] : response.headers) {
    absl::StrAppend(&header, name, ": ", value, "\r\n");
  }
  header += "\r\n";
  mg_write(conn, header.data(), header.size());
  if (head) return response.status;
  if (response.stream) {
    response.stream([conn](std::string_view chunk) {
      return mg_write(conn, chunk.data(), chunk.size()) > 0;
    });
  } else {
    mg_write(conn, response.body.data(), response.body.size());
  }
  return response.status;
}

}  // namespace condense::metrics
