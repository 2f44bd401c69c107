// The metadata schema as numbered migrations from 1. A database records the
// last one applied (PRAGMA user_version); opening applies the rest, each in
// its own transaction. Never edit a released migration: append a new one.
#ifndef CONDENSE_SERVER_STORE_MIGRATIONS_H_
#define CONDENSE_SERVER_STORE_MIGRATIONS_H_

#include "absl/status/status.h"
#include "server/store/sqlite.h"

namespace condense::server {

// The schema version this build writes.
int LatestSchemaVersion();

// Brings `db` to LatestSchemaVersion(). FAILED_PRECONDITION when the
// database is newer than this build (a downgrade).
absl::Status Migrate(Database* db);

}  // namespace condense::server

#endif  // CONDENSE_SERVER_STORE_MIGRATIONS_H_
