// Storage interfaces of the CCF core. Implementations: SQLite (sqlite_stores.h), the embedded
// default; tests may use them on a file under TEST_TMPDIR.
//
// Every write is durable when the call returns. Errors: AlreadyExists for a duplicate key,
// Unavailable when the database is busy (retry), Internal otherwise. Records never carry
// plaintext secrets: onboarding secrets are stored as salted HMAC-SHA-256 digests, enrollment
// tokens as SHA-256 digests, AEFPSKs sealed under the key-encryption key. Implementations are thread-safe.
#ifndef CAPIF_CCF_STORES_H_
#define CAPIF_CCF_STORES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/ids.h"

namespace capif {

// A notice to a peer CCF or an AEF, kept in the CCF database until its destination acknowledges
// it (the durable outbox of TR 33.700-22 solution #17). Written in the same transaction as the
// change it announces, so a crash never loses one.
struct OutboundNotice {
  std::string notice_id;    // unique; enqueueing an id again is a no-op
  std::string destination;  // a peer's CCF id (peer kinds) or an AEF id (kNoticeAefRevoke)
  std::string kind;         // one of the kNotice* names
  std::string payload;      // kind-specific, see below
  absl::Time created;
  // Delivery state.
  int attempts = 0;
  absl::Time next_attempt;
  std::string last_error;
  // The invoker the notice is about (for operators: `capifctl notices`).
  std::string api_invoker_id;
  // When it was given up (dead letter: older than the dispatcher's dead_letter_after without an
  // acknowledgement); InfinitePast while it is still being delivered. Kept until removed by hand.
  absl::Time dead_since = absl::InfinitePast();

  bool dead() const { return dead_since != absl::InfinitePast(); }
};

// Payload: a serialized capif.federation.v1.OffboardingNotice (header left empty).
inline constexpr char kNoticeOffboarding[] = "offboarding";
// Payload: a serialized capif.federation.v1.RevocationNotice (header left empty).
inline constexpr char kNoticeRevocation[] = "revocation";
// Payload: a serialized capif.federation.v1.SecurityMethodConfirmation (header left empty).
inline constexpr char kNoticeGrantConfirmation[] = "grant-confirmation";
// Payload: the TS 29.222 RevokeAuthorizationReq (JSON) for the AEF's AEF Security API.
inline constexpr char kNoticeAefRevoke[] = "aef-revoke";

class NoticeOutbox {
 public:
  virtual ~NoticeOutbox() = default;
  virtual absl::Status Enqueue(const std::vector<OutboundNotice>& notices) = 0;
  // Live notices whose next attempt is due at `now` and that nobody has claimed, oldest first,
  // (claims are recorded with the outbox's claimer: one id per replica, kept across restarts),
  // at most `limit`, claimed until `lease_until`: no other Claim (another dispatcher on the
  // same database: another replica) returns them before then. Delivered, Failed and Release
  // end a claim; a claimer that dies leaves its notices due again at `lease_until`.
  virtual absl::StatusOr<std::vector<OutboundNotice>> Claim(absl::Time now, int limit,
                                                            absl::Time lease_until) = 0;
  // The claim on a notice given back without an attempt (it is due as it was before).
  virtual absl::Status Release(const std::string& notice_id) = 0;
  // Every claim this claimer holds given back: what a replica killed mid-pass left, taken back
  // when it starts again (instead of waiting for the lease), never another replica's.
  virtual absl::Status ReleaseOwnClaims() = 0;
  // Acknowledged: removed. OK if already gone.
  virtual absl::Status Delivered(const std::string& notice_id) = 0;
  // One more failed attempt; the next one at `next_attempt`; the claim ends.
  virtual absl::Status Failed(const std::string& notice_id, absl::Time next_attempt,
                              const std::string& error) = 0;
  // Every live notice to `destination` due before `next_attempt` waits until then (the
  // destination is failing: one attempt per backoff for all of them, not one per notice).
  virtual absl::Status Postpone(const std::string& destination, absl::Time next_attempt) = 0;
  // Live notices created before `created_before` become dead letters (dead_since = `now`): no
  // more attempts. Returns them.
  virtual absl::StatusOr<std::vector<OutboundNotice>> DeadLetter(absl::Time created_before,
                                                                 absl::Time now) = 0;
  // Everything not acknowledged, dead letters included, oldest first.
  virtual absl::StatusOr<std::vector<OutboundNotice>> Pending() = 0;
};

// The members of a TS 29.222 InterfaceDescription an entry can be asked by.
struct InterfaceAddress {
  std::optional<std::string> ipv4_addr;
  std::optional<std::string> ipv6_addr;
  std::optional<std::string> fqdn;
  std::optional<int64_t> port;
  std::optional<std::string> api_prefix;

  bool operator==(const InterfaceAddress& o) const {
    return ipv4_addr == o.ipv4_addr && ipv6_addr == o.ipv6_addr && fqdn == o.fqdn &&
           port == o.port && api_prefix == o.api_prefix;
  }
};

// An onboarded invoker: its TS 29.222 APIInvokerEnrolmentDetails as last accepted (without the
// onboardingSecret, of which only a digest is kept).
struct InvokerRecord {
  ApiInvokerId id;
  std::string public_key_pem;   // onboardingInformation.apiInvokerPublicKey as sent
  std::string certificate_pem;  // onboardingInformation.apiInvokerCertificate as issued
  std::string notification_destination;
  std::optional<bool> request_test_notification;
  std::optional<std::string> websocket_uri;  // websockNotifConfig
  std::optional<bool> request_websocket_uri;
  std::optional<std::string> api_invoker_information;
  std::optional<std::string> supported_features;
  // The APIList the invoker sent, as sent: returned to it, never read by the CCF.
  std::optional<std::string> api_list;
  std::string secret_salt;    // 16 random bytes
  std::string secret_digest;  // HMAC-SHA-256(salt, onboardingSecret)
  absl::Time created;
};

class InvokerStore {
 public:
  virtual ~InvokerStore() = default;
  virtual absl::Status Insert(const InvokerRecord& record) = 0;
  // NotFound if absent.
  virtual absl::Status Update(const InvokerRecord& record) = 0;
  virtual absl::StatusOr<std::optional<InvokerRecord>> Get(const ApiInvokerId& id) = 0;
  // Deletes the invoker and everything derived from it (its security context included), and
  // enqueues `notices` in the outbox in the same transaction, if its security context is still at
  // `context_version` (0: it has none), else Aborted. NotFound (and nothing enqueued) if absent.
  virtual absl::Status Delete(const ApiInvokerId& id, const std::vector<OutboundNotice>& notices,
                              int64_t context_version) = 0;
};

// One-time enrollment credentials: for invoker onboarding (`capifctl enroll-invoker`) and for
// API provider domain registration, as regSec (`capifctl enroll-provider`).
enum class EnrollmentPurpose { kInvoker, kProvider };

class EnrollmentTokenStore {
 public:
  virtual ~EnrollmentTokenStore() = default;
  virtual absl::Status Add(const std::string& token_digest, EnrollmentPurpose purpose,
                           absl::Time expires) = 0;
  // Removes the token and returns OK if it exists for `purpose` and has not expired at `now`;
  // Unauthenticated otherwise (expired tokens are removed too).
  virtual absl::Status Consume(const std::string& token_digest, EnrollmentPurpose purpose,
                               absl::Time now) = 0;
};

}  // namespace capif

#endif  // CAPIF_CCF_STORES_H_
