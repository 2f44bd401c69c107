// How clients (the CLI, the worker, tests) reach a condense server: the
// address, the bearer token and TLS settings, from flags or the environment
// (CONDENSE_ADDR, CONDENSE_TOKEN, CONDENSE_TLS_CA, CONDENSE_TLS_CERT,
// CONDENSE_TLS_KEY). Thread-safe once built.
#ifndef CONDENSE_CLIENT_RPC_CONNECTION_H_
#define CONDENSE_CLIENT_RPC_CONNECTION_H_

#include <chrono>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"

namespace condense::client {

struct ConnectionOptions {
  // host:port. Default: $CONDENSE_ADDR, else "127.0.0.1:7350".
  std::string address;
  // Bearer token. Default: $CONDENSE_TOKEN, else none.
  std::string token;
  // TLS: a PEM file of the CA that signed the server's certificate. Empty
  // (and no $CONDENSE_TLS_CA): plaintext.
  std::string tls_ca;
  // Mutual TLS: this client's certificate and key (PEM files).
  std::string tls_cert;
  std::string tls_key;
};

// Fills empty fields from the environment and defaults.
ConnectionOptions WithEnvironmentDefaults(ConnectionOptions options);

class Connection {
 public:
  // Reads the TLS files; errors name the file. Does not connect yet.
  static absl::StatusOr<std::unique_ptr<Connection>> Create(
      const ConnectionOptions& options);

  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }
  const std::string& address() const { return address_; }

  // A context carrying the token, with a deadline `timeout` from now
  // (zero: no deadline, for long streams).
  std::unique_ptr<grpc::ClientContext> NewContext(
      std::chrono::milliseconds timeout = std::chrono::milliseconds(0)) const;

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::string address_;
  std::string token_;
};

}  // namespace condense::client

#endif  // CONDENSE_CLIENT_RPC_CONNECTION_H_
