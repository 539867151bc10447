#include "common/postgres_database.h"

#include <postgresql/libpq-fe.h>

#include <cstdlib>
#include <cstring>
#include <random>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status_macros.h"

namespace capif {
namespace {

// Column type OIDs (PostgreSQL's pg_type.dat; stable across versions).
constexpr Oid kBoolOid = 16;
constexpr Oid kByteaOid = 17;
constexpr Oid kInt8Oid = 20;
constexpr Oid kInt2Oid = 21;
constexpr Oid kInt4Oid = 23;
constexpr Oid kNumericOid = 1700;

// Taken from the migrations' advisory lock space: "capif" in ASCII.
constexpr int64_t kMigrationLock = 0x6361706966;

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;

bool IsRetryable(const std::string& sqlstate) { return sqlstate == "40001" || sqlstate == "40P01"; }

absl::Status ErrorOf(const PGresult* res, PGconn* conn, absl::string_view what,
                     std::string* sqlstate_out) {
  const char* state = res != nullptr ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  std::string sqlstate = state != nullptr ? state : "";
  if (sqlstate_out != nullptr) *sqlstate_out = sqlstate;
  if (PQstatus(conn) != CONNECTION_OK) {
    // libpq's words (server address, socket path) are for the log (PostgresDatabase::Take
    // logs them when reconnecting fails), not for whoever receives this status.
    return absl::UnavailableError(absl::StrCat(what, ": the connection to the database was lost"));
  }
  const char* primary = res != nullptr ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  std::string msg = absl::StrCat(what, ": ");
  if (sqlstate.rfind("22", 0) == 0 || primary == nullptr) {
    absl::StrAppend(&msg, "PostgreSQL error");  // data errors may quote the value
  } else {
    absl::StrAppend(&msg, primary);
  }
  if (!sqlstate.empty()) absl::StrAppend(&msg, " (SQLSTATE ", sqlstate, ")");
  std::string cls = sqlstate.substr(0, 2);
  if (cls == "23") return absl::AlreadyExistsError(msg);
  if (IsRetryable(sqlstate) || cls == "08" || cls == "53" || cls == "57" || sqlstate == "55P03") {
    return absl::UnavailableError(msg);  // 57014: statement_timeout; 57P0x: shutting down
  }
  return absl::InternalError(msg);
}

// The text form of a parameter; false for SqlNull. Bytea as hex ("\x0a1b...").
absl::StatusOr<bool> TextOf(const SqlValue& v, std::string* out) {
  if (std::holds_alternative<SqlNull>(v)) return false;
  if (const int64_t* n = std::get_if<int64_t>(&v)) {
    *out = absl::StrCat(*n);
  } else if (const std::string* s = std::get_if<std::string>(&v)) {
    if (s->find('\0') != std::string::npos) {
      return absl::InvalidArgumentError("text with a NUL byte cannot be stored");
    }
    *out = *s;
  } else {
    *out = absl::StrCat("\\x", absl::BytesToHexString(std::get<SqlBlob>(v).bytes));
  }
  return true;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

absl::StatusOr<SqlValue> ValueOf(const PGresult* res, int row, int col) {
  if (PQgetisnull(res, row, col)) return SqlValue(SqlNull{});
  const char* text = PQgetvalue(res, row, col);
  size_t len = static_cast<size_t>(PQgetlength(res, row, col));
  switch (PQftype(res, col)) {
    case kBoolOid:
      return SqlValue(int64_t{text[0] == 't' ? 1 : 0});
    case kInt2Oid:
    case kInt4Oid:
    case kInt8Oid:
    case kNumericOid: {
      int64_t n = 0;
      if (!absl::SimpleAtoi(absl::string_view(text, len), &n)) {
        return absl::InternalError("a numeric column is not a 64-bit integer");
      }
      return SqlValue(n);
    }
    case kByteaOid: {
      absl::string_view hex(text, len);
      if (hex.size() < 2 || hex.substr(0, 2) != "\\x" || (hex.size() % 2) != 0) {
        return absl::InternalError("bytea not in hex output form (bytea_output must be hex)");
      }
      std::string bytes;
      bytes.reserve((hex.size() - 2) / 2);
      for (size_t i = 2; i < hex.size(); i += 2) {
        int hi = HexDigit(hex[i]);
        int lo = HexDigit(hex[i + 1]);
        if (hi < 0 || lo < 0) return absl::InternalError("bytea hex output is malformed");
        bytes.push_back(static_cast<char>(hi * 16 + lo));
      }
      return SqlValue(SqlBlob{std::move(bytes)});
    }
    default:
      return SqlValue(std::string(text, len));
  }
}

}  // namespace

struct PostgresDatabase::Connection {
  PGconn* conn = nullptr;
  // Prepared statements of this connection: SQL text as given -> name and parameter count.
  struct Prepared {
    std::string name;
    int params = 0;
  };
  absl::flat_hash_map<std::string, Prepared> prepared;
  // SQLSTATE of the last failed statement ("" if none since the last reset).
  std::string last_sqlstate;
  int64_t last_changes = 0;
  ~Connection() {
    if (conn != nullptr) PQfinish(conn);
  }

