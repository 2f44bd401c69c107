#include "proto/retry_policy.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <string>

#include "absl/strings/match.h"
#include "nlohmann/json.hpp"

namespace condense::retry {

// The policy file's text, embedded at build time (retry_policy_json.cc).
extern const char kPolicyJson[];

namespace {

struct Policy {
  std::set<absl::StatusCode> transient;
  std::set<absl::StatusCode> stream_transient;
  double initial = 0.2;
  double multiplier = 2;
  double max = 5;
  int max_attempts = 30;
};

absl::StatusCode CodeNamed(const std::string& name) {
  for (int c = 0; c <= 16; ++c) {
    const auto code = static_cast<absl::StatusCode>(c);
    std::string n = absl::StatusCodeToString(code);
    std::transform(n.begin(), n.end(), n.begin(), ::toupper);
    std::replace(n.begin(), n.end(), ' ', '_');
    if (n == name) return code;
  }
  return absl::StatusCode::kUnknown;
}

const Policy& Get() {
  static const Policy policy = [] {
    Policy p;
    const nlohmann::json j = nlohmann::json::parse(kPolicyJson);
    for (const auto& c : j.at("transient")) {
      p.transient.insert(CodeNamed(c.get<std::string>()));
    }
    p.stream_transient = p.transient;
    for (const auto& c : j.at("stream_transient")) {
      p.stream_transient.insert(CodeNamed(c.get<std::string>()));
    }
    p.initial = j.at("initial_backoff_seconds").get<double>();
    p.multiplier = j.at("backoff_multiplier").get<double>();
    p.max = j.at("max_backoff_seconds").get<double>();
    p.max_attempts = j.at("max_attempts").get<int>();
    return p;
  }();
  return policy;
}

}  // namespace

bool IsTransient(absl::StatusCode code, CallKind kind) {
  const Policy& p = Get();
  return (kind == CallKind::kStream ? p.stream_transient : p.transient)
      .count(code);
}

bool IsTransientError(const absl::Status& status, CallKind kind) {
  if (status.ok()) return false;
  if (IsTransient(status.code(), kind)) return true;
  if (kind != CallKind::kStream ||
      (status.code() != absl::StatusCode::kInternal &&
       status.code() != absl::StatusCode::kUnknown)) {
    return false;
  }
  for (const char* cut :
       {"RST_STREAM", "GOAWAY", "Socket closed", "Stream removed"}) {
    if (absl::StrContains(status.message(), cut)) return true;
  }
  return false;
}

absl::Duration Backoff(int retry) {
  const Policy& p = Get();
  const double s = std::min(
      p.max, p.initial * std::pow(p.multiplier, std::max(retry, 1) - 1));
  return absl::Seconds(s);
}

int MaxAttempts() { return Get().max_attempts; }

}  // namespace condense::retry
