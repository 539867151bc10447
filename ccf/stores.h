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
#include <vector>

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

// TS 29.222 resources kept as their JSON representation: provider registrations and functions,
// published service APIs, security contexts. `owner` is the id the resource belongs to (the
// provider domain of a function, the APF of a service API, the invoker of a security context);
// deleting an invoker deletes every resource it owns.
struct Resource {
  std::string kind;  // one of the kResource* names
  std::string id;
  std::string owner;
  std::string json;
};

inline constexpr char kResourceProviderDomain[] = "provider-domain";
inline constexpr char kResourceProviderFunction[] = "provider-function";
inline constexpr char kResourceServiceApi[] = "service-api";
inline constexpr char kResourceSecurityContext[] = "security-context";
// Private members of a stored security-context entry (never returned to invokers).
inline constexpr char kEntryPskMember[] = "_aefPsk";              // AEFPSK, lower-case hex
inline constexpr char kEntryPskExpiresMember[] = "_aefPskExpires";  // Unix seconds
inline constexpr char kEntryAefCcfMember[] = "_aefCcfId";          // peer CCF of a remote AEF
// A peer CCF's invoker allowed to use one of this CCF's AEFs (CAPIF interconnection).
inline constexpr char kResourceRemoteGrant[] = "remote-grant";

class ResourceStore {
 public:
  virtual ~ResourceStore() = default;
  // AlreadyExists if (kind, id) exists.
  virtual absl::Status Insert(const Resource& r) = 0;
  // NotFound if absent. The owner does not change.
  virtual absl::Status Update(const Resource& r) = 0;
  virtual absl::StatusOr<std::optional<Resource>> Get(absl::string_view kind,
                                                      absl::string_view id) = 0;
  // All of `kind`, or only those of `owner` when it is not empty; ordered by id.
  virtual absl::StatusOr<std::vector<Resource>> List(absl::string_view kind,
                                                     absl::string_view owner = "") = 0;
  // NotFound if absent. Also deletes the resources it owns (e.g. a domain's functions).
  virtual absl::Status Delete(absl::string_view kind, absl::string_view id) = 0;
};

}  // namespace capif

#endif  // CAPIF_CCF_STORES_H_
