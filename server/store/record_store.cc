// Models and datasets: the same record shape (a serialized proto owned by a
// tenant) in two tables.
#include <string>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "server/store/metadata_store.h"
#include "server/store/store_internal.h"

namespace condense::server {
namespace {

struct Table {
  const char* table;       // SQL table.
  const char* collection;  // API collection ("models").
  const char* noun;        // For messages ("model").
};
constexpr Table kModels{"models", "models", "model"};
constexpr Table kDatasets{"datasets", "datasets", "dataset"};

template <typename Proto>
absl::StatusOr<Proto> Create(Database* db, const Table& t,
                             const std::string& tenant, Proto record,
                             int64_t now_ms) {
  Transaction tx(db);
  if (!tx.begin_status().ok()) return tx.begin_status();
  if (auto st = internal::EnsureTenant(db, tenant, now_ms); !st.ok()) {
    return st;
  }
  const std::string id = internal::NewId();
  record.set_name(absl::StrCat(t.collection, "/", id));
  record.set_create_time_unix_ms(now_ms);
  auto stmt = db->Prepare(absl::StrCat("INSERT INTO ", t.table,
                                       "(id, tenant, proto) VALUES(?,?,?)"));
  if (!stmt.ok()) return stmt.status();
  if (auto st = stmt->Bind(1, id)
                    .Bind(2, tenant)
                    .BindBlob(3, record.SerializeAsString())
                    .Run();
      !st.ok()) {
    return st;
  }
  if (auto st = tx.Commit(); !st.ok()) return st;
  return record;
}

template <typename Proto>
absl::StatusOr<Proto> Get(Database* db, const Table& t,
                          const std::string& tenant, const std::string& name) {
  auto id = ParseName(t.collection, name);
  if (!id.ok()) return id.status();
  auto stmt = db->Prepare(
      absl::StrCat("SELECT proto FROM ", t.table, " WHERE id=? AND tenant=?"));
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, *id).Bind(2, tenant);
  auto row = stmt->Step();
  if (!row.ok()) return row.status();
  if (!*row) {
    return absl::NotFoundError(
        absl::StrCat("no ", t.noun, " ", t.collection, "/", *id,
                     " (list yours with `condense list ", t.collection, "`)"));
  }
  Proto record;
  if (!record.ParseFromString(stmt->Text(0))) {
    return absl::InternalError(
        absl::StrCat("stored ", t.noun, " ", *id, " does not parse"));
  }
  return record;
}

template <typename Proto, typename Response>
absl::StatusOr<Response> List(Database* db, const Table& t,
                              const std::string& tenant, int page_size,
                              const std::string& page_token) {
  auto before = internal::ParsePageToken(page_token);
  if (!before.ok()) return before.status();
  const int limit = internal::ClampPageSize(page_size);
  auto stmt = db->Prepare(
      absl::StrCat("SELECT seq, proto FROM ", t.table,
                   " WHERE tenant=? AND seq<? ORDER BY seq DESC LIMIT ?"));
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, tenant).Bind(2, *before).Bind(3, int64_t{limit + 1});
  Response response;
  int64_t last_seq = 0;
  int count = 0;
  while (true) {
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    if (count == limit) {
      response.set_next_page_token(absl::StrCat(last_seq));
      break;
    }
    Proto record;
    if (!record.ParseFromString(stmt->Text(1))) {
      return absl::InternalError(
          absl::StrCat("stored ", t.noun, " does not parse"));
    }
    if constexpr (std::is_same_v<Proto, v1::Model>) {
      *response.add_models() = std::move(record);
    } else {
      *response.add_datasets() = std::move(record);
    }
    last_seq = stmt->Int(0);
    ++count;
  }
  return response;
}

absl::Status Delete(Database* db, const Table& t, const std::string& tenant,
                    const std::string& name, const char* job_column) {
  auto id = ParseName(t.collection, name);
  if (!id.ok()) return id.status();
  Transaction tx(db);
  if (!tx.begin_status().ok()) return tx.begin_status();
  auto exists = db->Prepare(
      absl::StrCat("SELECT 1 FROM ", t.table, " WHERE id=? AND tenant=?"));
  if (!exists.ok()) return exists.status();
  exists->Bind(1, *id).Bind(2, tenant);
  auto found = exists->Step();
  if (!found.ok()) return found.status();
  if (!*found) {
    return absl::NotFoundError(
        absl::StrCat("no ", t.noun, " ", t.collection, "/", *id));
  }
  // Finished jobs keep their record; their reference to the deleted input
  // is dropped with it (the job's proto still names it).
  auto active = db->Prepare(absl::StrCat("SELECT COUNT(*) FROM jobs WHERE ",
                                         job_column, "=? AND state IN (1, 2)"));
  if (!active.ok()) return active.status();
  active->Bind(1, *id);
  if (auto row = active->Step(); !row.ok()) return row.status();
  if (active->Int(0) > 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        t.noun, " ", t.collection, "/", *id, " is used by ", active->Int(0),
        " queued or running jobs; cancel them or wait, then delete"));
  }
  auto detach = db->Prepare(absl::StrCat("UPDATE jobs SET ", job_column,
                                         "=NULL WHERE ", job_column, "=?"));
  if (!detach.ok()) return detach.status();
  if (auto st = detach->Bind(1, *id).Run(); !st.ok()) return st;
  auto del = db->Prepare(absl::StrCat("DELETE FROM ", t.table, " WHERE id=?"));
  if (!del.ok()) return del.status();
  if (auto st = del->Bind(1, *id).Run(); !st.ok()) return st;
  return tx.Commit();
}

}  // namespace

absl::StatusOr<v1::Model> MetadataStore::CreateModel(const std::string& tenant,
                                                     v1::Model model,
                                                     int64_t now_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  return Create(db_.get(), kModels, tenant, std::move(model), now_ms);
}

absl::StatusOr<v1::Model> MetadataStore::GetModel(const std::string& tenant,
                                                  const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  return Get<v1::Model>(db_.get(), kModels, tenant, name);
}

absl::StatusOr<v1::ListModelsResponse> MetadataStore::ListModels(
    const std::string& tenant, int page_size, const std::string& page_token) {
  std::lock_guard<std::mutex> lock(mu_);
  return List<v1::Model, v1::ListModelsResponse>(db_.get(), kModels, tenant,
                                                 page_size, page_token);
}

absl::Status MetadataStore::DeleteModel(const std::string& tenant,
                                        const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  return Delete(db_.get(), kModels, tenant, name, "model_id");
}

absl::StatusOr<v1::Dataset> MetadataStore::CreateDataset(
    const std::string& tenant, v1::Dataset dataset, int64_t now_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  return Create(db_.get(), kDatasets, tenant, std::move(dataset), now_ms);
}

absl::StatusOr<v1::Dataset> MetadataStore::GetDataset(const std::string& tenant,
                                                      const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  return Get<v1::Dataset>(db_.get(), kDatasets, tenant, name);
}

absl::StatusOr<v1::ListDatasetsResponse> MetadataStore::ListDatasets(
    const std::string& tenant, int page_size, const std::string& page_token) {
  std::lock_guard<std::mutex> lock(mu_);
  return List<v1::Dataset, v1::ListDatasetsResponse>(
      db_.get(), kDatasets, tenant, page_size, page_token);
}

absl::Status MetadataStore::DeleteDataset(const std::string& tenant,
                                          const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  return Delete(db_.get(), kDatasets, tenant, name, "dataset_id");
}

}  // namespace condense::server