  // Runs a statement without parameters or preparation (BEGIN, COMMIT, SET, migrations).
  absl::Status Simple(const std::string& sql) {
    ResultPtr res(PQexec(conn, sql.c_str()));
    ExecStatusType st = res ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return absl::OkStatus();
    return ErrorOf(res.get(), conn, "SQL", &last_sqlstate);
  }

  absl::StatusOr<std::vector<SqlRow>> Run(absl::string_view sql,
                                          const std::vector<SqlValue>& params) {
    static constexpr size_t kMaxPrepared = 512;  // statements are program constants; a bound
    auto it = prepared.find(sql);
    std::string name;
    int expected = 0;
    if (it != prepared.end()) {
      name = it->second.name;  // counted when it was prepared: no rewrite per call
      expected = it->second.params;
    } else {
      std::string numbered = NumberedPlaceholders(sql, &expected);
      if (prepared.size() >= kMaxPrepared) {
        for (const auto& [text, p] : prepared) {
          Simple(absl::StrCat("DEALLOCATE ", p.name)).IgnoreError();
        }
        prepared.clear();
      }
      name = absl::StrCat("s", prepared.size() + 1);
      ResultPtr res(PQprepare(conn, name.c_str(), numbered.c_str(), 0, nullptr));
      if (!res || PQresultStatus(res.get()) != PGRES_COMMAND_OK) {
        return ErrorOf(res.get(), conn, "prepare", &last_sqlstate);
      }
      prepared.emplace(std::string(sql), Prepared{name, expected});
    }
    if (expected != static_cast<int>(params.size())) {
      return absl::InternalError("wrong number of SQL parameters");
    }
    std::vector<std::string> texts(params.size());
    std::vector<const char*> values(params.size(), nullptr);
    for (size_t i = 0; i < params.size(); ++i) {
      ASSIGN_OR_RETURN(bool present, TextOf(params[i], &texts[i]));
      if (present) values[i] = texts[i].c_str();
    }
    ResultPtr res(PQexecPrepared(conn, name.c_str(), static_cast<int>(params.size()), values.data(),
                                 nullptr, nullptr, /*resultFormat=*/0));
    // Parameter texts may be secrets.
    for (std::string& t : texts) {
      if (!t.empty()) std::memset(&t[0], 0, t.size());
    }
    ExecStatusType st = res ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
      return ErrorOf(res.get(), conn, "SQL", &last_sqlstate);
    }
    const char* changed = PQcmdTuples(res.get());
    last_changes = (changed != nullptr && *changed != '\0') ? std::atoll(changed) : 0;
    std::vector<SqlRow> rows;
    int n = PQntuples(res.get());
    int cols = PQnfields(res.get());
    rows.reserve(n);
    for (int r = 0; r < n; ++r) {
      SqlRow row;
      row.reserve(cols);
      for (int c = 0; c < cols; ++c) {
        ASSIGN_OR_RETURN(SqlValue v, ValueOf(res.get(), r, c));
        row.push_back(std::move(v));
      }
      rows.push_back(std::move(row));
    }
    return rows;
  }

  // Leaves an aborted or open transaction (after an error in a body).
  void Rollback() {
    if (PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) != PQTRANS_IDLE) {
      Simple("ROLLBACK").IgnoreError();
    }
  }
};

class PostgresDatabase::PgTx final : public SqlDatabase::Tx {
 public:
  explicit PgTx(Connection* c) : c_(c) {}
  absl::Status Execute(absl::string_view sql, const std::vector<SqlValue>& params) override {
    return c_->Run(sql, params).status();
  }
  absl::StatusOr<std::vector<SqlRow>> Query(absl::string_view sql,
                                            const std::vector<SqlValue>& params) override {
    return c_->Run(sql, params);
  }
  int64_t changes() const override { return c_->last_changes; }

