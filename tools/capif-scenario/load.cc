#include "tools/capif-scenario/load.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"

namespace capif {

namespace {

// User plus system CPU of a process so far, in seconds (0 if it cannot be read).
double CpuSeconds(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t end = stat.rfind(')');  // the command name may contain spaces
  if (end == std::string::npos) return 0;
  std::istringstream fields(stat.substr(end + 2));
  std::string f;
  double utime = 0, stime = 0;
  for (int i = 3; fields >> f; ++i) {  // field 3 is the state
    if (i == 14) utime = std::stod(f);
    if (i == 15) {
      stime = std::stod(f);
      break;
    }
  }
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t i = static_cast<size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(i, sorted.size() - 1)];
}

// Resident set size of a process now, in MB (0 if it cannot be read).
double RssMegabytes(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, "VmRSS:")) {
      std::istringstream fields(line.substr(6));
      double kb = 0;
      fields >> kb;
      return kb / 1024;
    }
  }
  return 0;
}

}  // namespace

struct Attackers::Conn {
  int fd = -1;
  SSL_CTX* ctx = nullptr;
  SSL* ssl = nullptr;  // slowloris only
  bool slow = false;
  std::atomic<bool> cut{false};  // closed by the server (set by the trickler, read by Stop)
  absl::Duration lived;          // written before `cut`
  size_t sent = 0;
  ~Conn() {
    if (ssl != nullptr) SSL_free(ssl);
    if (ctx != nullptr) SSL_CTX_free(ctx);
    if (fd >= 0) close(fd);
  }
};

Attackers::Attackers(int port, int idle, int slowloris) {
  // Writing to a connection the server cut must be an error here, not the end of the process.
  signal(SIGPIPE, SIG_IGN);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  for (int i = 0; i < idle + slowloris; ++i) {
    auto c = std::make_unique<Conn>();
    c->slow = i >= idle;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0 || connect(c->fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      c->cut = true;  // refused at once (e.g. beyond max_connections)
      conns_.push_back(std::move(c));
      continue;
    }
    if (c->slow) {
      timeval tv{5, 0};
      setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      c->ctx = SSL_CTX_new(TLS_client_method());
      SSL_CTX_set_verify(c->ctx, SSL_VERIFY_NONE, nullptr);
      c->ssl = SSL_new(c->ctx);
      SSL_set_fd(c->ssl, c->fd);
      if (SSL_connect(c->ssl) != 1) c->cut = true;
      ERR_clear_error();
      fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);  // Trickle never blocks
    }
    conns_.push_back(std::move(c));
  }
  started_ = absl::Now();
  trickler_ = std::thread([this] { Trickle(); });
}

Attackers::~Attackers() { Stop(absl::ZeroDuration()); }

// Once a second: one more header byte on each slowloris connection, and a check of every
// connection for the server having closed it.
void Attackers::Trickle() {
  static const char kHeader[] = "GET /api-invoker-management/v1/onboardedInvokers HTTP/1.1\r\nX-Slow: ";
  while (!stopping_) {
    absl::Time now = absl::Now();
    for (auto& c : conns_) {
      if (c->cut) continue;
      bool closed = false;
      if (c->slow) {
        char byte = c->sent < sizeof(kHeader) - 1 ? kHeader[c->sent] : 'a';
        int w = SSL_write(c->ssl, &byte, 1);
        if (w != 1) {
          int e = SSL_get_error(c->ssl, w);
          closed = e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE;
        }
        ++c->sent;
        // Session tickets are consumed here; an answer (e.g. 408), EOF or an error ends it.
        char buf[512];
        int r = closed ? 0 : SSL_read(c->ssl, buf, sizeof buf);
        if (!closed && (r > 0 || SSL_get_error(c->ssl, r) != SSL_ERROR_WANT_READ)) closed = true;
        ERR_clear_error();
      } else {
        pollfd p{c->fd, POLLIN, 0};
        char buf[512];
        closed = poll(&p, 1, 0) == 1 && recv(c->fd, buf, sizeof buf, MSG_DONTWAIT) <= 0;
      }
      if (closed) {
        c->lived = now - started_;
        c->cut = true;
      }
    }
    absl::SleepFor(absl::Seconds(1));  // a load tool: real time is the point
  }
}

