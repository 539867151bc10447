#include "federation/bus_server.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <grpcpp/server_builder.h>
#include <grpcpp/support/server_interceptor.h>
#include <openssl/bio.h>
#include <openssl/ssl.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "federation/bus_credentials.h"
#include "federation/grpc_status.h"
#include "federation/interconnect_service.h"

namespace capif {

namespace {

int Millis(absl::Duration d) {
  return static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(d), INT32_MAX));
}

enum class Probe { kAnswered, kSilent, kCannotProbe };

// Whether anybody accepts at host:port: a TCP connection, a TLS ClientHello, and any reaction
// (bytes, close or reset) within `timeout`. A connection the kernel completed but nobody
// accepted stays silent. The probe leaves before the handshake ends, so the server logs nothing.
Probe ProbeTls(const std::string& host, int port, absl::Duration timeout) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), absl::StrCat(port).c_str(), &hints, &found) != 0) {
    return Probe::kCannotProbe;
  }
  int fd = socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    freeaddrinfo(found);
    return Probe::kCannotProbe;
  }
  absl::Time deadline = absl::Now() + timeout;
  auto wait = [&](short events) {
    pollfd p{fd, events, 0};
    int left = Millis(std::max(deadline - absl::Now(), absl::ZeroDuration()));
    return poll(&p, 1, left) == 1 ? p.revents : 0;
  };
  Probe result = Probe::kSilent;
  int rc = connect(fd, found->ai_addr, found->ai_addrlen);
  freeaddrinfo(found);
  int error = 0;
  socklen_t len = sizeof error;
  if ((rc == 0 || errno == EINPROGRESS) && (rc == 0 || wait(POLLOUT) != 0) &&
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) == 0 && error == 0) {
    // The ClientHello, produced by OpenSSL into memory.
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    SSL* ssl = ctx != nullptr ? SSL_new(ctx) : nullptr;
    if (ssl == nullptr) {
      result = Probe::kCannotProbe;
    } else {
      SSL_set_bio(ssl, BIO_new(BIO_s_mem()), BIO_new(BIO_s_mem()));
      SSL_set_connect_state(ssl);
      SSL_do_handshake(ssl);  // wants to read: the ClientHello is written
      char* hello = nullptr;
      long size = BIO_get_mem_data(SSL_get_wbio(ssl), &hello);
      if (size > 0 && send(fd, hello, static_cast<size_t>(size), MSG_NOSIGNAL) == size) {
        if (wait(POLLIN) != 0) result = Probe::kAnswered;
      } else {
        result = Probe::kAnswered;  // refused mid-way: somebody is at the other end
      }
    }
    SSL_free(ssl);
    SSL_CTX_free(ctx);
  }
  close(fd);
  return result;
}

// Records every bus call as (peer, operation, status) with its duration: peer is the configured
// peer the TLS layer authenticated ("unknown" otherwise), operation the RPC's name.
class CallMetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  CallMetricsInterceptor(grpc::experimental::ServerRpcInfo* info, RequestMetrics* metrics,
                         const PeerDirectory* peers)
      : info_(info), metrics_(metrics), peers_(peers), started_(absl::Now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      metrics_->Record({PeerLabel(), OperationOfMethod(info_->method()),
                        StatusCodeName(methods->GetSendStatus().error_code())},
                       absl::Now() - started_);
    }
    methods->Proceed();
  }

 private:
  std::string PeerLabel() {
    auto id = SpiffeId::Parse(AuthenticatedIdentity(info_->server_context()));
    const Peer* peer = id.ok() ? peers_->FindByIdentity(*id) : nullptr;
    return peer != nullptr ? peer->ccf_id.value() : "unknown";
  }

  grpc::experimental::ServerRpcInfo* info_;
  RequestMetrics* metrics_;
  const PeerDirectory* peers_;
  absl::Time started_;
};

class CallMetricsFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  CallMetricsFactory(RequestMetrics* metrics, std::shared_ptr<const PeerDirectory> peers)
      : metrics_(metrics), peers_(std::move(peers)) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new CallMetricsInterceptor(info, metrics_, peers_.get());
  }

 private:
  RequestMetrics* metrics_;
  std::shared_ptr<const PeerDirectory> peers_;
};

// Where to reach our own listener: loopback when it listens on every address.
std::string ProbeHostOf(const std::string& host) {
  if (host.empty() || host == "0.0.0.0") return "127.0.0.1";
  if (host == "[::]" || host == "::") return "::1";
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    return host.substr(1, host.size() - 2);
  }
  return host;
}

}  // namespace

