// SqlDatabase: what the CCF's repositories need from a SQL database,
// implemented by SQLite (sqlite_database.h, the embedded default) and
// PostgreSQL (postgres_database.h, for several replicas on one database).
//
//   RETURN_IF_ERROR(db->Execute("INSERT INTO t(k, v) VALUES (?, ?)", {"k1",
//   int64_t{7}})); ASSIGN_OR_RETURN(auto rows, db->Query("SELECT v FROM t WHERE
//   k = ?", {"k1"})); RETURN_IF_ERROR(db->Transaction([&](SqlDatabase::Tx& tx)
//   { ...tx.Execute(...)...; }));
//
// SQL is written once for both: `?` placeholders, INSERT ... ON CONFLICT, no
// dialect-only functions (dialect() tells where one is unavoidable). Integers
// are 64-bit (SQLite INTEGER, PostgreSQL BIGINT), booleans are integers 0/1,
// binary values are SqlBlob (BLOB / BYTEA) and text is UTF-8 without NUL bytes.
//
// Transactions are serializable on both: SQLite has one writer at a time;
// PostgreSQL runs them at SERIALIZABLE and runs the body again (up to a bound)
// when the server reports a serialization failure, so a body must not have
// effects outside the database beyond assigning its results (each run starts
// from a clean slate).
//
// Errors: Unavailable for "busy", lost connections and serialization failures
// past the bound (retry), AlreadyExists for constraint violations, Internal
// otherwise; messages never include bound values (they may be secrets).
// Thread-safe.
#ifndef CAPIF_COMMON_SQL_DATABASE_H_
#define CAPIF_COMMON_SQL_DATABASE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace capif {

// A bound parameter or a column value. Blobs are std::string tagged by SqlBlob.
struct SqlBlob {
  std::string bytes;
};
struct SqlNull {};
using SqlValue = std::variant<SqlNull, int64_t, std::string, SqlBlob>;
using SqlRow = std::vector<SqlValue>;

class SqlDatabase {
 public:
  enum class Dialect { kSqlite, kPostgres };

  // Statements inside one transaction.
  class Tx {
   public:
    virtual ~Tx() = default;
    virtual absl::Status Execute(absl::string_view sql,
                                 const std::vector<SqlValue>& params = {}) = 0;
    virtual absl::StatusOr<std::vector<SqlRow>> Query(absl::string_view sql,
                                                      const std::vector<SqlValue>& params = {}) = 0;
    // Rows changed by the last Execute.
    virtual int64_t changes() const = 0;
  };

  virtual ~SqlDatabase() = default;
  virtual Dialect dialect() const = 0;

  // One statement in a transaction of its own.
  virtual absl::Status Execute(absl::string_view sql, const std::vector<SqlValue>& params = {}) = 0;
  // Sees every committed write. Not for use inside a Transaction() body: it
  // would not see that transaction's writes (and may wait for the connection
  // the body holds).
  virtual absl::StatusOr<std::vector<SqlRow>> Query(absl::string_view sql,
                                                    const std::vector<SqlValue>& params = {}) = 0;
  // Runs `body` in one serializable read-write transaction; rolls back if it
  // returns an error.
  virtual absl::Status Transaction(const std::function<absl::Status(Tx&)>& body) = 0;
  // Runs `body` in a read-only transaction: one consistent snapshot across its
  // queries.
  virtual absl::Status ReadTransaction(const std::function<absl::Status(Tx&)>& body) = 0;

  // The schema version the database is at (the number of migrations applied).
  virtual int schema_version() const = 0;
};

// Accessors for column values; InvalidArgument-free: a wrong type gives the
// empty value.
std::string SqlText(const SqlValue& v);
int64_t SqlInt(const SqlValue& v);
std::string SqlBytes(const SqlValue& v);

}  // namespace capif

#endif  // CAPIF_COMMON_SQL_DATABASE_H_
