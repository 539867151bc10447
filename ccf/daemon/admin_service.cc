#include "ccf/daemon/admin_service.h"

#include <grpcpp/grpcpp.h>

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "ccf/daemon/admin_socket.h"
#include "ccf/api/invoker_management_api.h"
#include "common/log.h"
#include "federation/grpc_status.h"
#include "proto/admin.grpc.pb.h"

namespace capif {
namespace {

namespace v1 = ::capif::admin::v1;

constexpr int64_t kMaxEnrollmentTtlSeconds = 7 * 24 * 3600;
constexpr absl::Duration kShutdownGrace = absl::Seconds(2);

class AdminService final : public v1::Admin::Service {
 public:
  explicit AdminService(AdminServiceConfig config) : config_(std::move(config)) {}

  grpc::Status EnrollInvoker(grpc::ServerContext*, const v1::EnrollRequest* request,
                             v1::EnrollResponse* response) override {
    return Enroll(EnrollmentPurpose::kInvoker, *request, response);
  }

  grpc::Status EnrollProvider(grpc::ServerContext*, const v1::EnrollRequest* request,
                              v1::EnrollResponse* response) override {
    return Enroll(EnrollmentPurpose::kProvider, *request, response);
  }

  grpc::Status RotateTokenKey(grpc::ServerContext*, const v1::RotateTokenKeyRequest*,
                              v1::RotateTokenKeyResponse* response) override {
    // One rotation at a time, so the kid answered is the key this call added.
    absl::MutexLock lock(&rotate_mu_);
    absl::Status rotated = config_.keyring->Rotate();
    if (!rotated.ok()) {
      LogError("admin", absl::StrCat("token-signing key rotation failed: ", rotated.ToString()));
      return ToGrpcStatus(rotated);
    }
    response->set_kid(config_.keyring->signer()->kid());
    response->set_published_keys(static_cast<int32_t>(config_.keyring->jwks()->size()));
    if (config_.token_keys_rotated) config_.token_keys_rotated();
    LogInfo("admin", absl::StrCat("new token-signing key ", response->kid(), " signs from now; ",
                                  response->published_keys(), " keys published"));
    return grpc::Status::OK;
  }

  grpc::Status ListNotices(grpc::ServerContext*, const v1::ListNoticesRequest*,
                           v1::ListNoticesResponse* response) override {
    absl::StatusOr<std::vector<OutboundNotice>> pending = config_.outbox->Pending();
    if (!pending.ok()) return ToGrpcStatus(pending.status());
    for (const OutboundNotice& n : *pending) {
      v1::Notice* out = response->add_notices();
      out->set_notice_id(n.notice_id);
      out->set_destination(n.destination);
      out->set_kind(n.kind);
      out->set_attempts(n.attempts);
      out->set_next_attempt_unix_ms(absl::ToUnixMillis(n.next_attempt));
      out->set_last_error(n.last_error);
      out->set_created_unix_ms(absl::ToUnixMillis(n.created));
      out->set_api_invoker_id(n.api_invoker_id);
      if (n.dead()) out->set_dead_since_unix_ms(absl::ToUnixMillis(n.dead_since));
    }
    return grpc::Status::OK;
  }

  grpc::Status DropGrants(grpc::ServerContext*, const v1::DropGrantsRequest* request,
                          v1::DropGrantsResponse* response) override {
    const std::string& invoker = request->api_invoker_id();
    absl::StatusOr<std::vector<RemoteGrant>> grants =
        invoker.empty() ? config_.grants->All() : config_.grants->OfInvoker(invoker);
    if (!grants.ok()) return ToGrpcStatus(grants.status());
    // As after restoring an older backup: no tombstone, no notice to anyone.
    absl::Status removed = config_.grants->Remove(*grants, std::nullopt, {});
    if (!removed.ok()) return ToGrpcStatus(removed);
    std::set<std::string> invokers;
    for (const RemoteGrant& g : *grants) invokers.insert(g.api_invoker_id);
    if (config_.forget_invoker) {
      for (const std::string& id : invokers) config_.forget_invoker(id);
    }
    response->set_count(static_cast<int64_t>(grants->size()));
    LogInfo("admin", absl::StrCat("dropped ", grants->size(), " grant(s) of ", invokers.size(),
                                  " peer invoker(s)",
                                  invoker.empty() ? "" : absl::StrCat(" (", invoker, ")")));
    return grpc::Status::OK;
  }

  grpc::Status Status(grpc::ServerContext*, const v1::StatusRequest*,
                      v1::StatusResponse* response) override {
    response->set_ccf_id(config_.ccf_id);
    response->set_schema_version(config_.schema_version);
    response->set_api_root(config_.api_root);
    return grpc::Status::OK;
  }

