#include "server/store/migrations.h"

#include <iterator>

#include "absl/strings/str_cat.h"

namespace condense::server {
namespace {

// Full records are serialized protos (the API's own messages) in `proto`
// columns; the columns beside them are what queries filter and order on.
constexpr const char* kMigrations[] = {
    // 1: the first schema.
    R"sql(
CREATE TABLE tenants (
  name TEXT PRIMARY KEY,
  create_ms INTEGER NOT NULL
);
CREATE TABLE models (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  tenant TEXT NOT NULL REFERENCES tenants(name),
  proto BLOB NOT NULL
);
CREATE INDEX models_by_tenant ON models(tenant, seq);
CREATE TABLE datasets (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  tenant TEXT NOT NULL REFERENCES tenants(name),
  proto BLOB NOT NULL
);
CREATE INDEX datasets_by_tenant ON datasets(tenant, seq);
CREATE TABLE jobs (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  tenant TEXT NOT NULL REFERENCES tenants(name),
  model_id TEXT REFERENCES models(id),
  dataset_id TEXT REFERENCES datasets(id),
  request_id TEXT,
  state INTEGER NOT NULL,
  priority INTEGER NOT NULL,
  lease_id TEXT,
  lease_deadline_ms INTEGER,
  cancel_requested INTEGER NOT NULL DEFAULT 0,
  checkpoint_sha256 TEXT,
  checkpoint_size INTEGER,
  next_event_seq INTEGER NOT NULL DEFAULT 1,
  event_index INTEGER NOT NULL DEFAULT 0,
  proto BLOB NOT NULL,
  UNIQUE (tenant, request_id)
);
CREATE INDEX jobs_by_tenant ON jobs(tenant, seq);
CREATE INDEX jobs_queue ON jobs(state, priority DESC, seq);
CREATE UNIQUE INDEX jobs_by_lease ON jobs(lease_id);
CREATE TABLE attempts (
  job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  attempt INTEGER NOT NULL,
  worker TEXT NOT NULL,
  start_ms INTEGER NOT NULL,
  end_ms INTEGER,
  outcome TEXT,
  PRIMARY KEY (job_id, attempt)
);
CREATE TABLE events (
  job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  seq INTEGER NOT NULL,
  proto BLOB NOT NULL,
  PRIMARY KEY (job_id, seq)
) WITHOUT ROWID;
)sql",
};

}  // namespace

int LatestSchemaVersion() { return static_cast<int>(std::size(kMigrations)); }

absl::Status Migrate(Database* db) {
  auto version = db->UserVersion();
  if (!version.ok()) return version.status();
  if (*version > LatestSchemaVersion()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the metadata database has schema version ", *version,
        " but this condense-server knows only up to ", LatestSchemaVersion(),
        "; run a newer condense-server on this data directory"));
  }
  for (int v = *version; v < LatestSchemaVersion(); ++v) {
    Transaction tx(db);
    if (!tx.begin_status().ok()) return tx.begin_status();
    if (auto st = db->Exec(kMigrations[v]); !st.ok()) return st;
    if (auto st = db->Exec(absl::StrCat("PRAGMA user_version = ", v + 1));
        !st.ok()) {
      return st;
    }
    if (auto st = tx.Commit(); !st.ok()) return st;
  }
  return absl::OkStatus();
}

}  // namespace condense::server
