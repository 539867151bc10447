#include "tools/capifctl/capifctl_command.h"

#include <unistd.h>

#include <iomanip>
#include <nlohmann/json.hpp>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "ccf/daemon/admin_client.h"
#include "ccf/daemon/ccf_config.h"
#include "ccf/store/sql_stores.h"
#include "common/clock.h"
#include "federation/peer_client.h"

namespace capif {
namespace {

constexpr char kUsage[] =
    "usage:\n"
    "  capifctl peers --config FILE [--timeout-ms N] [--json]\n"
    "  capifctl enroll-invoker --config FILE [--ttl-seconds N]\n"
    "  capifctl enroll-provider --config FILE [--ttl-seconds N]\n"
    "  capifctl rotate-token-key --config FILE\n"
    "  capifctl notices --config FILE [--json]\n"
    "  capifctl drop-grants --config FILE [--invoker ID]\n";

struct PeerReport {
  std::string ccf_id;
  std::string trust_domain;
  std::string relation;
  std::string endpoint;
  bool reachable = false;
  std::string status;  // "reachable", "unreachable", "refused"
  std::string presented_identity;
  double connect_ms = 0;  // first Hello: TCP + TLS handshake + call
  double rtt_ms = 0;      // second Hello on the established channel
  uint64_t bundle_sequence = 0;
  std::string reason;
  // What the running ccfd holds of this peer's trust bundle (from its database), if known.
  std::optional<PeerBundleStatus> held;
};

std::string TimeText(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

// One line on the bundle ccfd holds for a peer and how its last refresh went.
std::string HeldText(const PeerBundleStatus& s) {
  std::string text = s.last_good ? absl::StrCat("held bundle: sequence ", s.last_good->sequence,
                                                ", fetched ", TimeText(s.last_good->fetched_at))
                                 : "held bundle: none yet";
  if (!s.last_error.empty()) {
    absl::StrAppend(&text, "; last refresh FAILED at ", TimeText(s.last_attempt), " (",
                    s.failures, " in a row): ", s.last_error.substr(0, 200));
  }
  return text;
}

// The first line of a gRPC error, without its long debug tail.
std::string ShortReason(const absl::Status& s) {
  std::string msg(s.message());
  size_t nl = msg.find('\n');
  if (nl != std::string::npos) msg = msg.substr(0, nl);
  if (msg.size() > 200) msg = msg.substr(0, 200) + "...";
  return absl::StrCat(absl::StatusCodeToString(s.code()), ": ", msg);
}

PeerReport Greet(const BusIdentity& self, const Peer& peer, absl::Duration timeout) {
  PeerReport r{peer.ccf_id.value(), peer.trust_domain.value(),
               std::string(RelationName(peer.relation)), peer.endpoint};
  std::unique_ptr<PeerClient> client = PeerClient::Create(self, peer, Clock::Real());
  auto hello = client->Hello(timeout);
  r.presented_identity = client->presented_identity();
  if (hello.ok()) {
    r.connect_ms = absl::ToDoubleMilliseconds(hello->round_trip);
    hello = client->Hello(timeout);
  }
  if (hello.ok()) {
    r.reachable = true;
    r.status = "reachable";
    r.rtt_ms = absl::ToDoubleMilliseconds(hello->round_trip);
    r.bundle_sequence = hello->response.bundle_sequence();
    return r;
  }
  // UNAVAILABLE/DEADLINE_EXCEEDED: nobody answered or the handshake failed. Anything else: the
  // peer answered but refused the call.
  absl::StatusCode code = hello.status().code();
  r.status = code == absl::StatusCode::kUnavailable || code == absl::StatusCode::kDeadlineExceeded
                 ? "unreachable"
                 : "refused";
  r.reason = ShortReason(hello.status());
  return r;
}

void PrintTable(const std::string& self, const std::vector<PeerReport>& reports,
                std::ostream& out) {
  out << "peers of " << self << "\n";
  std::string header =
      absl::StrFormat("%-12s %-22s %-8s %-21s %-11s %-44s %9s %9s %6s", "PEER", "TRUST DOMAIN",
                      "RELATION", "ENDPOINT", "STATUS", "IDENTITY PRESENTED", "CONNECT", "RTT",
                      "BUNDLE");
  out << header << "\n";
  for (const PeerReport& r : reports) {
    std::string connect = r.reachable ? absl::StrFormat("%.1f ms", r.connect_ms) : "-";
    std::string rtt = r.reachable ? absl::StrFormat("%.2f ms", r.rtt_ms) : "-";
    std::string seq = r.reachable ? absl::StrCat(r.bundle_sequence) : "-";
    out << absl::StrFormat("%-12s %-22s %-8s %-21s %-11s %-44s %9s %9s %6s", r.ccf_id,
                           r.trust_domain, r.relation, r.endpoint, r.status,
                           r.presented_identity.empty() ? "-" : r.presented_identity, connect,
                           rtt, seq)
        << "\n";
    if (!r.reason.empty()) out << "    " << r.reason << "\n";
    if (r.held) out << "    " << HeldText(*r.held) << "\n";
  }
}

void PrintJson(const std::string& self, const std::vector<PeerReport>& reports,
               std::ostream& out) {
  nlohmann::json peers = nlohmann::json::array();
  for (const PeerReport& r : reports) {
    nlohmann::json p = {{"ccf_id", r.ccf_id},          {"trust_domain", r.trust_domain},
                        {"relation", r.relation},      {"endpoint", r.endpoint},
                        {"status", r.status},          {"reachable", r.reachable},
                        {"presented_identity", r.presented_identity}};
    if (r.reachable) {
      p["connect_ms"] = r.connect_ms;
      p["rtt_ms"] = r.rtt_ms;
      p["bundle_sequence"] = r.bundle_sequence;
    } else {
      p["reason"] = r.reason;
    }
    if (r.held) {
      nlohmann::json h = {{"refresh_ok", r.held->last_error.empty()},
                          {"failures", r.held->failures}};
      if (r.held->last_good) {
        h["sequence"] = r.held->last_good->sequence;
        h["fetched_at"] = TimeText(r.held->last_good->fetched_at);
      }
      if (!r.held->last_error.empty()) {
        h["last_error"] = r.held->last_error;
        h["last_attempt"] = TimeText(r.held->last_attempt);
      }
      p["held_bundle"] = h;
    }
    peers.push_back(p);
  }
  out << nlohmann::json{{"ccf", self}, {"peers", peers}}.dump(2) << "\n";
}

int Peers(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  std::string config_path;
  int timeout_ms = 3000;
  bool json = false;
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--config" && i + 1 < args.size()) {
      config_path = args[++i];
    } else if (args[i] == "--timeout-ms" && i + 1 < args.size()) {
      if (!absl::SimpleAtoi(args[++i], &timeout_ms) || timeout_ms <= 0 || timeout_ms > 600000) {
        err << "capifctl peers: --timeout-ms must be from 1 to 600000\n";
        return 2;
      }
    } else if (args[i] == "--json") {
      json = true;
    } else {
      err << "capifctl peers: unexpected argument '" << args[i] << "'\n" << kUsage;
      return 2;
    }
  }
  if (config_path.empty()) {
    err << "capifctl peers: --config is required\n" << kUsage;
    return 2;
  }
  auto config = LoadCcfConfig(config_path);
  if (!config.ok()) {
    err << "capifctl peers: " << config.status().message() << "\n";
    return 2;
  }
  // One row per endpoint: a peer run as several replicas shows each of them.
  std::vector<Peer> targets;
  for (const Peer& p : config->peers) {
    for (const std::string& endpoint : p.endpoints()) {
      Peer one = p;
      one.endpoint = endpoint;
      one.other_endpoints.clear();
      targets.push_back(std::move(one));
    }
  }
  std::vector<PeerReport> reports(targets.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < targets.size(); ++i) {
    threads.emplace_back([&, i] {
      reports[i] = Greet(config->bus_identity, targets[i], absl::Milliseconds(timeout_ms));
    });
  }
  for (std::thread& t : threads) t.join();
  // What ccfd holds of each peer's bundle, when it has a database (it refreshes them).
  if (config->northbound && (config->storage.postgres ||
                             ::access((config->data_dir + "/ccf.db").c_str(), F_OK) == 0)) {
    StorageConfig storage = config->storage;
    if (storage.postgres) storage.postgres->pool_size = 1;
    auto db = OpenCcfStorage(storage, config->data_dir);
    auto held = db.ok() ? SqlPeerBundleStore(*db).LoadAll() : db.status();
    if (held.ok()) {
      for (PeerReport& r : reports) {
        auto it = held->find(r.ccf_id);
        if (it != held->end()) r.held = it->second;
      }
    } else {
      err << "capifctl peers: held bundles unknown: " << held.status().message() << "\n";
    }
  }
  std::string self = config->bus_identity.identity().ToString();
  if (json) {
    PrintJson(self, reports, out);
  } else {
    PrintTable(self, reports, out);
  }
  for (const PeerReport& r : reports) {
    if (!r.reachable) return 1;
  }
  return 0;
}

// A client of the admin API of the ccfd that runs with the configuration at `config_path`;
// null after printing why (exit code in `*exit_code`: 2 for a bad configuration, 1 when no ccfd
// serves it). Never opens or creates the CCF's database or key-encryption key.
std::unique_ptr<AdminClient> ConnectToCcfd(const std::string& command,
                                           const std::string& config_path, std::ostream& err,
                                           int* exit_code) {
  *exit_code = 2;
  auto config = LoadCcfConfig(config_path);
  if (!config.ok()) {
    err << "capifctl " << command << ": " << config.status().message() << "\n";
    return nullptr;
  }
  if (!config->northbound) {
    err << "capifctl " << command << ": the configuration has no northbound (no data_dir)\n";
    return nullptr;
  }
  auto client = AdminClient::Connect(config->data_dir);
  if (!client.ok()) {
    err << "capifctl " << command << ": " << client.status().message() << "\n";
    *exit_code = 1;
    return nullptr;
  }
  return *std::move(client);
}

int Enroll(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
           EnrollmentPurpose purpose) {
  std::string config_path;
  int64_t ttl_seconds = 3600;
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--config" && i + 1 < args.size()) {
      config_path = args[++i];
    } else if (args[i] == "--ttl-seconds" && i + 1 < args.size()) {
      if (!absl::SimpleAtoi(args[++i], &ttl_seconds) || ttl_seconds <= 0 ||
          ttl_seconds > 7 * 24 * 3600) {
        err << "capifctl " << args[0] << ": --ttl-seconds must be from 1 to 604800\n";
        return 2;
      }
    } else {
      err << "capifctl " << args[0] << ": unexpected argument '" << args[i] << "'\n" << kUsage;
      return 2;
    }
  }
  if (config_path.empty()) {
    err << "capifctl " << args[0] << ": --config is required\n" << kUsage;
    return 2;
  }
  int code = 0;
  std::unique_ptr<AdminClient> admin = ConnectToCcfd(args[0], config_path, err, &code);
  if (admin == nullptr) return code;
  absl::Duration ttl = absl::Seconds(ttl_seconds);
  auto token = purpose == EnrollmentPurpose::kInvoker ? admin->EnrollInvoker(ttl)
                                                      : admin->EnrollProvider(ttl);
  if (!token.ok()) {
    err << "capifctl " << args[0] << ": " << token.status().message() << "\n";
    return 1;
  }
  // Only the token on stdout, so scripts can capture it.
  out << token->token << "\n";
  return 0;
}