 private:
  Connection* c_;
};

// A connection taken for one attempt, given back at the end of it.
class PostgresDatabase::Borrowed {
 public:
  explicit Borrowed(PostgresDatabase* db) : db_(db), taken_(db->Take()) {}
  ~Borrowed() {
    if (taken_.ok()) {
      (*taken_)->Rollback();
      db_->GiveBack(*taken_);
    }
  }
  const absl::StatusOr<Connection*>& get() const { return taken_; }

 private:
  PostgresDatabase* db_;
  absl::StatusOr<Connection*> taken_;
};

std::string PostgresDatabase::NumberedPlaceholders(absl::string_view sql, int* count) {
  std::string out;
  out.reserve(sql.size() + 16);
  int n = 0;
  char quote = 0;  // ' or " while inside a literal or quoted identifier
  for (char ch : sql) {
    if (quote != 0) {
      if (ch == quote) quote = 0;  // a doubled quote closes and reopens: same result
      out.push_back(ch);
    } else if (ch == '\'' || ch == '"') {
      quote = ch;
      out.push_back(ch);
    } else if (ch == '?') {
      absl::StrAppend(&out, "$", ++n);
    } else {
      out.push_back(ch);
    }
  }
  *count = n;
  return out;
}

namespace {

absl::Status Connect(const PostgresOptions& options, PostgresDatabase::Connection& c) {
  if (c.conn != nullptr) PQfinish(c.conn);
  c.prepared.clear();
  c.conn = PQconnectdb(options.dsn.c_str());
  if (c.conn == nullptr) return absl::ResourceExhaustedError("libpq: out of memory");
  if (PQstatus(c.conn) != CONNECTION_OK) {
    std::string m = PQerrorMessage(c.conn);
    while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
    return absl::UnavailableError(absl::StrCat("cannot connect to PostgreSQL: ", m));
  }
  if (PQclientEncoding(c.conn) != 6 /* PG_UTF8 */ && PQsetClientEncoding(c.conn, "UTF8") != 0) {
    return absl::FailedPreconditionError("PostgreSQL: cannot use UTF8 as the client encoding");
  }
  return c.Simple(
      absl::StrCat("SET default_transaction_isolation = 'serializable'; SET bytea_output = 'hex'; "
                   "SET statement_timeout = ",
                   absl::ToInt64Milliseconds(options.statement_timeout)));
}

}  // namespace

absl::StatusOr<std::unique_ptr<PostgresDatabase>> PostgresDatabase::Open(
    const PostgresOptions& options, const std::vector<std::string>& migrations) {
  if (options.dsn.empty()) return absl::InvalidArgumentError("PostgreSQL: no dsn");
  if (options.pool_size < 1 || options.pool_size > 256) {
    return absl::InvalidArgumentError("PostgreSQL: pool_size must be in 1..256");
  }
  std::unique_ptr<PostgresDatabase> db(new PostgresDatabase(options));
  for (int i = 0; i < options.pool_size; ++i) {
    auto c = std::make_unique<Connection>();
    RETURN_IF_ERROR(Connect(options, *c));
    db->connections_.push_back(std::move(c));
  }
  Connection& c = *db->connections_[0];
  // READ COMMITTED: each statement after the lock sees what a replica that migrated first
  // committed (a serializable snapshot would be taken before the lock is granted).
  absl::Status s = c.Simple("BEGIN ISOLATION LEVEL READ COMMITTED");
  if (s.ok()) s = c.Simple(absl::StrCat("SELECT pg_advisory_xact_lock(", kMigrationLock, ")"));
  if (s.ok()) {
    s = c.Simple(
        "CREATE TABLE IF NOT EXISTS capif_schema_version (version BIGINT NOT NULL);"
        "INSERT INTO capif_schema_version SELECT 0 "
        "WHERE NOT EXISTS (SELECT 1 FROM capif_schema_version)");
  }
  int version = 0;
  if (s.ok()) {
    auto rows = c.Run("SELECT version FROM capif_schema_version", {});
    if (!rows.ok()) {
      s = rows.status();
    } else {
      version = static_cast<int>(SqlInt((*rows)[0][0]));
    }
  }
  if (s.ok() && version > static_cast<int>(migrations.size())) {
    s = absl::FailedPreconditionError(absl::StrCat("the PostgreSQL database has schema version ",
                                                   version, " but this program knows only up to ",
                                                   migrations.size()));
  }
  for (size_t i = version; s.ok() && i < migrations.size(); ++i) {
    s = c.Simple(migrations[i]);
    if (!s.ok()) s = absl::InternalError(absl::StrCat("migration ", i + 1, ": ", s.message()));
  }
  if (s.ok() && version < static_cast<int>(migrations.size())) {
    s = c.Simple(absl::StrCat("UPDATE capif_schema_version SET version = ", migrations.size()));
  }
  if (s.ok()) s = c.Simple("COMMIT");
  if (!s.ok()) {
    c.Rollback();
    return s;
  }
  db->schema_version_ = static_cast<int>(migrations.size());
  absl::MutexLock lock(&db->mu_);
  for (auto& conn : db->connections_) db->idle_.push_back(conn.get());
  return db;
}

