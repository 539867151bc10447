// TS 29.222 CAPIF_API_Invoker_Management_API (clause 8.1), /api-invoker-management/v1:
//
//   POST   /onboardedInvokers                 onboard (server-authenticated TLS; the request
//                                             carries "Authorization: Bearer <enrollment token>"
//                                             from `capifctl enroll-invoker`, usable once)
//   PUT    /onboardedInvokers/{onboardingId}  update (mutual TLS as that invoker)
//   PATCH  /onboardedInvokers/{onboardingId}  update by JSON Merge Patch (mutual TLS, the same)
//   DELETE /onboardedInvokers/{onboardingId}  offboard (mutual TLS as that invoker)
//
// Onboarding: onboardingInformation.apiInvokerPublicKey holds a PEM PKCS#10 CSR (its signature
// is checked: proof of possession) or a PEM public key. The CCF generates apiInvokerId,
// signs the key into apiInvokerCertificate with the domain CA (URI SAN
// spiffe://<trust-domain>/invoker/<apiInvokerId>), and generates onboardingSecret, which is
// returned once and stored only as a salted digest. onboardingId = apiInvokerId.
//
// Errors (ProblemDetails): 400 malformed/missing/wrong-typed fields (invalidParams names them),
// 401 no or bad enrollment token / no client certificate, 403 a caller acting on another
// invoker, 404 unknown invoker, 413/415 from the server. A refused request changes nothing.
// Thread-safe.
#ifndef CAPIF_CCF_API_INVOKER_MANAGEMENT_API_H_
#define CAPIF_CCF_API_INVOKER_MANAGEMENT_API_H_

#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "net/rest_router.h"
#include "net/rest_types.h"
#include "ccf/store/security_contexts.h"
#include "ccf/store/stores.h"
#include "common/certificate_authority.h"
#include "common/clock.h"
#include "common/secret_bytes.h"

namespace capif {

inline constexpr char kInvokerManagementRoot[] = "/api-invoker-management/v1";

struct InvokerManagementConfig {
  InvokerStore* invokers;
  EnrollmentTokenStore* enrollment_tokens;
  const CertificateAuthority* ca;
  const Clock* clock;
  std::string api_root;  // "https://host:port", for Location headers
  absl::Duration certificate_validity = absl::Hours(24 * 90);
  // CAPIF interconnection (optional): the invoker's security context tells which peers hold
  // state for it; offboarding enqueues an OffboardingNotice for each (peer_notices.h), and
  // `notices_enqueued` wakes whoever delivers them.
  // The invokers' security contexts (for the notices an offboarding owes; may be null).
  SecurityContextRepository* contexts = nullptr;
  std::function<void()> notices_enqueued;
};

class InvokerManagementApi {
 public:
  explicit InvokerManagementApi(InvokerManagementConfig config) : config_(std::move(config)) {}

  void RegisterRoutes(RestRouter& server);

  absl::StatusOr<RestResponse> Onboard(const RestRequest& req);
  absl::StatusOr<RestResponse> Update(const RestRequest& req);
  // PATCH: APIInvokerEnrolmentDetailsPatch as a JSON Merge Patch (application/merge-patch+json)
  // of the resource; the result is checked and stored as a PUT of it would be.
  absl::StatusOr<RestResponse> Patch(const RestRequest& req);
  absl::StatusOr<RestResponse> Offboard(const RestRequest& req);

 private:
  // The update of invoker `id` to the APIInvokerEnrolmentDetails `body` (PUT, and PATCH).
  absl::StatusOr<RestResponse> Replace(const ApiInvokerId& id, const nlohmann::json& body);
  InvokerManagementConfig config_;
};

// The members of an APIInvokerEnrolmentDetails body, validated, into `r` (all but the id, the
// certificate and the secret, which the CCF assigns); a bad member is a 400 naming it.
absl::Status ValidateEnrolment(const nlohmann::json& body, InvokerRecord* r);
// The APIInvokerEnrolmentDetails of an onboarded invoker (without onboardingSecret): the one
// conversion from the record to TS 29.222 JSON.
nlohmann::json EnrolmentJson(const InvokerRecord& r);

// Digest of an enrollment token as stored (SHA-256).
std::string EnrollmentTokenDigest(absl::string_view token);
// Salted digest of an onboarding secret as stored: HMAC-SHA-256(salt, secret).
std::string OnboardingSecretDigest(absl::string_view salt, const SecretBytes& secret);

// A new random enrollment token (base64url of 32 random bytes), stored as its digest.
absl::StatusOr<std::string> IssueEnrollmentToken(EnrollmentTokenStore& store,
                                                 EnrollmentPurpose purpose, absl::Time now,
                                                 absl::Duration ttl);

}  // namespace capif

#endif  // CAPIF_CCF_API_INVOKER_MANAGEMENT_API_H_
