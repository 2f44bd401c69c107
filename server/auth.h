// Who is calling: bearer tokens mapped to tenants.
//
// The token file has one token per line: `TOKEN TENANT [worker]`; blank
// lines and lines starting with '#' are ignored. A token marked `worker` may
// call the internal worker protocol and read any blob; other tokens act
// only on their tenant's objects. With no token file the server is open:
// every caller is tenant "default" and may act as a worker (the server then
// listens on loopback only).
//
// Thread-safe: Authenticate may run on any thread while Reload swaps the
// table (on SIGHUP).
#ifndef CONDENSE_SERVER_AUTH_H_
#define CONDENSE_SERVER_AUTH_H_

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace grpc {
class CallbackServerContext;
}

namespace condense::server {

struct Caller {
  std::string tenant;
  bool worker = false;
};

class Authenticator {
 public:
  // An open server: no tokens needed.
  Authenticator() = default;
  // Reads the token file; errors name the file and line.
  static absl::StatusOr<std::unique_ptr<Authenticator>> FromFile(
      std::string path);

  bool open() const { return path_.empty(); }

  // Re-reads the token file. On error the old table stays in force.
  absl::Status Reload();

  // Adds a token valid until the process ends (the embedded workers' token).
  void AddToken(std::string token, std::string tenant, bool worker);

  // `authorization` is the request's "authorization" metadata value ("" when
  // absent). UNAUTHENTICATED when missing or unknown.
  absl::StatusOr<Caller> Authenticate(absl::string_view authorization) const;
  // Reads the metadata from a call.
  absl::StatusOr<Caller> Authenticate(
      const grpc::CallbackServerContext& context) const;

  // The same, and also PERMISSION_DENIED unless the caller is a worker.
  absl::StatusOr<Caller> AuthenticateWorker(
      const grpc::CallbackServerContext& context) const;

 private:
  struct Entry {
    std::string tenant;
    bool worker = false;
  };
  static absl::StatusOr<std::map<std::string, Entry>> Parse(
      const std::string& path);

  std::string path_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> tokens_;  // Guarded by mu_.
  std::map<std::string, Entry> extra_;   // Guarded by mu_.
};

}  // namespace condense::server

#endif  // CONDENSE_SERVER_AUTH_H_
