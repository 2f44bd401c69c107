#include "server/store/metadata_store.h"

#include <algorithm>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "server/store/migrations.h"
#include "server/store/store_internal.h"

namespace condense::server {

absl::StatusOr<std::string> ParseName(absl::string_view collection,
                                      absl::string_view name) {
  absl::string_view id = name;
  const std::string prefix = absl::StrCat(collection, "/");
  if (absl::ConsumePrefix(&id, prefix)) {
    // Qualified name.
  } else if (absl::StrContains(name, '/')) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", name, "\" is not a name of ", collection, " (", prefix, "ID)"));
  }
  if (id.empty() || id.size() > 64 ||
      !std::all_of(id.begin(), id.end(), [](char c) {
        return absl::ascii_isalnum(c) || c == '-' || c == '_';
      })) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", name, "\" is not a valid ", collection,
                     " name: expected ", prefix, "ID"));
  }
  std::string result(id);
  return result;
}

namespace internal {

std::string NewId() {
  static absl::Mutex mu(absl::kConstInit);
  static absl::BitGen* gen = new absl::BitGen;
  absl::MutexLock lock(&mu);
  return absl::StrFormat("%016x", absl::Uniform<uint64_t>(*gen));
}

absl::Status EnsureTenant(Database* db, const std::string& tenant,
                          int64_t now_ms) {
  auto stmt =
      db->Prepare("INSERT OR IGNORE INTO tenants(name, create_ms) VALUES(?,?)");
  if (!stmt.ok()) return stmt.status();
  return stmt->Bind(1, tenant).Bind(2, now_ms).Run();
}

absl::StatusOr<int64_t> ParsePageToken(const std::string& token) {
  if (token.empty()) return INT64_MAX;
  int64_t seq = 0;
  if (!absl::SimpleAtoi(token, &seq) || seq <= 0) {
    return absl::InvalidArgumentError(
        "invalid page_token: pass the next_page_token of the previous page "
        "unchanged");
  }
  return seq;
}

int ClampPageSize(int page_size) {
  if (page_size <= 0) return 50;
  return page_size > 1000 ? 1000 : page_size;
}

}  // namespace internal

absl::StatusOr<std::unique_ptr<MetadataStore>> MetadataStore::Open(
    const std::string& path) {
  auto db = Database::Open(path);
  if (!db.ok()) return db.status();
  if (auto st = Migrate(db->get()); !st.ok()) return st;
  return std::unique_ptr<MetadataStore>(new MetadataStore(*std::move(db)));
}

}  // namespace condense::server
