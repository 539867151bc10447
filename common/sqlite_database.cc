#include "common/sqlite_database.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace capif {
namespace {

absl::Status SqlError(sqlite3* db, int rc, absl::string_view what) {
  std::string msg = absl::StrCat(what, ": ", db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return absl::UnavailableError(msg);
    case SQLITE_CONSTRAINT:
      return absl::AlreadyExistsError(msg);
    default:
      return absl::InternalError(msg);
  }
}

struct StmtDeleter {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtDeleter>;

}  // namespace

class StatementCache {
 public:
  static constexpr size_t kMax = 512;  // statements are program constants; a bound anyway
  absl::flat_hash_map<std::string, StmtPtr> statements;
};

namespace {

// Binds `params` to `raw` (reset and unbound).
absl::Status Bind(sqlite3* db, sqlite3_stmt* raw, const std::vector<SqlValue>& params) {
  int rc = SQLITE_OK;
  if (sqlite3_bind_parameter_count(raw) != static_cast<int>(params.size())) {
    return absl::InternalError("wrong number of SQL parameters");
  }
  for (size_t i = 0; i < params.size(); ++i) {
    int idx = static_cast<int>(i) + 1;
    const SqlValue& v = params[i];
    if (std::holds_alternative<SqlNull>(v)) {
      rc = sqlite3_bind_null(raw, idx);
    } else if (const int64_t* n = std::get_if<int64_t>(&v)) {
      rc = sqlite3_bind_int64(raw, idx, *n);
    } else if (const std::string* s = std::get_if<std::string>(&v)) {
      rc = sqlite3_bind_text(raw, idx, s->data(), static_cast<int>(s->size()), SQLITE_TRANSIENT);
    } else {
      const std::string& b = std::get<SqlBlob>(v).bytes;
      rc = sqlite3_bind_blob(raw, idx, b.data(), static_cast<int>(b.size()), SQLITE_TRANSIENT);
    }
    if (rc != SQLITE_OK) return SqlError(db, rc, "bind");
  }
  return absl::OkStatus();
}

// Runs `sql` with `params`: the statement from `cache` (prepared and kept there the first time)
// or, without a cache or when it is full, prepared for this run only.
absl::StatusOr<std::vector<SqlRow>> Run(sqlite3* db, StatementCache* cache, absl::string_view sql,
                                        const std::vector<SqlValue>& params) {
  StmtPtr owned;
  sqlite3_stmt* raw = nullptr;
  if (cache != nullptr) {
    auto it = cache->statements.find(sql);
    if (it != cache->statements.end()) raw = it->second.get();
  }
  if (raw == nullptr) {
    int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()),
                                cache != nullptr ? SQLITE_PREPARE_PERSISTENT : 0, &raw, nullptr);
    owned.reset(raw);
    if (rc != SQLITE_OK) return SqlError(db, rc, "prepare");
    if (cache != nullptr && cache->statements.size() < StatementCache::kMax) {
      cache->statements.emplace(std::string(sql), std::move(owned));
    }
  }
  // Whatever happens below, the statement is left reset and unbound for its next use.
  struct Rewind {
    sqlite3_stmt* s;
    ~Rewind() {
      sqlite3_reset(s);
      sqlite3_clear_bindings(s);
    }
  } rewind{raw};
  RETURN_IF_ERROR(Bind(db, raw, params));
  sqlite3_stmt* stmt = raw;
  std::vector<SqlRow> rows;
  while (true) {
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) return SqlError(db, rc, "step");
    int n = sqlite3_column_count(stmt);
    SqlRow row;
    row.reserve(n);
    for (int c = 0; c < n; ++c) {
      switch (sqlite3_column_type(stmt, c)) {
        case SQLITE_INTEGER:
          row.emplace_back(static_cast<int64_t>(sqlite3_column_int64(stmt, c)));
          break;
        case SQLITE_TEXT:
          row.emplace_back(std::string(
              reinterpret_cast<const char*>(sqlite3_column_text(stmt, c)),
              static_cast<size_t>(sqlite3_column_bytes(stmt, c))));
          break;
        case SQLITE_BLOB: {
          const char* p = static_cast<const char*>(sqlite3_column_blob(stmt, c));
          row.emplace_back(SqlBlob{std::string(p == nullptr ? "" : p,
                                               p == nullptr ? 0 : sqlite3_column_bytes(stmt, c))});
          break;
        }
        default:
          row.emplace_back(SqlNull{});
      }
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

absl::Status Exec(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err != nullptr ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    return absl::InternalError(absl::StrCat("SQL: ", msg));
  }
  return absl::OkStatus();
}

absl::Status FileError(int err, absl::string_view what, absl::string_view path) {
  std::string msg = absl::StrCat(what, " '", path, "': ", std::strerror(err));
  if (err == EPERM || err == EACCES) return absl::PermissionDeniedError(msg);
  return absl::InternalError(msg);
}

// Creates the database file 0600 if it does not exist (whatever the umask), and sets an existing
// one (made by an older version, or by hand) to 0600, before SQLite opens it. SQLite gives the
// -wal and -shm files it creates the mode of the database file.
absl::Status MakeDatabaseFilePrivate(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return FileError(errno, "cannot open database", path);
  struct stat st;
  absl::Status s;
  if (::fstat(fd, &st) != 0) {
    s = FileError(errno, "cannot stat database", path);
  } else if ((st.st_mode & 07777) != 0600 && ::fchmod(fd, 0600) != 0) {
    s = FileError(errno, "cannot make database private", path);
  }
  ::close(fd);
  return s;
}

// The same for a -wal or -shm file left by an earlier process, if there is one.
absl::Status MakeSideFilePrivate(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    return errno == ENOENT ? absl::OkStatus() : FileError(errno, "cannot stat", path);
  }
  if (!S_ISREG(st.st_mode) || (st.st_mode & 07777) == 0600) return absl::OkStatus();
  if (::chmod(path.c_str(), 0600) != 0) {
    return FileError(errno, "cannot make private", path);
  }
  return absl::OkStatus();
}

