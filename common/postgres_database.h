// PostgresDatabase: the SqlDatabase of several ccfd replicas on one PostgreSQL server (libpq),
// with versioned schema migrations.
//
//   ASSIGN_OR_RETURN(auto db, PostgresDatabase::Open({.dsn = "host=/run/pg dbname=capif"},
//                                                    migrations));
//
// Connections: a fixed pool of `pool_size`, opened at Open(); each call takes one for its
// duration (waiting while all are in use) and a connection found broken is re-established
// when it is next taken. Statements are prepared once per connection, by SQL text, with `?`
// turned into $1, $2, ... (a `?` inside a quoted literal or identifier is left alone).
// Values travel in text form: integers in decimal, blobs as bytea hex; results are decoded by
// column type (integers and booleans to int64_t, bytea to SqlBlob, anything else to text).
// Text with a NUL byte, which PostgreSQL cannot store, is refused (InvalidArgument).
//
// Isolation: every transaction is SERIALIZABLE (the connection default), so concurrent
// replicas see the same outcomes SQLite's single writer gives; a serialization failure or
// deadlock (SQLSTATE 40001, 40P01), which PostgreSQL has rolled back, is run again, body
// included, for up to `retry_for`, with a random, growing pause between. A lost connection
// is never run again (the outcome of a COMMIT in flight is unknown): Unavailable.
// ReadTransaction is REPEATABLE READ READ ONLY (one snapshot, never a serialization failure).
// Each statement is bounded by `statement_timeout` (Unavailable when it fires).
//
// Migrations: element i brings the schema from version i to i + 1, recorded in table
// capif_schema_version; pending ones run in one transaction under an advisory lock, so
// replicas starting together migrate once. A database newer than the code is refused
// (FailedPrecondition).
//
// Errors as SqlDatabase says; messages carry the server's primary message and SQLSTATE but
// never libpq's connection details (logged once per outage instead) nor bound values (for data errors, class 22, whose messages may quote a value, only the
// SQLSTATE). Thread-safe.
#ifndef CAPIF_COMMON_POSTGRES_DATABASE_H_
#define CAPIF_COMMON_POSTGRES_DATABASE_H_

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/sql_database.h"

namespace capif {

struct PostgresOptions {
  // A libpq connection string ("host=/path/to/socket/dir dbname=capif user=ccf") or URI
  // ("postgresql://ccf@db.example/capif?sslmode=verify-full").
  std::string dsn;
  int pool_size = 4;
  absl::Duration statement_timeout = absl::Seconds(10);
  // How long a transaction is run again after serialization failures before Unavailable
  // (SQLite's busy timeout is the same 5 s).
  absl::Duration retry_for = absl::Seconds(5);
};

class PostgresDatabase final : public SqlDatabase {
 public:
  static absl::StatusOr<std::unique_ptr<PostgresDatabase>> Open(
      const PostgresOptions& options, const std::vector<std::string>& migrations);
  ~PostgresDatabase() override;

  Dialect dialect() const override { return Dialect::kPostgres; }
  absl::Status Execute(absl::string_view sql, const std::vector<SqlValue>& params = {}) override;
  absl::StatusOr<std::vector<SqlRow>> Query(absl::string_view sql,
                                            const std::vector<SqlValue>& params = {}) override;
  absl::Status Transaction(const std::function<absl::Status(Tx&)>& body) override;
  absl::Status ReadTransaction(const std::function<absl::Status(Tx&)>& body) override;
  int schema_version() const override { return schema_version_; }

  // `sql` with each `?` outside quotes replaced by $1, $2, ...; and how many there were.
  static std::string NumberedPlaceholders(absl::string_view sql, int* count);

  struct Connection;  // internal

 private:
  class PgTx;
  class Borrowed;
  explicit PostgresDatabase(PostgresOptions options);
  // A connection for the caller's use, re-established first if it was lost.
  absl::StatusOr<Connection*> Take();
  absl::StatusOr<Connection*> TakeConnected();
  void GiveBack(Connection* c);
  // Runs `attempt` (on a connection of its own each time) again while it fails with a
  // serialization failure, for up to options_.retry_for.
  absl::Status WithRetries(const std::function<absl::Status(Connection&)>& attempt);
  // `begin`, `body`, COMMIT, with retries.
  absl::Status InTransaction(const std::string& begin,
                             const std::function<absl::Status(Tx&)>& body);

  const PostgresOptions options_;
  std::vector<std::unique_ptr<Connection>> connections_;  // fixed after Open()
  absl::Mutex mu_;
  std::vector<Connection*> idle_ ABSL_GUARDED_BY(mu_);
  int schema_version_ = 0;
  std::atomic<bool> unreachable_{false};
};

}  // namespace capif

#endif  // CAPIF_COMMON_POSTGRES_DATABASE_H_