 private:
  grpc::Status Enroll(EnrollmentPurpose purpose, const v1::EnrollRequest& request,
                      v1::EnrollResponse* response) {
    if (request.ttl_seconds() < 1 || request.ttl_seconds() > kMaxEnrollmentTtlSeconds) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          absl::StrCat("ttl_seconds must be from 1 to ",
                                       kMaxEnrollmentTtlSeconds));
    }
    absl::Time now = config_.clock->Now();
    absl::Duration ttl = absl::Seconds(request.ttl_seconds());
    // The one way tokens are made: random, shown once, only the digest stored.
    absl::StatusOr<std::string> token =
        IssueEnrollmentToken(*config_.enrollment_tokens, purpose, now, ttl);
    if (!token.ok()) return ToGrpcStatus(token.status());
    response->set_token(*token);
    response->set_expires_at_unix_ms(absl::ToUnixMillis(now + ttl));
    LogInfo("admin", absl::StrCat("issued an ",
                                  purpose == EnrollmentPurpose::kInvoker ? "invoker" : "provider",
                                  " enrollment token valid ", request.ttl_seconds(), " s"));
    return grpc::Status::OK;
  }

  const AdminServiceConfig config_;
  absl::Mutex rotate_mu_;
};

class GrpcAdminServer final : public AdminServer {
 public:
  GrpcAdminServer(AdminSocket socket, std::unique_ptr<AdminService> service)
      : socket_(std::move(socket)), service_(std::move(service)) {}
  ~GrpcAdminServer() override { Shutdown(); }

  absl::Status Listen() {
    {
      absl::MutexLock lock(&mu_);
      grpc::ServerBuilder builder;
      builder.AddListeningPort(socket_.grpc_address(), grpc::InsecureServerCredentials());
      builder.RegisterService(service_.get());
      server_ = builder.BuildAndStart();
      if (server_ == nullptr) {
        return absl::InternalError(absl::StrCat("cannot listen on the admin socket '",
                                                socket_.path(), "'"));
      }
    }
    // Until this chmod, only the 0700 data directory keeps others away from the socket.
    absl::Status restricted = socket_.RestrictToOwner();
    if (!restricted.ok()) {
      Shutdown();
      return restricted;
    }
    return absl::OkStatus();
  }

  const std::string& socket_path() const override { return socket_.path(); }

  void Shutdown() override {
    absl::MutexLock lock(&mu_);
    if (server_ == nullptr) return;
    server_->Shutdown(absl::ToChronoTime(absl::Now() + kShutdownGrace));
    server_->Wait();
    server_.reset();
    absl::Status removed = socket_.Remove();
    if (!removed.ok()) LogWarning("admin", removed.ToString());
  }

 private:
  const AdminSocket socket_;
  const std::unique_ptr<AdminService> service_;
  absl::Mutex mu_;
  std::unique_ptr<grpc::Server> server_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

absl::StatusOr<std::unique_ptr<AdminServer>> AdminServer::Start(const std::string& data_dir,
                                                                AdminServiceConfig config) {
  if (config.enrollment_tokens == nullptr || config.keyring == nullptr ||
      config.outbox == nullptr || config.grants == nullptr || config.clock == nullptr) {
    return absl::InvalidArgumentError("admin service: a store, the keyring or the clock is null");
  }
  absl::StatusOr<AdminSocket> socket = AdminSocket::OpenDirectory(data_dir);
  if (!socket.ok()) return socket.status();
  absl::StatusOr<AdminSocket::State> state = socket->Stat();
  if (!state.ok()) return state.status();
  if (*state == AdminSocket::State::kNotSocket) {
    return absl::FailedPreconditionError(absl::StrCat(
        "'", socket->path(), "' exists and is not a socket; move it away and start again"));
  }
  if (*state == AdminSocket::State::kSocket) {
    if (socket->Probe().ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("another process serves the admin socket '", socket->path(),
                       "' (is a ccfd already running on this data_dir?)"));
    }
    absl::Status removed = socket->Remove();
    if (!removed.ok()) return removed;
    LogInfo("admin", absl::StrCat("removed the stale admin socket '", socket->path(), "'"));
  }
  absl::StatusOr<mode_t> dir_mode = socket->DirectoryMode();
  if (dir_mode.ok() && (*dir_mode & 077) != 0) {
    LogWarning("admin", absl::StrFormat("data directory of '%s' has mode %04o; make it 0700 so "
                                        "that only its owner can reach the admin socket",
                                        socket->path(), *dir_mode));
  }
  auto server = std::make_unique<GrpcAdminServer>(
      *std::move(socket), std::make_unique<AdminService>(std::move(config)));
  absl::Status listening = server->Listen();
  if (!listening.ok()) return listening;
  LogInfo("admin", absl::StrCat("admin API on unix:", server->socket_path()));
  return server;
}

}  // namespace capif