// An in-memory or URI database has no file of ours to protect.
bool IsPlainFilePath(const std::string& path) {
  return !path.empty() && path != ":memory:" && path.rfind("file:", 0) != 0;
}

}  // namespace

struct SqliteDatabase::Reader {
  sqlite3* db = nullptr;
  std::unique_ptr<StatementCache> statements = std::make_unique<StatementCache>();
  ~Reader() {
    statements.reset();  // finalized before the connection closes
    sqlite3_close_v2(db);
  }
};

class SqliteDatabase::SqliteTx final : public SqlDatabase::Tx {
 public:
  SqliteTx(sqlite3* db, StatementCache* statements) : db_(db), statements_(statements) {}
  absl::Status Execute(absl::string_view sql, const std::vector<SqlValue>& params) override {
    return Run(db_, statements_, sql, params).status();
  }
  absl::StatusOr<std::vector<SqlRow>> Query(absl::string_view sql,
                                            const std::vector<SqlValue>& params) override {
    return Run(db_, statements_, sql, params);
  }
  int64_t changes() const override { return sqlite3_changes64(db_); }

 private:
  sqlite3* db_;
  StatementCache* statements_;
};

absl::StatusOr<std::unique_ptr<SqliteDatabase>> SqliteDatabase::Open(
    const std::string& path, const std::vector<std::string>& migrations) {
  const bool on_disk = IsPlainFilePath(path);
  if (on_disk) {
    absl::Status s = MakeDatabaseFilePrivate(path);
    if (!s.ok()) return s;
  }
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    absl::Status s = SqlError(raw, rc, absl::StrCat("opening database '", path, "'"));
    sqlite3_close(raw);
    return s;
  }
  std::unique_ptr<SqliteDatabase> db(new SqliteDatabase(raw));
  sqlite3_busy_timeout(raw, 5000);  // another process (capifctl) may hold the write lock briefly
  sqlite3_extended_result_codes(raw, 1);
  for (const char* pragma : {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL",
                             "PRAGMA foreign_keys=ON", "PRAGMA secure_delete=ON"}) {
    auto r = Run(raw, nullptr, pragma, {});
    if (!r.ok()) return r.status();
  }
  if (on_disk) {
    // Now the WAL is set up: -wal and -shm exist. New ones already have the database file's mode;
    // ones left by an earlier (crashed, or older) process may not.
    for (const char* suffix : {"-wal", "-shm"}) {
      absl::Status s = MakeSideFilePrivate(path + suffix);
      if (!s.ok()) return s;
    }
  }
  auto version_rows = Run(raw, nullptr, "PRAGMA user_version", {});
  if (!version_rows.ok()) return version_rows.status();
  int version = static_cast<int>(SqlInt((*version_rows)[0][0]));
  if (version > static_cast<int>(migrations.size())) {
    return absl::FailedPreconditionError(
        absl::StrCat("database '", path, "' has schema version ", version,
                     " but this program knows only up to ", migrations.size()));
  }
  if (version < static_cast<int>(migrations.size())) {
    absl::Status s = Exec(raw, "BEGIN IMMEDIATE");
    for (size_t i = version; s.ok() && i < migrations.size(); ++i) {
      s = Exec(raw, migrations[i]);
      if (!s.ok()) s = absl::InternalError(absl::StrCat("migration ", i + 1, ": ", s.message()));
    }
    if (s.ok()) s = Exec(raw, absl::StrCat("PRAGMA user_version = ", migrations.size()));
    if (s.ok()) s = Exec(raw, "COMMIT");
    if (!s.ok()) {
      Exec(raw, "ROLLBACK").IgnoreError();
      return s;
    }
  }
  db->schema_version_ = static_cast<int>(migrations.size());
  if (on_disk) {
    for (int i = 0; i < kReaders; ++i) {
      auto reader = std::make_unique<Reader>();
      rc = sqlite3_open_v2(path.c_str(), &reader->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_FULLMUTEX,
                           nullptr);
      if (rc != SQLITE_OK) {
        return SqlError(reader->db, rc, absl::StrCat("opening database '", path, "' to read"));
      }
      sqlite3_busy_timeout(reader->db, 5000);
      sqlite3_extended_result_codes(reader->db, 1);
      db->readers_.push_back(std::move(reader));
    }
    absl::MutexLock lock(&db->readers_mu_);
    for (auto& r : db->readers_) db->idle_readers_.push_back(r.get());
  }
  return db;
}

