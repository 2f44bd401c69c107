#include "client/rpc/connection.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace condense::client {
namespace {

std::string EnvOr(const char* name, std::string fallback) {
  const char* value = std::getenv(name);
  if (value != nullptr && *value != '\0') return value;
  return fallback;
}

absl::StatusOr<std::string> ReadPem(const std::string& path,
                                    absl::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat("cannot read ", what, " file ", path,
                     " (a PEM file; set it with the flag or the environment)"));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " file ", path, " is empty; expected PEM"));
  }
  return text.str();
}

}  // namespace

ConnectionOptions WithEnvironmentDefaults(ConnectionOptions options) {
  if (options.address.empty()) {
    options.address = EnvOr("CONDENSE_ADDR", "127.0.0.1:7350");
  }
  if (options.token.empty()) options.token = EnvOr("CONDENSE_TOKEN", "");
  if (options.tls_ca.empty()) options.tls_ca = EnvOr("CONDENSE_TLS_CA", "");
  if (options.tls_cert.empty()) {
    options.tls_cert = EnvOr("CONDENSE_TLS_CERT", "");
  }
  if (options.tls_key.empty()) options.tls_key = EnvOr("CONDENSE_TLS_KEY", "");
  return options;
}

absl::StatusOr<std::unique_ptr<Connection>> Connection::Create(
    const ConnectionOptions& options) {
  if (options.address.empty()) {
    return absl::InvalidArgumentError(
        "no server address: pass --addr host:port or set CONDENSE_ADDR");
  }
  if (options.tls_cert.empty() != options.tls_key.empty()) {
    return absl::InvalidArgumentError(
        "mutual TLS needs both a client certificate and its key "
        "(CONDENSE_TLS_CERT and CONDENSE_TLS_KEY)");
  }
  if (!options.tls_cert.empty() && options.tls_ca.empty()) {
    return absl::InvalidArgumentError(
        "a client certificate was given without a CA (CONDENSE_TLS_CA): TLS "
        "needs the CA that signed the server's certificate");
  }
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (options.tls_ca.empty()) {
    credentials = grpc::InsecureChannelCredentials();
  } else {
    grpc::SslCredentialsOptions ssl;
    auto ca = ReadPem(options.tls_ca, "TLS CA");
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *std::move(ca);
    if (!options.tls_cert.empty()) {
      auto cert = ReadPem(options.tls_cert, "TLS client certificate");
      if (!cert.ok()) return cert.status();
      auto key = ReadPem(options.tls_key, "TLS client key");
      if (!key.ok()) return key.status();
      ssl.pem_cert_chain = *std::move(cert);
      ssl.pem_private_key = *std::move(key);
    }
    credentials = grpc::SslCredentials(ssl);
  }
  grpc::ChannelArguments args;
  // Reconnect soon after a server restart: transfers retry with their own
  // backoff and should not wait on the channel's longer default.
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 5000);
  auto connection = std::make_unique<Connection>();
  connection->channel_ =
      grpc::CreateCustomChannel(options.address, credentials, args);
  connection->address_ = options.address;
  connection->token_ = options.token;
  return connection;
}

std::unique_ptr<grpc::ClientContext> Connection::NewContext(
    std::chrono::milliseconds timeout) const {
  auto context = std::make_unique<grpc::ClientContext>();
  if (!token_.empty()) {
    context->AddMetadata("authorization", absl::StrCat("Bearer ", token_));
  }
  if (timeout.count() > 0) {
    context->set_deadline(std::chrono::system_clock::now() + timeout);
  }
  return context;
}

}  // namespace condense::client
