#include "ccf/daemon/ccf_daemon.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "ccf/daemon/admin_service.h"
#include "ccf/daemon/ccf_config.h"
#include "ccf/daemon/metrics.h"
#include "ccf/daemon/northbound.h"
#include "ccf/store/sql_stores.h"
#include "common/clock.h"
#include "common/log.h"
#include "federation/audit_log.h"
#include "federation/bus_server.h"
#include "federation/peer_bundles.h"
#include "federation/peer_client.h"
#include "federation/peer_directory.h"
#include "federation/peer_requests.h"

namespace capif {

namespace {

// A socket bound (not listening) to `host:port` when the port is fixed, so that no port-0 bind
// of this process takes it meanwhile; -1 for port 0 or when it cannot be bound (the bus then
// reports the real error itself).
int HoldPort(const std::string& host_port) {
  size_t colon = host_port.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(host_port.substr(colon + 1), &port) ||
      port <= 0 || port > 65535) {
    return -1;
  }
  std::string host = host_port.substr(0, colon);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (host.empty() || host == "0.0.0.0") {
    addr.sin_addr.s_addr = htonl(INADDR_ANY);
  } else if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    return -1;  // a name or IPv6: not held
  }
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

}  // namespace
namespace {

constexpr char kUsage[] = "usage: ccfd --config FILE [--check-config]\n";
constexpr absl::Duration kShutdownGrace = absl::Seconds(5);

}  // namespace

