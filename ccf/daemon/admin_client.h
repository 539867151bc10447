// AdminClient: calls the admin API (proto/admin.proto) of the ccfd running on a data directory,
// over <data_dir>/admin.sock. What capifctl and capif-scenario use to change a running CCF; they
// never open its database for writing.
//
//   ASSIGN_OR_RETURN(std::unique_ptr<AdminClient> admin, AdminClient::Connect(config.data_dir));
//   ASSIGN_OR_RETURN(IssuedEnrollmentToken t, admin->EnrollInvoker(absl::Hours(1)));
//
// Errors: Connect() returns FailedPrecondition "ccfd is not running (no admin socket at <path>);
// start it first" when no ccfd serves the directory (no directory, no socket file, or a socket
// nobody accepts on, as a ccfd that died leaves), and PermissionDenied when this user may not
// connect (the socket is its owner's only: run as the user ccfd runs as). Connect() only looks;
// it creates nothing. The calls return the server's codes (proto/admin.proto), DeadlineExceeded
// after `timeout`, and Unavailable when ccfd stopped meanwhile; messages name the socket.
// Thread-safe.
#ifndef CAPIF_CCF_DAEMON_ADMIN_CLIENT_H_
#define CAPIF_CCF_DAEMON_ADMIN_CLIENT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "ccf/daemon/admin_socket.h"
#include "ccf/store/stores.h"
#include "proto/admin.grpc.pb.h"

namespace capif {

struct IssuedEnrollmentToken {
  std::string token;  // shown once; the CCF keeps only its digest
  absl::Time expires_at;
};

struct RotatedTokenKey {
  std::string kid;
  int published_keys = 0;
};

struct AdminStatus {
  std::string ccf_id;
  int schema_version = 0;
  std::string api_root;
};

class AdminClient {
 public:
  static absl::StatusOr<std::unique_ptr<AdminClient>> Connect(
      const std::string& data_dir, absl::Duration timeout = absl::Seconds(30));
  // Over `stub` (tests: a mock); `socket_path` is only for messages.
  AdminClient(std::unique_ptr<admin::v1::Admin::StubInterface> stub, std::string socket_path,
              absl::Duration timeout);

  // `ttl`: 1 s to 7 days (else InvalidArgument from the server).
  absl::StatusOr<IssuedEnrollmentToken> EnrollInvoker(absl::Duration ttl);
  absl::StatusOr<IssuedEnrollmentToken> EnrollProvider(absl::Duration ttl);
  absl::StatusOr<RotatedTokenKey> RotateTokenKey();
  // Not acknowledged yet, oldest first; `payload` is left empty.
  absl::StatusOr<std::vector<OutboundNotice>> ListNotices();
  // Removes the CCF's grants for peers' invokers (only `api_invoker_id`'s when not empty);
  // returns how many. A testing/operations aid, see proto/admin.proto.
  absl::StatusOr<int64_t> DropGrants(const std::string& api_invoker_id = "");
  absl::StatusOr<AdminStatus> Status();

 private:
  // `socket` keeps the directory descriptor the channel's address names.
  AdminClient(AdminSocket socket, std::unique_ptr<admin::v1::Admin::StubInterface> stub,
              absl::Duration timeout);
  absl::Status Checked(const char* rpc, const grpc::Status& status) const;
  std::unique_ptr<grpc::ClientContext> Context() const;

  std::unique_ptr<AdminSocket> socket_;  // null with an injected stub
  std::unique_ptr<admin::v1::Admin::StubInterface> stub_;
  std::string socket_path_;
  absl::Duration timeout_;
};

}  // namespace capif

#endif  // CAPIF_CCF_DAEMON_ADMIN_CLIENT_H_