PostgresDatabase::PostgresDatabase(PostgresOptions options) : options_(std::move(options)) {}
PostgresDatabase::~PostgresDatabase() = default;

absl::StatusOr<PostgresDatabase::Connection*> PostgresDatabase::Take() {
  absl::StatusOr<Connection*> c = TakeConnected();
  // Logged once when the database becomes unreachable and once when it is back, not per call.
  if (!c.ok()) {
    if (!unreachable_.exchange(true)) {
      LogWarning("postgres", absl::StrCat(c.status().message(), "; retrying on each request"));
    }
    return absl::UnavailableError("the database is unreachable");
  }
  if (unreachable_.exchange(false)) LogInfo("postgres", "the database is reachable again");
  return c;
}

absl::StatusOr<PostgresDatabase::Connection*> PostgresDatabase::TakeConnected() {
  Connection* c = nullptr;
  {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](std::vector<Connection*>* idle) { return !idle->empty(); }, &idle_));
    c = idle_.back();
    idle_.pop_back();
  }
  c->last_sqlstate.clear();
  if (PQstatus(c->conn) != CONNECTION_OK) {
    absl::Status s = Connect(options_, *c);
    if (!s.ok()) {
      GiveBack(c);
      return s;
    }
  }
  return c;
}

void PostgresDatabase::GiveBack(Connection* c) {
  absl::MutexLock lock(&mu_);
  idle_.push_back(c);
}

absl::Status PostgresDatabase::WithRetries(
    const std::function<absl::Status(Connection&)>& attempt) {
  thread_local std::minstd_rand jitter(std::random_device{}());
  absl::Status s;
  const absl::Time give_up = absl::Now() + options_.retry_for;
  for (int i = 0;; ++i) {
    std::string sqlstate;
    {
      Borrowed c(this);
      if (!c.get().ok()) return c.get().status();
      s = attempt(**c.get());
      sqlstate = (*c.get())->last_sqlstate;
    }
    if (s.ok() || !IsRetryable(sqlstate) || absl::Now() >= give_up) return s;
    // Another transaction on the same rows is committing: back off (exponentially, with full
    // jitter, so that contenders spread out instead of colliding again).
    int max_us = 100 << std::min(i, 9);  // up to ~51 ms
    absl::SleepFor(absl::Microseconds(std::uniform_int_distribution<int>(0, max_us)(jitter)));
  }
}

absl::Status PostgresDatabase::Execute(absl::string_view sql, const std::vector<SqlValue>& params) {
  return WithRetries([&](Connection& c) { return c.Run(sql, params).status(); });
}

absl::StatusOr<std::vector<SqlRow>> PostgresDatabase::Query(absl::string_view sql,
                                                            const std::vector<SqlValue>& params) {
  std::vector<SqlRow> rows;
  RETURN_IF_ERROR(WithRetries([&](Connection& c) -> absl::Status {
    ASSIGN_OR_RETURN(rows, c.Run(sql, params));
    return absl::OkStatus();
  }));
  return rows;
}

absl::Status PostgresDatabase::InTransaction(const std::string& begin,
                                             const std::function<absl::Status(Tx&)>& body) {
  return WithRetries([&](Connection& c) -> absl::Status {
    RETURN_IF_ERROR(c.Simple(begin));
    PgTx tx(&c);
    absl::Status s = body(tx);
    if (s.ok()) s = c.Simple("COMMIT");
    return s;  // on error, Borrowed rolls back
  });
}

absl::Status PostgresDatabase::Transaction(const std::function<absl::Status(Tx&)>& body) {
  return InTransaction("BEGIN", body);  // SERIALIZABLE: the connection's default
}

absl::Status PostgresDatabase::ReadTransaction(const std::function<absl::Status(Tx&)>& body) {
  return InTransaction("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", body);
}

}  // namespace capif
