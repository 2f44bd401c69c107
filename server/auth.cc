#include "server/auth.h"

#include <fstream>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "grpcpp/server_context.h"

namespace condense::server {

absl::StatusOr<std::unique_ptr<Authenticator>> Authenticator::FromFile(
    std::string path) {
  auto auth = std::make_unique<Authenticator>();
  auth->path_ = std::move(path);
  if (auto st = auth->Reload(); !st.ok()) return st;
  return auth;
}

absl::StatusOr<std::map<std::string, Authenticator::Entry>>
Authenticator::Parse(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot read token file ", path,
                                            " (lines: TOKEN TENANT [worker])"));
  }
  std::map<std::string, Entry> tokens;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    absl::string_view text = absl::StripAsciiWhitespace(line);
    if (text.empty() || absl::StartsWith(text, "#")) continue;
    std::vector<absl::string_view> fields =
        absl::StrSplit(text, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    const bool worker = fields.size() == 3 && fields[2] == "worker";
    if (fields.size() < 2 || fields.size() > 3 ||
        (fields.size() == 3 && !worker)) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", number,
                       ": expected `TOKEN TENANT` or `TOKEN TENANT worker`"));
    }
    if (fields[0].size() < 16) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ":", number,
          ": token shorter than 16 characters; use a long random token "
          "(e.g. openssl rand -hex 32)"));
    }
    const std::string token(fields[0]);
    const std::string tenant(fields[1]);
    auto [it, inserted] = tokens.emplace(token, Entry{tenant, worker});
    if (!inserted) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", number, ": token listed twice"));
    }
  }
  return tokens;
}

absl::Status Authenticator::Reload() {
  if (path_.empty()) return absl::OkStatus();
  auto tokens = Parse(path_);
  if (!tokens.ok()) return tokens.status();
  std::lock_guard<std::mutex> lock(mu_);
  tokens_ = *std::move(tokens);
  return absl::OkStatus();
}

void Authenticator::AddToken(std::string token, std::string tenant,
                             bool worker) {
  std::lock_guard<std::mutex> lock(mu_);
  extra_[std::move(token)] = Entry{std::move(tenant), worker};
}

absl::StatusOr<Caller> Authenticator::Authenticate(
    absl::string_view authorization) const {
  absl::string_view token = authorization;
  const bool bearer = absl::ConsumePrefix(&token, "Bearer ") ||
                      absl::ConsumePrefix(&token, "bearer ");
  std::lock_guard<std::mutex> lock(mu_);
  if (bearer && !token.empty()) {
    // An extra token (the embedded workers') is honoured on an open server
    // too, so that they act as workers under their own name.
    const std::string key(token);
    for (const auto* table : {&extra_, &tokens_}) {
      if (auto it = table->find(key); it != table->end()) {
        return Caller{it->second.tenant, it->second.worker};
      }
    }
  }
  if (open()) return Caller{"default", true};
  if (authorization.empty()) {
    return absl::UnauthenticatedError(
        "missing token: send `authorization: Bearer TOKEN` (the CLI reads "
        "--token or CONDENSE_TOKEN)");
  }
  if (!bearer) {
    return absl::UnauthenticatedError(
        "malformed authorization header: expected `Bearer TOKEN`");
  }
  return absl::UnauthenticatedError(
      "unknown token: check --token / CONDENSE_TOKEN against the server's "
      "token file");
}

absl::StatusOr<Caller> Authenticator::Authenticate(
    const grpc::CallbackServerContext& context) const {
  const auto& md = context.client_metadata();
  auto it = md.find("authorization");
  if (it == md.end()) return Authenticate("");
  return Authenticate(absl::string_view(it->second.data(), it->second.size()));
}

absl::StatusOr<Caller> Authenticator::AuthenticateWorker(
    const grpc::CallbackServerContext& context) const {
  auto caller = Authenticate(context);
  if (caller.ok() && !caller->worker) {
    return absl::PermissionDeniedError(
        "this token may not act as a worker; give the worker a token marked "
        "`worker` in the token file");
  }
  return caller;
}

}  // namespace condense::server
