#include "ccf/daemon/admin_client.h"

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "federation/grpc_status.h"

namespace capif {
namespace {

namespace v1 = ::capif::admin::v1;

// `why`: what was found at the socket's path, e.g. "no admin socket at /d/admin.sock".
absl::Status NotRunning(absl::string_view why) {
  return absl::FailedPreconditionError(
      absl::StrCat("ccfd is not running (", why, "); start it first"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<AdminClient>> AdminClient::Connect(const std::string& data_dir,
                                                                  absl::Duration timeout) {
  std::string path = absl::StrCat(data_dir, "/", AdminSocket::kFileName);
  absl::StatusOr<AdminSocket> socket = AdminSocket::OpenDirectory(data_dir);
  if (absl::IsNotFound(socket.status())) {
    return NotRunning(absl::StrCat("no admin socket at ", path));
  }
  if (!socket.ok()) return socket.status();
  absl::StatusOr<AdminSocket::State> state = socket->Stat();
  if (!state.ok()) return state.status();
  if (*state == AdminSocket::State::kAbsent) {
    return NotRunning(absl::StrCat("no admin socket at ", path));
  }
  if (*state == AdminSocket::State::kNotSocket) {
    return absl::FailedPreconditionError(absl::StrCat("'", path, "' is not a socket"));
  }
  // A socket nobody accepts on is what a ccfd that was killed leaves behind.
  absl::Status probe = socket->Probe();
  if (absl::IsUnavailable(probe) || absl::IsNotFound(probe)) {
    return NotRunning(absl::StrCat("nothing accepts connections on the admin socket at ", path));
  }
  if (absl::IsPermissionDenied(probe)) {
    return absl::PermissionDeniedError(
        absl::StrCat(probe.message(), " (run as the user ccfd runs as)"));
  }
  if (!probe.ok()) return probe;
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateChannel(socket->grpc_address(), grpc::InsecureChannelCredentials());
  return std::unique_ptr<AdminClient>(
      new AdminClient(*std::move(socket), v1::Admin::NewStub(channel), timeout));
}

AdminClient::AdminClient(std::unique_ptr<v1::Admin::StubInterface> stub, std::string socket_path,
                         absl::Duration timeout)
    : stub_(std::move(stub)), socket_path_(std::move(socket_path)), timeout_(timeout) {}

AdminClient::AdminClient(AdminSocket socket, std::unique_ptr<v1::Admin::StubInterface> stub,
                         absl::Duration timeout)
    : socket_(std::make_unique<AdminSocket>(std::move(socket))),
      stub_(std::move(stub)),
      socket_path_(socket_->path()),
      timeout_(timeout) {}

std::unique_ptr<grpc::ClientContext> AdminClient::Context() const {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + timeout_));
  return context;
}

absl::Status AdminClient::Checked(const char* rpc, const grpc::Status& status) const {
  if (status.ok()) return absl::OkStatus();
  absl::Status s = FromGrpcStatus(status);
  return absl::Status(s.code(), absl::StrCat(rpc, " on ", socket_path_, ": ", s.message()));
}

absl::StatusOr<IssuedEnrollmentToken> AdminClient::EnrollInvoker(absl::Duration ttl) {
  v1::EnrollRequest request;
  request.set_ttl_seconds(absl::ToInt64Seconds(ttl));
  v1::EnrollResponse response;
  absl::Status s = Checked("EnrollInvoker", stub_->EnrollInvoker(Context().get(), request,
                                                                 &response));
  if (!s.ok()) return s;
  return IssuedEnrollmentToken{response.token(),
                               absl::FromUnixMillis(response.expires_at_unix_ms())};
}

absl::StatusOr<IssuedEnrollmentToken> AdminClient::EnrollProvider(absl::Duration ttl) {
  v1::EnrollRequest request;
  request.set_ttl_seconds(absl::ToInt64Seconds(ttl));
  v1::EnrollResponse response;
  absl::Status s = Checked("EnrollProvider", stub_->EnrollProvider(Context().get(), request,
                                                                   &response));
  if (!s.ok()) return s;
  return IssuedEnrollmentToken{response.token(),
                               absl::FromUnixMillis(response.expires_at_unix_ms())};
}

absl::StatusOr<RotatedTokenKey> AdminClient::RotateTokenKey() {
  v1::RotateTokenKeyResponse response;
  absl::Status s = Checked("RotateTokenKey", stub_->RotateTokenKey(
                                                 Context().get(), v1::RotateTokenKeyRequest(),
                                                 &response));
  if (!s.ok()) return s;
  return RotatedTokenKey{response.kid(), response.published_keys()};
}

absl::StatusOr<std::vector<OutboundNotice>> AdminClient::ListNotices() {
  v1::ListNoticesResponse response;
  absl::Status s = Checked("ListNotices", stub_->ListNotices(Context().get(),
                                                             v1::ListNoticesRequest(), &response));
  if (!s.ok()) return s;
  std::vector<OutboundNotice> out;
  for (const v1::Notice& n : response.notices()) {
    OutboundNotice notice;
    notice.notice_id = n.notice_id();
    notice.destination = n.destination();
    notice.kind = n.kind();
    notice.created = absl::FromUnixMillis(n.created_unix_ms());
    notice.attempts = n.attempts();
    notice.next_attempt = absl::FromUnixMillis(n.next_attempt_unix_ms());
    notice.last_error = n.last_error();
    notice.api_invoker_id = n.api_invoker_id();
    if (n.dead_since_unix_ms() != 0) notice.dead_since = absl::FromUnixMillis(n.dead_since_unix_ms());
    out.push_back(std::move(notice));
  }
  return out;
}

absl::StatusOr<int64_t> AdminClient::DropGrants(const std::string& api_invoker_id) {
  v1::DropGrantsRequest request;
  request.set_api_invoker_id(api_invoker_id);
  v1::DropGrantsResponse response;
  absl::Status s =
      Checked("DropGrants", stub_->DropGrants(Context().get(), request, &response));
  if (!s.ok()) return s;
  return response.count();
}

absl::StatusOr<AdminStatus> AdminClient::Status() {
  v1::StatusResponse response;
  absl::Status s =
      Checked("Status", stub_->Status(Context().get(), v1::StatusRequest(), &response));
  if (!s.ok()) return s;
  return AdminStatus{response.ccf_id(), response.schema_version(), response.api_root()};
}

}  // namespace capif
