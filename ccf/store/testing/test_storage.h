// The CCF database of one test, on either backend, so that one repository suite runs against
// both (TEST_P over kBackends):
//
//   class MyTest : public ::testing::TestWithParam<StorageBackend> { ... };
//   ASSERT_OK_AND_ASSIGN(TestStorage storage, NewTestStorage(GetParam()));
//   auto db = storage.Open();   // again later: the same database, reopened
//   INSTANTIATE_TEST_SUITE_P(Backends, MyTest, ::testing::ValuesIn(kBackends), BackendName);
//
// SQLite: a directory under TEST_TMPDIR named after the test. PostgreSQL: a new database on a
// private server (common/testing/postgres_server.h) that the test binary starts on first use
// and stops at exit; NewTestStorage fails, saying why, when no server can be started. testonly;
// not thread-safe (call from the test's own thread).
#ifndef CAPIF_CCF_STORE_TESTING_TEST_STORAGE_H_
#define CAPIF_CCF_STORE_TESTING_TEST_STORAGE_H_

#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "absl/status/statusor.h"
#include "ccf/store/sql_stores.h"

namespace capif {

enum class StorageBackend { kSqlite, kPostgres };
inline constexpr StorageBackend kBackends[] = {StorageBackend::kSqlite,
                                               StorageBackend::kPostgres};

// "Sqlite" / "Postgres", for INSTANTIATE_TEST_SUITE_P.
std::string BackendName(const ::testing::TestParamInfo<StorageBackend>& info);

struct TestStorage {
  StorageBackend backend = StorageBackend::kSqlite;
  StorageConfig config;
  std::string data_dir;  // the key-encryption key lives here on both backends

  absl::StatusOr<std::shared_ptr<SqlDatabase>> Open() const {
    return OpenCcfStorage(config, data_dir);
  }
};

// A new, empty place for the current test's database (named after it).
absl::StatusOr<TestStorage> NewTestStorage(StorageBackend backend);

}  // namespace capif

#endif  // CAPIF_CCF_STORE_TESTING_TEST_STORAGE_H_