int RotateTokenKey(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  if (args.size() != 3 || args[1] != "--config") {
    err << "capifctl rotate-token-key: usage: capifctl rotate-token-key --config FILE\n";
    return 2;
  }
  int code = 0;
  std::unique_ptr<AdminClient> admin = ConnectToCcfd(args[0], args[2], err, &code);
  if (admin == nullptr) return code;
  auto rotated = admin->RotateTokenKey();
  if (!rotated.ok()) {
    err << "capifctl rotate-token-key: " << rotated.status().message() << "\n";
    return 1;
  }
  out << "new signing key " << rotated->kid << " (" << rotated->published_keys
      << " keys published); ccfd signs with it now\n";
  return 0;
}

// The offboarding/revocation notices not acknowledged yet (the durable outbox).
int Notices(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  std::string config_path;
  bool as_json = false;
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--config" && i + 1 < args.size()) {
      config_path = args[++i];
    } else if (args[i] == "--json") {
      as_json = true;
    } else {
      err << "capifctl notices: unexpected argument '" << args[i] << "'\n" << kUsage;
      return 2;
    }
  }
  if (config_path.empty()) {
    err << "capifctl notices: --config is required\n" << kUsage;
    return 2;
  }
  int code = 0;
  std::unique_ptr<AdminClient> admin = ConnectToCcfd(args[0], config_path, err, &code);
  if (admin == nullptr) return code;
  auto pending = admin->ListNotices();
  if (!pending.ok()) {
    err << "capifctl notices: " << pending.status().message() << "\n";
    return 1;
  }
  if (as_json) {
    nlohmann::json list = nlohmann::json::array();
    for (const OutboundNotice& n : *pending) {
      list.push_back({{"notice_id", n.notice_id}, {"kind", n.kind},
                      {"destination", n.destination}, {"attempts", n.attempts},
                      {"created", absl::FormatTime(n.created)},
                      {"next_attempt", absl::FormatTime(n.next_attempt)},
                      {"last_error", n.last_error},
                      {"api_invoker_id", n.api_invoker_id},
                      {"dead_letter", n.dead()}});
      if (n.dead()) list.back()["dead_since"] = absl::FormatTime(n.dead_since);
    }
    out << nlohmann::json{{"pending", list}}.dump(2, ' ', false,
                                                 nlohmann::json::error_handler_t::replace)
        << "\n";
    return 0;
  }
  out << pending->size() << " notice(s) waiting for acknowledgement\n";
  for (const OutboundNotice& n : *pending) {
    out << "  " << n.notice_id << "  " << n.kind << " -> " << n.destination
        << (n.api_invoker_id.empty() ? "" : "  about " + n.api_invoker_id) << "  attempts "
        << n.attempts
        << (n.dead() ? ", given up " + absl::FormatTime(n.dead_since)
                     : ", next " + absl::FormatTime(n.next_attempt))
        << (n.last_error.empty() ? "" : "  last error: " + n.last_error) << "\n";
  }
  return 0;
}

