// A leaf certificate and its key from a test CA: `uri` as the SPIFFE id, valid for "localhost"
// and 127.0.0.1 for an hour (tests only: no checks on the request).
//
//   TestCredential server = IssueTestCredential(ca, "spiffe://a.example/ccf/ccf-a");
#ifndef CAPIF_COMMON_TESTING_TEST_CREDENTIAL_H_
#define CAPIF_COMMON_TESTING_TEST_CREDENTIAL_H_

#include <string>
#include <utility>

#include "common/certificate_authority.h"
#include "common/clock.h"
#include "common/evp_key.h"
#include "common/ids.h"
#include "common/x509_cert.h"

namespace capif {

struct TestCredential {
  X509Cert cert;
  EvpKey key;
};

inline TestCredential IssueTestCredential(const CertificateAuthority& ca, const std::string& uri) {
  EvpKey key = *EvpKey::GenerateEcP256();
  X509Cert cert = *ca.IssueUncheckedForTesting(
      {*SpiffeId::Parse(uri), &key, {"localhost"}, {"127.0.0.1"}, absl::Hours(1)}, Clock::Real());
  return {std::move(cert), std::move(key)};
}

}  // namespace capif

#endif  // CAPIF_COMMON_TESTING_TEST_CREDENTIAL_H_
