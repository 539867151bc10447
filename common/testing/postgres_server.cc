#include "common/testing/postgres_server.h"

#include <postgresql/libpq-fe.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <system_error>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"

namespace capif {
namespace {

constexpr char kSetpriv[] = "/usr/bin/setpriv";
constexpr int kPort = 5432;  // names the socket file only: there is no TCP listener

absl::StatusOr<std::string> BinDir() {
  if (const char* env = std::getenv("CAPIF_PG_BINDIR"); env != nullptr && *env != '\0') {
    return std::string(env);
  }
  std::error_code ec;
  std::string best;
  int best_version = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/usr/lib/postgresql", ec)) {
    int v = std::atoi(entry.path().filename().c_str());
    std::string bin = entry.path().string() + "/bin";
    if (v > best_version && ::access((bin + "/postgres").c_str(), X_OK) == 0 &&
        ::access((bin + "/initdb").c_str(), X_OK) == 0) {
      best_version = v;
      best = bin;
    }
  }
  if (best.empty()) {
    return absl::NotFoundError(
        "no PostgreSQL server (initdb, postgres) in /usr/lib/postgresql/*/bin: install Debian's "
        "postgresql-15 (tools/dev deps does), or set CAPIF_PG_BINDIR");
  }
  return best;
}

// The account the server runs as, when we are root: uid and gid of `postgres`.
struct Account {
  bool drop = false;
  uid_t uid = 0;
  gid_t gid = 0;
};

absl::StatusOr<Account> ServerAccount() {
  Account a;
  if (::geteuid() != 0) return a;
  struct passwd* pw = ::getpwnam("postgres");
  if (pw == nullptr) {
    return absl::FailedPreconditionError(
        "running as root, and PostgreSQL refuses to: no `postgres` account to run it as "
        "(Debian's postgresql-common creates it)");
  }
  a.drop = true;
  a.uid = pw->pw_uid;
  a.gid = pw->pw_gid;
  return a;
}

// `argv` run as `account` (setpriv when dropping root); the server also dies with us.
std::vector<std::string> As(const Account& account, std::vector<std::string> argv,
                            bool die_with_parent) {
  if (!account.drop) return argv;
  std::vector<std::string> out = {kSetpriv, absl::StrCat("--reuid=", account.uid),
                                  absl::StrCat("--regid=", account.gid), "--clear-groups"};
  if (die_with_parent) out.push_back("--pdeathsig=KILL");
  out.push_back("--");
  for (std::string& a : argv) out.push_back(std::move(a));
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<PostgresServer>> PostgresServer::Start() {
  ASSIGN_OR_RETURN(std::string bin, BinDir());
  ASSIGN_OR_RETURN(Account account, ServerAccount());
  std::unique_ptr<PostgresServer> pg(new PostgresServer());
  char templ[] = "/tmp/capif-pg-XXXXXX";
  if (::mkdtemp(templ) == nullptr) return absl::InternalError("mkdtemp in /tmp failed");
  pg->dir_ = templ;
  pg->socket_dir_ = pg->dir_;
  if (account.drop && ::chown(templ, account.uid, account.gid) != 0) {
    return absl::InternalError(absl::StrCat("cannot give ", templ, " to the postgres account"));
  }
  const std::string data = pg->dir_ + "/data";
  ASSIGN_OR_RETURN(RunResult init, RunToCompletion(As(account,
                                                      {bin + "/initdb", "-D", data, "-A", "trust",
                                                       "-U", "capif", "-E", "UTF8", "--locale=C",
                                                       "--no-sync", "--no-instructions"},
                                                      /*die_with_parent=*/false),
                                                   absl::Seconds(120)));
  if (init.exit_code != 0) {
    return absl::InternalError(
        absl::StrCat("initdb failed (exit ", init.exit_code, "): ", init.err.substr(0, 2000)));
  }
  std::vector<std::string> server = {
      bin + "/postgres", "-D", data, "-k", pg->socket_dir_, "-p", absl::StrCat(kPort), "-c",
      "listen_addresses=", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c",
      "full_page_writes=off", "-c", "max_connections=200",
      // Server messages go to files under data/log, so that nobody has to drain a pipe.
      "-c", "logging_collector=on", "-c", "log_directory=log"};
  ASSIGN_OR_RETURN(pg->server_, Subprocess::Start(As(account, server, /*die_with_parent=*/true)));
  const std::string ping = pg->Dsn("postgres");
  absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (PQping(ping.c_str()) != PQPING_OK) {
    // Waits for the server to exit or 20 ms, whichever comes first.
    auto exited = pg->server_->Wait(absl::Milliseconds(20));
    if (exited.ok()) {
      return absl::InternalError(absl::StrCat(
          "postgres exited (", *exited,
          ") before accepting connections: ", pg->server_->stderr_text().substr(0, 2000)));
    }
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError("postgres did not accept connections within 60 s");
    }
  }
  return pg;
}

absl::StatusOr<PostgresServer*> PostgresServer::Shared() {
  static std::unique_ptr<PostgresServer>* const server = new std::unique_ptr<PostgresServer>();
  static absl::Status* const failed = new absl::Status();
  if (*server == nullptr && failed->ok()) {
    auto started = Start();
    if (!started.ok()) {
      *failed = absl::Status(started.status().code(),
                             absl::StrCat("this test needs a PostgreSQL server: ",
                                          started.status().message()));
    } else {
      *server = *std::move(started);
      std::atexit([] { server->reset(); });  // the static itself is never destroyed
    }
  }
  if (!failed->ok()) return *failed;
  return server->get();
}

PostgresServer::~PostgresServer() {
  if (server_ != nullptr) {
    server_->Signal(SIGQUIT);  // immediate shutdown: nothing here is kept
    if (!server_->Wait(absl::Seconds(30)).ok()) server_.reset();  // SIGKILL
    server_.reset();
  }
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

std::string PostgresServer::Dsn(const std::string& dbname) const {
  return absl::StrCat("host=", socket_dir_, " port=", kPort, " user=capif dbname=", dbname,
                      " connect_timeout=10");
}

absl::Status PostgresServer::Run(const std::string& dbname, const std::string& sql) {
  PGconn* conn = PQconnectdb(Dsn(dbname).c_str());
  absl::Status s;
  if (PQstatus(conn) != CONNECTION_OK) {
    s = absl::UnavailableError(absl::StrCat("cannot connect: ", PQerrorMessage(conn)));
  } else {
    PGresult* res = PQexec(conn, sql.c_str());
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
      s = absl::InternalError(absl::StrCat("SQL failed: ", PQresultErrorMessage(res)));
    }
    PQclear(res);
  }
  PQfinish(conn);
  return s;
}

absl::StatusOr<std::string> PostgresServer::CreateDatabase() {
  std::string name = absl::StrCat("db", ++databases_);
  RETURN_IF_ERROR(Run("postgres", absl::StrCat("CREATE DATABASE ", name)));
  return Dsn(name);
}

}  // namespace capif
