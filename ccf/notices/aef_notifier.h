// AefNotifier: tells an AEF of this CCF that an invoker's authorization is revoked, by calling
// its TS 29.222 AEF_Security_API: POST {apiRoot}/aef-security/v1/revoke-authorization with the
// RevokeAuthorizationReq of a kNoticeAefRevoke outbox notice (solution #17: after the invoker's
// home CCF announced an offboarding or revocation).
//
// Where: the AEF registers where it serves that API by publishing a service API whose AEF profile
// has an interfaceDescription; the first one (fqdn, ipv4Addr or ipv6Addr, and port) gives
// apiRoot = https://host:port. An AEF without one cannot be called: the notice is dropped
// (logged), the AEF still learns from its next GET trustedInvokers (404).
//
// Mutual TLS: this CCF presents its northbound certificate; the AEF must present a certificate
// of this trust domain naming spiffe://<domain>/aef/<aefId> (checked in the handshake).
// 200/204 = acknowledged; anything else is an error (the outbox retries).
#ifndef CAPIF_CCF_NOTICES_AEF_NOTIFIER_H_
#define CAPIF_CCF_NOTICES_AEF_NOTIFIER_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "ccf/store/service_apis.h"
#include "ccf/store/stores.h"
#include "common/secret_bytes.h"

namespace capif {

inline constexpr char kRevokeAuthorizationPath[] = "/aef-security/v1/revoke-authorization";

class AefNotifier {
 public:
  struct Options {
    std::string trust_domain;
    std::string ca_pem;           // this domain's roots
    std::string client_cert_pem;  // the CCF's northbound certificate (chain)
    SecretBytes client_key_pem;
    absl::Duration timeout = absl::Seconds(5);
  };
  AefNotifier(ServiceApiRepository* service_apis, Options options)
      : service_apis_(service_apis), options_(std::move(options)) {}

  absl::Status Deliver(const OutboundNotice& notice);

 private:
  ServiceApiRepository* const service_apis_;
  const Options options_;
};

}  // namespace capif

#endif  // CAPIF_CCF_NOTICES_AEF_NOTIFIER_H_