// A reader taken for one call, given back at the end of it.
class SqliteDatabase::BorrowedReader {
 public:
  explicit BorrowedReader(SqliteDatabase* db) : db_(db), reader_(db->TakeReader()) {}
  ~BorrowedReader() {
    if (reader_ != nullptr) db_->GiveBack(reader_);
  }
  Reader* get() const { return reader_; }

 private:
  SqliteDatabase* db_;
  Reader* reader_;
};

SqliteDatabase::SqliteDatabase(sqlite3* db)
    : db_(db), statements_(std::make_unique<StatementCache>()) {}

SqliteDatabase::~SqliteDatabase() {
  readers_.clear();
  absl::MutexLock lock(&mu_);
  statements_.reset();  // finalized before the connection closes
  sqlite3_close_v2(db_);
}

SqliteDatabase::Reader* SqliteDatabase::TakeReader() {
  if (readers_.empty()) return nullptr;
  absl::MutexLock lock(&readers_mu_);
  readers_mu_.Await(absl::Condition(
      +[](std::vector<Reader*>* idle) { return !idle->empty(); }, &idle_readers_));
  Reader* r = idle_readers_.back();
  idle_readers_.pop_back();
  return r;
}

void SqliteDatabase::GiveBack(Reader* reader) {
  absl::MutexLock lock(&readers_mu_);
  idle_readers_.push_back(reader);
}

absl::Status SqliteDatabase::Execute(absl::string_view sql, const std::vector<SqlValue>& params) {
  absl::MutexLock lock(&mu_);
  return Run(db_, statements_.get(), sql, params).status();
}

absl::StatusOr<std::vector<SqlRow>> SqliteDatabase::Query(absl::string_view sql,
                                                          const std::vector<SqlValue>& params) {
  BorrowedReader reader(this);
  if (reader.get() != nullptr) {
    return Run(reader.get()->db, reader.get()->statements.get(), sql, params);
  }
  absl::MutexLock lock(&mu_);
  return Run(db_, statements_.get(), sql, params);
}

namespace {

// `begin`, then `body`, then COMMIT on one connection (the caller holds it); ROLLBACK on error.
// `tx` runs on `db` with `statements`.
absl::Status InTransaction(sqlite3* db, StatementCache* statements, absl::string_view begin,
                           const std::function<absl::Status(SqlDatabase::Tx&)>& body,
                           SqlDatabase::Tx& tx) {
  absl::Status s = Run(db, statements, begin, {}).status();
  if (!s.ok()) return s;
  s = body(tx);
  if (s.ok()) s = Run(db, statements, "COMMIT", {}).status();
  if (!s.ok()) Exec(db, "ROLLBACK").IgnoreError();
  return s;
}

}  // namespace

absl::Status SqliteDatabase::ReadTransaction(const std::function<absl::Status(Tx&)>& body) {
  BorrowedReader reader(this);
  if (reader.get() == nullptr) {
    absl::MutexLock lock(&mu_);
    SqliteTx tx(db_, statements_.get());
    return InTransaction(db_, statements_.get(), "BEGIN", body, tx);
  }
  Reader* r = reader.get();
  SqliteTx tx(r->db, r->statements.get());
  return InTransaction(r->db, r->statements.get(), "BEGIN", body, tx);
}

absl::Status SqliteDatabase::Transaction(const std::function<absl::Status(Tx&)>& body) {
  absl::MutexLock lock(&mu_);
  SqliteTx tx(db_, statements_.get());
  return InTransaction(db_, statements_.get(), "BEGIN IMMEDIATE", body, tx);
}

}  // namespace capif
