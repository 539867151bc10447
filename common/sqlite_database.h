// SqliteDatabase: one SQLite database file in WAL mode with synchronous=FULL, so a write is on
// disk when the call that made it returns (a SIGKILL or power cut right after loses nothing that
// was acknowledged), plus versioned schema migrations.
//
//   ASSIGN_OR_RETURN(auto db, SqliteDatabase::Open(path, {kMigration1, kMigration2}));
//   RETURN_IF_ERROR(db->Execute("INSERT INTO t(k, v) VALUES (?, ?)", {"k1", int64_t{7}}));
//   ASSIGN_OR_RETURN(auto rows, db->Query("SELECT v FROM t WHERE k = ?", {"k1"}));
//   RETURN_IF_ERROR(db->Transaction([&](SqliteDatabase::Tx& tx) { ...tx.Execute(...)...; }));
//
// Migrations: element i of `migrations` brings the schema from version i to i + 1 (PRAGMA
// user_version); pending ones run in one transaction at Open(). A database newer than the code
// is refused (FailedPrecondition) rather than misread.
// Files: the database file and its -wal and -shm files are 0600. Open() creates the database
// file itself (open(2) with O_CREAT and 0600, then fchmod, so the umask neither widens nor narrows
// it) and sets an existing one to 0600 before SQLite opens it; SQLite creates -wal and -shm with
// the mode of the database file, and Open() sets to 0600 any left by an earlier process. (Not a
// umask change around sqlite3_open_v2: the umask is process-wide, so other threads creating
// files meanwhile would be affected.) Failing to set a mode fails Open() (PermissionDenied if
// the file belongs to another user). ":memory:" and "file:" URIs are left alone.
// Deleted or overwritten values are zeroed in the database pages (PRAGMA secure_delete=ON), so a
// secret removed from a row does not linger in free space; older copies of a page stay in the
// -wal file until the next checkpoint ("PRAGMA wal_checkpoint(TRUNCATE)" to force one).
// Errors: Unavailable for "busy/locked" (retry), AlreadyExists for constraint violations,
// Internal otherwise; messages never include bound values (they may be secrets).
// Connections: one write connection, serialized by a mutex, and (for a file) kReaders read-only
// connections for Query() and ReadTransaction(), so that reads proceed while a write commits.
// Thread-safe.
#ifndef CAPIF_COMMON_SQLITE_DATABASE_H_
#define CAPIF_COMMON_SQLITE_DATABASE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "common/sql_database.h"

struct sqlite3;

namespace capif {

// Prepared statements kept per connection, by SQL text (internal to sqlite_database.cc).
class StatementCache;

class SqliteDatabase final : public SqlDatabase {
 public:
  static absl::StatusOr<std::unique_ptr<SqliteDatabase>> Open(
      const std::string& path, const std::vector<std::string>& migrations);
  ~SqliteDatabase() override;

  Dialect dialect() const override { return Dialect::kSqlite; }
  // On the write connection.
  absl::Status Execute(absl::string_view sql, const std::vector<SqlValue>& params = {}) override;
  // On a read connection (file databases): sees every committed write, never waits for a
  // transaction in progress or its fsync. Writing through it fails (the connection is read-only).
  // Not for use inside a Transaction() body: it would not see that transaction's writes (and a
  // ":memory:" database, which has no readers, would deadlock).
  absl::StatusOr<std::vector<SqlRow>> Query(absl::string_view sql,
                                            const std::vector<SqlValue>& params = {}) override;
  // Runs `body` in BEGIN IMMEDIATE ... COMMIT on the write connection; rolls back if it returns
  // an error.
  absl::Status Transaction(const std::function<absl::Status(Tx&)>& body) override;
  // Runs `body` in a read transaction on a read connection: one consistent snapshot across its
  // queries, taken without waiting for writers (WAL). For ":memory:" and URI databases, which
  // have no readers, on the write connection.
  absl::Status ReadTransaction(const std::function<absl::Status(Tx&)>& body) override;

  int schema_version() const override { return schema_version_; }
  // Read connections beside the write one (0 for ":memory:" and URI databases).
  static constexpr int kReaders = 4;

 private:
  struct Reader;
  class BorrowedReader;
  class SqliteTx;
  explicit SqliteDatabase(sqlite3* db);
  // A reader for the caller's use; waits while all are in use. Null without readers.
  Reader* TakeReader();
  void GiveBack(Reader* reader);

  absl::Mutex mu_;
  sqlite3* db_ ABSL_PT_GUARDED_BY(mu_);
  // Every statement is prepared once and reused (sqlite3_reset): parsing SQL was a large part
  // of each request's CPU.
  std::unique_ptr<StatementCache> statements_ ABSL_PT_GUARDED_BY(mu_);
  // Readers: reads never queue behind a write transaction's fsync.
  std::vector<std::unique_ptr<Reader>> readers_;  // fixed after Open()
  absl::Mutex readers_mu_;
  std::vector<Reader*> idle_readers_ ABSL_GUARDED_BY(readers_mu_);
  int schema_version_ = 0;
};

}  // namespace capif

#endif  // CAPIF_COMMON_SQLITE_DATABASE_H_