std::string Attackers::Stop(absl::Duration wait) {
  if (stopping_) return "";  // stopped already: result_ stands
  absl::Time deadline = absl::Now() + wait;
  auto all_cut = [&] {
    for (auto& c : conns_) {
      if (!c->cut) return false;
    }
    return true;
  };
  while (!all_cut() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(200));
  stopping_ = true;
  if (trickler_.joinable()) trickler_.join();
  int idle = 0, slow = 0, idle_cut = 0, slow_cut = 0;
  absl::Duration idle_max, slow_max;
  for (auto& c : conns_) {
    (c->slow ? slow : idle)++;
    if (!c->cut) continue;
    (c->slow ? slow_cut : idle_cut)++;
    absl::Duration& longest = c->slow ? slow_max : idle_max;
    longest = std::max(longest, c->lived);
  }
  result_ = {{"idle", idle},
             {"idle_cut", idle_cut},
             {"idle_longest_s", absl::ToDoubleSeconds(idle_max)},
             {"slowloris", slow},
             {"slowloris_cut", slow_cut},
             {"slowloris_longest_s", absl::ToDoubleSeconds(slow_max)}};
  conns_.clear();
  return absl::StrFormat(
      "attackers cut off: %d of %d idle (within %.0f s), %d of %d slowloris (within %.0f s)",
      idle_cut, idle, absl::ToDoubleSeconds(idle_max), slow_cut, slow,
      absl::ToDoubleSeconds(slow_max));
}

LoadResult RunLoad(int in_flight, int requests,
                   const std::function<absl::Status(int worker, int request)>& one,
                   const std::vector<std::pair<std::string, pid_t>>& watched) {
  in_flight = std::max(1, in_flight);
  std::vector<double> cpu_before;
  for (const auto& [name, pid] : watched) cpu_before.push_back(CpuSeconds(pid));
  std::atomic<int> next{0};
  std::vector<std::vector<double>> latencies(in_flight);
  std::mutex mu;
  LoadResult result;
  absl::Time start = absl::Now();
  std::vector<std::thread> threads;
  for (int w = 0; w < in_flight; ++w) {
    threads.emplace_back([&, w] {
      for (int i; (i = next.fetch_add(1)) < requests;) {
        absl::Time t0 = absl::Now();
        absl::Status s = one(w, i);
        latencies[w].push_back(absl::ToDoubleMilliseconds(absl::Now() - t0));
        if (!s.ok()) {
          std::lock_guard<std::mutex> lock(mu);
          if (result.errors++ == 0) result.first_error = s.ToString().substr(0, 200);
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  result.elapsed = absl::Now() - start;
  std::vector<double> all;
  for (const auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  result.requests = static_cast<int>(all.size());
  double seconds = std::max(1e-9, absl::ToDoubleSeconds(result.elapsed));
  result.per_second = static_cast<double>(result.requests) / seconds;
  result.p50_ms = Percentile(all, 0.50);
  result.p90_ms = Percentile(all, 0.90);
  result.p99_ms = Percentile(all, 0.99);
  result.max_ms = all.empty() ? 0 : all.back();
  for (size_t i = 0; i < watched.size(); ++i) {
    double used = CpuSeconds(watched[i].second) - cpu_before[i];
    result.cpu_ms_per_request.emplace_back(
        watched[i].first, result.requests > 0 ? used * 1000 / result.requests : 0);
    result.rss_mb.emplace_back(watched[i].first, RssMegabytes(watched[i].second));
  }
  return result;
}

std::string LoadResult::Summary() const {
  std::vector<std::string> cpu;
  for (const auto& [name, ms] : cpu_ms_per_request) {
    cpu.push_back(absl::StrFormat("%s %.2f ms", name, ms));
  }
  std::vector<std::string> rss;
  for (const auto& [name, mb] : rss_mb) rss.push_back(absl::StrFormat("%s %.0f MB", name, mb));
  return absl::StrFormat(
      "%d requests, %d errors, %.0f/s, p50 %.1f ms, p90 %.1f ms, p99 %.1f ms; CPU per request: "
      "%s; RSS after: %s%s",
      requests, errors, per_second, p50_ms, p90_ms, p99_ms, absl::StrJoin(cpu, ", "),
      absl::StrJoin(rss, ", "), errors > 0 ? "; first error: " + first_error : "");
}

nlohmann::json LoadResult::ToJson() const {
  nlohmann::json cpu = nlohmann::json::object();
  for (const auto& [name, ms] : cpu_ms_per_request) cpu[name] = ms;
  nlohmann::json rss = nlohmann::json::object();
  for (const auto& [name, mb] : rss_mb) rss[name] = mb;
  return {{"rss_mb", rss},{"requests", requests}, {"errors", errors},       {"per_second", per_second},
          {"p50_ms", p50_ms},     {"p90_ms", p90_ms},       {"p99_ms", p99_ms},
          {"max_ms", max_ms},     {"cpu_ms_per_request", cpu}, {"first_error", first_error}};
}

}  // namespace capif
