// PostgresServer: a private PostgreSQL cluster for tests and the scenario runner: initdb into a
// new directory, a postgres server listening only on a unix socket there (no TCP), trust
// authentication for the one superuser `capif`, stopped and removed when destroyed.
//
//   ASSIGN_OR_RETURN(auto pg, PostgresServer::Start());
//   ASSIGN_OR_RETURN(std::string dsn, pg->CreateDatabase());  // a fresh, empty database
//   ... PostgresDatabase::Open({dsn}, migrations) ...
//
// Binaries: $CAPIF_PG_BINDIR, else the newest /usr/lib/postgresql/<version>/bin (Debian's
// postgresql-15; `tools/dev deps` installs it). Missing: NotFound with what to install, so a
// test that needs the server fails saying so rather than passing.
//
// initdb and postgres refuse to run as root. As root, both run as the `postgres` account
// (setpriv), in a directory that account owns; otherwise as the caller. The directory is
// /tmp/capif-pg-XXXXXX rather than under TEST_TMPDIR: a unix socket path is limited to 107
// bytes, which Bazel's TEST_TMPDIR paths exceed, and the `postgres` account cannot reach a
// directory under root's home. The server dies with the process that started it
// (PR_SET_PDEATHSIG), so a killed test leaves no server running.
//
// Tuned for tests, not for production: fsync and synchronous_commit off (a crash of the test
// machine loses the cluster, which nobody keeps). Not thread-safe.
#ifndef CAPIF_COMMON_TESTING_POSTGRES_SERVER_H_
#define CAPIF_COMMON_TESTING_POSTGRES_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/subprocess.h"

namespace capif {

class PostgresServer {
 public:
  static absl::StatusOr<std::unique_ptr<PostgresServer>> Start();
  // The process's one server, started on first use and stopped (and removed) at exit; the
  // same error on every call when it could not be started ("this test needs a PostgreSQL
  // server: ..."). For tests, from one thread.
  static absl::StatusOr<PostgresServer*> Shared();
  ~PostgresServer();

  // A connection string for database `dbname` on this server.
  std::string Dsn(const std::string& dbname) const;
  // Creates a new empty database (named db1, db2, ...) and returns its connection string.
  absl::StatusOr<std::string> CreateDatabase();
  // Runs one SQL statement as the superuser on database `dbname` (tests' own setup).
  absl::Status Run(const std::string& dbname, const std::string& sql);

  const std::string& directory() const { return dir_; }

 private:
  PostgresServer() = default;

  std::string dir_;
  std::string socket_dir_;
  std::unique_ptr<Subprocess> server_;
  int databases_ = 0;
};

}  // namespace capif

#endif  // CAPIF_COMMON_TESTING_POSTGRES_SERVER_H_