absl::StatusOr<std::unique_ptr<BusServer>> BusServer::Start(
    const BusIdentity& self, std::shared_ptr<const PeerDirectory> peers,
    const std::string& listen_address, const Clock& clock, LocalCcf* local, AuditLog* audit,
    Options options) {
  std::unique_ptr<BusServer> bus(new BusServer());
  bus->self_ = self;
  bus->peers_ = std::move(peers);
  bus->clock_ = &clock;
  bus->local_ = local;
  bus->audit_ = audit;
  bus->options_ = options;
  bus->host_ = listen_address.substr(0, listen_address.rfind(':'));
  bus->probe_host_ = ProbeHostOf(bus->host_);
  if (options.max_calls_per_peer > 0) {
    bus->call_limits_ = std::make_shared<PeerCallLimits>(options.max_calls_per_peer);
  }
  {
    absl::MutexLock lock(&bus->mu_);
    RETURN_IF_ERROR(bus->Build(listen_address));
  }
  if (options.listener_check > absl::ZeroDuration()) {
    bus->watchdog_ = std::thread([b = bus.get()] { b->WatchListener(); });
  }
  return bus;
}

absl::Status BusServer::Build(const std::string& address) {
  InterconnectOptions interconnect;
  interconnect.audit = audit_;
  interconnect.call_limits = call_limits_;
  auto service = CreateInterconnectService(self_, peers_, local_, interconnect);
  grpc::ServerBuilder builder;
  int bound = 0;
  builder.AddListeningPort(address, MakeBusServerCredentials(self_, peers_, *clock_, audit_),
                           &bound);
  builder.RegisterService(service.get());
  // Bus messages are small; a peer cannot make us buffer more than this per message.
  builder.SetMaxReceiveMessageSize(options_.max_message_bytes);
  // gRPC sets SO_REUSEPORT by default: a second ccfd on the same port would then silently share
  // it and receive half the peers' calls. A port in use must be an error.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS,
                             Millis(options_.handshake_timeout));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                             options_.max_streams_per_connection);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS, Millis(options_.idle_timeout));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, Millis(options_.keepalive));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20000);
  // Peers keep their channels open between calls and ping them (PeerClient); pings more often
  // than this are strikes, and after two the connection is closed (a ping flood costs nothing).
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             Millis(options_.keepalive / 2));
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 2);
  builder.AddChannelArgument(GRPC_ARG_MAX_METADATA_SIZE, 16 << 10);
  if (options_.metrics != nullptr) {
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
    creators.push_back(std::make_unique<CallMetricsFactory>(options_.metrics, peers_));
    builder.experimental().SetInterceptorCreators(std::move(creators));
  }
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || bound == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", address, " (in use, or not a local address?)"));
  }
  port_ = bound;
  server_ = std::move(server);
  service_ = std::move(service);
  return absl::OkStatus();
}

absl::StatusOr<bool> BusServer::EnsureListening(absl::Duration timeout) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    Probe probe = ProbeTls(probe_host_, port_, timeout);
    if (probe == Probe::kAnswered) return false;
    if (probe == Probe::kCannotProbe) {
      return absl::UnavailableError(
          "cannot open a socket to probe the bus listener (out of file descriptors?)");
    }
  }
  absl::MutexLock lock(&mu_);
  if (shut_down_) return false;
  bool was_failing = rebuild_failing_;
  if (!was_failing) {
    LogError("bus", absl::StrCat("the listener on port ", port_.load(),
                                 " stopped accepting connections (gRPC gives up after an accept "
                                 "error such as EMFILE); rebuilding it"));
  }
  // The old server must release the port first; its calls get one second. (After a rebuild that
  // failed there is none.)
  if (server_) {
    server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(1)));
    server_->Wait();
  }
  server_.reset();
  service_.reset();
  absl::Status built = Build(absl::StrCat(host_, ":", port_.load()));
  rebuild_failing_ = !built.ok();
  if (!built.ok()) {
    if (!was_failing) LogError("bus", absl::StrCat("rebuilding the listener: ", built.message()));
    return built;
  }
  ++restarts_;
  LogInfo("bus", absl::StrCat("the listener on port ", port_.load(), " accepts connections again"));
  return true;
}

int BusServer::restarts() const {
  absl::MutexLock lock(&mu_);
  return restarts_;
}

void BusServer::WatchListener() {
  absl::MutexLock lock(&mu_);
  while (!shut_down_) {
    mu_.AwaitWithTimeout(absl::Condition(&shut_down_), options_.listener_check);
    if (shut_down_) break;
    mu_.Unlock();
    (void)EnsureListening(absl::Seconds(2));  // failures are logged there, once per change
    mu_.Lock();
  }
}

void BusServer::Shutdown(absl::Duration grace) {
  std::unique_ptr<grpc::Server> server;
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return;
    shut_down_ = true;
    server = std::move(server_);
  }
  if (watchdog_.joinable()) watchdog_.join();
  if (server) {
    server->Shutdown(absl::ToChronoTime(absl::Now() + grace));
    server->Wait();
  }
}

BusServer::~BusServer() {
  Shutdown(absl::ZeroDuration());
  absl::MutexLock lock(&mu_);
  service_.reset();
}

}  // namespace capif
