// A thin RAII layer over the SQLite C API: a connection, prepared
// statements, and transactions, with errors as absl::Status naming the SQL
// that failed. Not thread-safe: the owner (MetadataStore) serializes use.
#ifndef CONDENSE_SERVER_STORE_SQLITE_H_
#define CONDENSE_SERVER_STORE_SQLITE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

struct sqlite3;
struct sqlite3_stmt;

namespace condense::server {

class Statement {
 public:
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&&) = delete;
  ~Statement();

  // Binds are 1-based, as in SQLite. They return *this for chaining; an
  // error surfaces at Step.
  Statement& Bind(int index, int64_t value);
  Statement& Bind(int index, absl::string_view text);
  Statement& BindBlob(int index, absl::string_view bytes);
  Statement& BindNull(int index);

  // true: a row is ready; false: done.
  absl::StatusOr<bool> Step();
  // Steps to the end (for statements without results).
  absl::Status Run();

  int64_t Int(int column) const;
  std::string Text(int column) const;
  bool IsNull(int column) const;

 private:
  friend class Database;
  Statement(sqlite3* db, sqlite3_stmt* stmt, std::string sql);
  sqlite3* db_;
  sqlite3_stmt* stmt_;
  std::string sql_;
  absl::Status bind_status_;
};

class Database {
 public:
  // Opens (creating) the file with WAL journaling, foreign keys on, and a
  // busy timeout, so a second process reading it does not fail at once.
  static absl::StatusOr<std::unique_ptr<Database>> Open(
      const std::string& path);
  ~Database();

  absl::Status Exec(absl::string_view sql);
  absl::StatusOr<Statement> Prepare(absl::string_view sql);
  int64_t Changes() const;

  // PRAGMA user_version: the schema version migrations reached.
  absl::StatusOr<int> UserVersion();

 private:
  explicit Database(sqlite3* db) : db_(db) {}
  sqlite3* db_;
};

// BEGIN IMMEDIATE on construction; rolls back unless Commit succeeded.
class Transaction {
 public:
  explicit Transaction(Database* db);
  ~Transaction();
  const absl::Status& begin_status() const { return begin_; }
  absl::Status Commit();

 private:
  Database* db_;
  absl::Status begin_;
  bool done_ = false;
};

}  // namespace condense::server

#endif  // CONDENSE_SERVER_STORE_SQLITE_H_
