// Storage interfaces of the CCF core. Implementations: SQLite (sqlite_stores.h), the embedded
// default; tests may use them on a file under TEST_TMPDIR.
//
// Every write is durable when the call returns. Errors: AlreadyExists for a duplicate key,
// Unavailable when the database is busy (retry), Internal otherwise. Records never carry
// plaintext secrets: onboarding secrets are stored as salted HMAC-SHA-256 digests, enrollment
// tokens as SHA-256 digests. Implementations are thread-safe.
#ifndef CAPIF_CCF_STORES_H_
#define CAPIF_CCF_STORES_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/ids.h"

namespace capif {

struct InvokerRecord {
  ApiInvokerId id;
  // The APIInvokerEnrolmentDetails as last returned to the invoker, without onboardingSecret.
  std::string enrolment_json;
  std::string certificate_pem;
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
  // Deletes the invoker and everything derived from it. NotFound if absent.
  virtual absl::Status Delete(const ApiInvokerId& id) = 0;
};

// One-time enrollment credentials for invoker onboarding (issued by `capifctl enroll-invoker`).
class EnrollmentTokenStore {
 public:
  virtual ~EnrollmentTokenStore() = default;
  virtual absl::Status Add(const std::string& token_digest, absl::Time expires) = 0;
  // Removes the token and returns OK if it exists and has not expired at `now`;
  // Unauthenticated otherwise (expired tokens are removed too).
  virtual absl::Status Consume(const std::string& token_digest, absl::Time now) = 0;
};

}  // namespace capif

#endif  // CAPIF_CCF_STORES_H_
