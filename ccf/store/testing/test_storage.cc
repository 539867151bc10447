#include "ccf/store/testing/test_storage.h"

#include <algorithm>

#include "common/status_macros.h"
#include "common/testing/postgres_server.h"
#include "common/testing/test_paths.h"

namespace capif {
namespace {

std::string CurrentTestName() {
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = info != nullptr
                         ? std::string(info->test_suite_name()) + "." + info->name()
                         : std::string("no-test");
  std::replace(name.begin(), name.end(), '/', '_');
  return name;
}

}  // namespace

std::string BackendName(const ::testing::TestParamInfo<StorageBackend>& info) {
  return info.param == StorageBackend::kPostgres ? "Postgres" : "Sqlite";
}

absl::StatusOr<TestStorage> NewTestStorage(StorageBackend backend) {
  TestStorage s;
  s.backend = backend;
  s.data_dir = TestTmpDir(CurrentTestName());
  if (backend == StorageBackend::kPostgres) {
    ASSIGN_OR_RETURN(PostgresServer * server, PostgresServer::Shared());
    PostgresOptions options;
    ASSIGN_OR_RETURN(options.dsn, server->CreateDatabase());
    s.config.postgres = options;
  }
  return s;
}

}  // namespace capif
