// Helpers shared by the MetadataStore's source files. Callers hold the
// store's mutex.
#ifndef CONDENSE_SERVER_STORE_STORE_INTERNAL_H_
#define CONDENSE_SERVER_STORE_STORE_INTERNAL_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/store/sqlite.h"

namespace condense::server::internal {

// 16 random hex digits.
std::string NewId();
absl::Status EnsureTenant(Database* db, const std::string& tenant,
                          int64_t now_ms);
// Page tokens are the last returned row's sequence; INT64_MAX for "".
absl::StatusOr<int64_t> ParsePageToken(const std::string& token);
int ClampPageSize(int page_size);

}  // namespace condense::server::internal

#endif  // CONDENSE_SERVER_STORE_STORE_INTERNAL_H_