int RunCcfd(int argc, char** argv) {
  std::string config_path;
  bool check_only = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--config" && i + 1 < argc) {
      config_path = argv[++i];
    } else if (a == "--check-config") {
      check_only = true;
    } else if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      return 0;
    } else {
      std::cerr << "ccfd: unexpected argument '" << a << "'\n" << kUsage;
      return 2;
    }
  }
  if (config_path.empty()) {
    std::cerr << "ccfd: --config is required\n" << kUsage;
    return 2;
  }

  // absl::Mutex's deadlock detection (on in Debian's build of absl) takes a global lock and
  // walks a graph on every lock: the tests keep it, the daemon does not pay for it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  // Every connection costs a descriptor: use all the system allows (the soft limit is often 1024
  // while the hard one is far higher). The listeners bound what they accept (docs/federation.md).
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }

  // Block the stop signals before any thread exists, so every thread inherits the mask and the
  // main thread alone receives them through sigwait().
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto config = LoadCcfConfig(config_path);
  if (!config.ok()) {
    std::cerr << "ccfd: " << config.status().message() << "\n";
    return 2;
  }
  // Per-request metrics of both servers (kept for the whole run: the servers record into them).
  RequestMetrics northbound_requests, bus_calls, calls_to_peers;
  if (config->northbound) config->northbound->server.metrics = &northbound_requests;
  config->bus_server.metrics = &bus_calls;
  const BusIdentity& self = config->bus_identity;
  if (check_only) {
    std::cout << "ccfd: configuration of " << self.identity().ToString() << " is valid ("
              << config->peers.size() << " peers)\n";
    return 0;
  }
  auto directory = PeerDirectory::Create(config->peers);
  if (!directory.ok()) {
    std::cerr << "ccfd: " << directory.status().message() << "\n";
    return 2;
  }
  // One persistent mutually authenticated channel per peer (connected on first use).
  std::vector<std::unique_ptr<PeerClient>> peer_clients;
  std::vector<std::pair<CcfId, PeerClient*>> peer_handles;
  for (const Peer& p : config->peers) {
    // A peer that comes back must be reachable again before the next notice retry is due.
    peer_clients.push_back(PeerClient::Create(
        self, p, Clock::Real(), std::min(absl::Seconds(10), config->notice_retry_max),
        &calls_to_peers));
    peer_handles.emplace_back(p.ccf_id, peer_clients.back().get());
  }
  BusPeerRequestsOptions peer_options;
  peer_options.ownership_fanouts_per_second = config->ownership_fanouts_per_second;
  BusPeerRequests shared_apis(peer_handles, peer_options);

  // A fixed bus port is held until the bus listens on it: the northbound (or metrics) on port 0
  // binds first, and the kernel could otherwise hand it that very port (seen after restarts).
  int bus_port_hold = HoldPort(config->listen_address);

  std::unique_ptr<Northbound> northbound;
  if (config->northbound) {
    auto nb = Northbound::Start(*config, Clock::Real(), &shared_apis);
    if (!nb.ok()) {
      std::cerr << "ccfd: " << nb.status().message() << "\n";
      return 1;
    }
    northbound = *std::move(nb);
  }

  // Peers' trust bundles, refreshed on their hints; the last good ones are kept in the database.
  std::unique_ptr<SqlPeerBundleStore> bundle_store;
  if (northbound) bundle_store = std::make_unique<SqlPeerBundleStore>(northbound->database());
  std::vector<std::pair<Peer, PeerClient*>> bundle_peers;
  for (size_t i = 0; i < config->peers.size(); ++i) {
    bundle_peers.emplace_back(config->peers[i], peer_clients[i].get());
  }
  PeerBundles bundles(bundle_peers, bundle_store.get(), Clock::Real(), {});
  absl::Status loaded = bundles.LoadStored();
  if (!loaded.ok()) LogWarning("ccfd", absl::StrCat("stored peer bundles: ", loaded.ToString()));
  if (northbound) northbound->SetPeerBundles(&bundles);

  // The admin API: the operators' tools change this CCF through it, never through its database.
  // Ready before the first line is printed, so whoever waits for that line may use it.
  std::unique_ptr<AdminServer> admin;
  if (northbound) {
    AdminServiceConfig admin_config;
    admin_config.ccf_id = self.ccf_id.value();
    admin_config.api_root = northbound->api_root();
    admin_config.schema_version = northbound->database()->schema_version();
    admin_config.enrollment_tokens = northbound->enrollment_tokens();
    admin_config.keyring = northbound->keyring();
    admin_config.outbox = northbound->outbox();
    admin_config.grants = northbound->remote_grants();
    Northbound* nb = northbound.get();
    admin_config.forget_invoker = [nb](const std::string& id) { nb->ForgetRemoteInvoker(id); };
    admin_config.token_keys_rotated = [nb] { nb->TokenKeysRotated(); };
    auto started = AdminServer::Start(config->data_dir, std::move(admin_config));
    if (!started.ok()) {
      std::cerr << "ccfd: admin socket: " << started.status().message() << "\n";
      return 1;
    }
    admin = *std::move(started);
  }

  std::shared_ptr<CcfMetrics> metrics;
  std::unique_ptr<prometheus::Exposer> metrics_exposer;
  if (!config->metrics_listen.empty()) {
    std::vector<std::string> peer_ids;
    for (const Peer& p : config->peers) peer_ids.push_back(p.ccf_id.value());
    TrafficSources traffic{nullptr, nullptr, &bus_calls};
    traffic.bus_client = &calls_to_peers;
    traffic.peer_breakers = [&shared_apis] { return shared_apis.breaker_stats(); };
    traffic.shared_apis = [&shared_apis] { return shared_apis.shared_api_cache().Status(); };
    if (northbound) {
      Northbound* nb = northbound.get();
      traffic.northbound = &northbound_requests;
      traffic.northbound_stats = [nb] { return nb->server_stats(); };
    }
    metrics = std::make_shared<CcfMetrics>(peer_ids, &bundles,
                                           northbound ? northbound->outbox() : nullptr,
                                           Clock::Real(),
                                           northbound ? northbound->dispatcher() : nullptr,
                                           std::move(traffic));
    auto exposer = ServeMetrics(config->metrics_listen, metrics);
    if (!exposer.ok()) {
      std::cerr << "ccfd: " << exposer.status().message() << "\n";
      return 1;
    }
    metrics_exposer = *std::move(exposer);
  }

  std::unique_ptr<AuditLog> audit;
  if (config->audit_log.empty()) {
    audit = AuditLog::Stderr(Clock::Real());
  } else {
    auto opened = AuditLog::OpenFile(config->audit_log, Clock::Real());
    if (!opened.ok()) {
      std::cerr << "ccfd: bus.audit_log: " << opened.status().message() << "\n";
      return 1;
    }
    audit = *std::move(opened);
  }
  if (bus_port_hold >= 0) close(bus_port_hold);
  auto server = BusServer::Start(self, *directory, config->listen_address, Clock::Real(),
                                 northbound ? northbound->local_state() : nullptr, audit.get(),
                                 config->bus_server);
  if (!server.ok()) {
    std::cerr << "ccfd: " << server.status().message() << "\n";
    return 1;
  }
  std::string host = config->listen_address.substr(0, config->listen_address.rfind(':'));
  std::string bound = absl::StrCat(host, ":", (*server)->port());
  LogInfo("ccfd", absl::StrCat(self.identity().ToString(), " serving CAPIF-6/6e on ", bound,
                               " with ", config->peers.size(), " configured peers"));
  for (const Peer& p : config->peers) {
    LogInfo("ccfd", absl::StrCat("peer ", p.identity().ToString(), " (", RelationName(p.relation),
                                 ") at ", p.endpoint));
  }
  std::cout << "ccfd " << self.ccf_id.value() << " listening on " << bound << std::endl;
  if (northbound) {
    std::cout << "ccfd " << self.ccf_id.value() << " northbound on " << northbound->api_root()
              << std::endl;
  }
  if (metrics_exposer) {
    std::string metrics_host = config->metrics_listen.substr(0, config->metrics_listen.rfind(':'));
    std::cout << "ccfd " << self.ccf_id.value() << " metrics on http://" << metrics_host << ":"
              << metrics_exposer->GetListeningPorts().at(0) << "/metrics" << std::endl;
  }

  bundles.Start(absl::Seconds(1));

  int signo = 0;
  sigwait(&stop_signals, &signo);
  LogInfo("ccfd", absl::StrCat("received ", signo == SIGTERM ? "SIGTERM" : "SIGINT",
                               ", shutting down"));
  if (admin) admin->Shutdown();  // removes <data_dir>/admin.sock
  bundles.Stop();
  if (northbound) northbound->Stop();
  (*server)->Shutdown(kShutdownGrace);
  LogInfo("ccfd", "stopped");
  return 0;
}

}  // namespace capif
