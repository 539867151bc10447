// AdminServer: serves the admin API of a running ccfd (capif.admin.v1.Admin, proto/admin.proto)
// on the unix socket <data_dir>/admin.sock, so that operators' tools (capifctl, capif-scenario)
// act through the daemon and its in-memory state instead of writing its database behind its
// back. A rotated token-signing key, for instance, signs and is in the JWKS at once.
//
//   AdminServiceConfig admin;
//   admin.ccf_id = "ccf-a"; admin.keyring = keyring; ...   // every pointer set
//   ASSIGN_OR_RETURN(std::unique_ptr<AdminServer> server, AdminServer::Start(data_dir, admin));
//   ...
//   server->Shutdown();   // also done by the destructor
//
// Access control: the socket file is given mode 0600 right after it is bound, inside the data
// directory (created 0700 by OpenCcfDatabase), so only the user ccfd runs as, and root, can
// connect. There is no other authentication: gRPC 1.51 gives neither services nor
// AuthMetadataProcessors (which insecure credentials do not run) the peer's SO_PEERCRED, so the
// file permissions are the access control. A data directory that group or others may enter is
// logged as a warning at start (during the instant between bind and chmod, only the directory
// protects the socket).
//
// Start(): a socket file left by a ccfd that died (nobody accepts on it) is removed. Errors:
// FailedPrecondition when a process already serves the socket (another ccfd on the same
// data_dir) or a file that is not a socket has its name; Internal when gRPC cannot listen;
// those of AdminSocket (admin_socket.h) otherwise. Shutdown() waits up to 2 seconds for calls in
// flight, then removes the socket file.
//
// RPC status codes: INVALID_ARGUMENT for out-of-range fields; otherwise those of the stores and
// keyring (UNAVAILABLE when the database is busy, DATA_LOSS, INTERNAL).
// Thread-safe. The stores, keyring and clock in the config must outlive the server.
#ifndef CAPIF_CCF_DAEMON_ADMIN_SERVICE_H_
#define CAPIF_CCF_DAEMON_ADMIN_SERVICE_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "ccf/store/remote_grants.h"
#include "ccf/store/stores.h"
#include "ccf/core/token_keyring.h"
#include "common/clock.h"

namespace capif {

struct AdminServiceConfig {
  // Answered by Status().
  std::string ccf_id;
  std::string api_root;
  int schema_version = 0;
  // Enrollment tokens are issued into this store (digests only).
  EnrollmentTokenStore* enrollment_tokens = nullptr;
  // The running CCF's keyring: RotateTokenKey rotates it.
  TokenKeyring* keyring = nullptr;
  NoticeOutbox* outbox = nullptr;
  RemoteGrantRepository* grants = nullptr;
  // Called after DropGrants once per invoker whose grants it removed, to forget what the CCF
  // cached of that invoker (may be empty).
  std::function<void(const std::string& api_invoker_id)> forget_invoker;
  // Called after RotateTokenKey rotated the keys (replicas on the same database reload them).
  std::function<void()> token_keys_rotated;
  const Clock* clock = &Clock::Real();
};

class AdminServer {
 public:
  // Serves on <data_dir>/admin.sock; `data_dir` must exist.
  static absl::StatusOr<std::unique_ptr<AdminServer>> Start(const std::string& data_dir,
                                                            AdminServiceConfig config);
  virtual ~AdminServer() = default;

  // "<data_dir>/admin.sock".
  virtual const std::string& socket_path() const = 0;
  // Stops serving and removes the socket file. Idempotent.
  virtual void Shutdown() = 0;
};

}  // namespace capif

#endif  // CAPIF_CCF_DAEMON_ADMIN_SERVICE_H_