// Removes the running CCF's grants for peers' invokers (all, or one invoker's): a testing and
// operations aid that makes the CCF behave as if restored from an older backup.
int DropGrants(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  std::string config_path;
  std::string invoker;
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--config" && i + 1 < args.size()) {
      config_path = args[++i];
    } else if (args[i] == "--invoker" && i + 1 < args.size() && !args[i + 1].empty()) {
      invoker = args[++i];
    } else {
      err << "capifctl drop-grants: unexpected argument '" << args[i] << "'\n" << kUsage;
      return 2;
    }
  }
  if (config_path.empty()) {
    err << "capifctl drop-grants: --config is required\n" << kUsage;
    return 2;
  }
  int code = 0;
  std::unique_ptr<AdminClient> admin = ConnectToCcfd(args[0], config_path, err, &code);
  if (admin == nullptr) return code;
  auto dropped = admin->DropGrants(invoker);
  if (!dropped.ok()) {
    err << "capifctl drop-grants: " << dropped.status().message() << "\n";
    return 1;
  }
  out << *dropped << " grant(s) dropped"
      << (invoker.empty() ? "" : absl::StrCat(" for invoker ", invoker)) << "\n";
  return 0;
}

}  // namespace

int RunCapifctl(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  if (args.empty()) {
    err << kUsage;
    return 2;
  }
  if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    out << kUsage;
    return 0;
  }
  if (args[0] == "peers") return Peers(args, out, err);
  if (args[0] == "enroll-invoker") return Enroll(args, out, err, EnrollmentPurpose::kInvoker);
  if (args[0] == "enroll-provider") return Enroll(args, out, err, EnrollmentPurpose::kProvider);
  if (args[0] == "rotate-token-key") return RotateTokenKey(args, out, err);
  if (args[0] == "notices") return Notices(args, out, err);
  if (args[0] == "drop-grants") return DropGrants(args, out, err);
  err << "capifctl: unknown command '" << args[0] << "'\n" << kUsage;
  return 2;
}

}  // namespace capif
