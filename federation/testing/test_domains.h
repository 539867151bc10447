// Test fixture: trust domains with root CAs, CCF identities issued in them, and peers built from
// them, all in memory. testonly.
//
//   TestDomains d(clock);
//   BusIdentity a = d.Identity("a.example", "ccf-a");
//   Peer b = d.PeerFor("b.example", "ccf-b", "127.0.0.1:1234", {OPERATION_NOTIFY_OFFBOARDING});
#ifndef CAPIF_FEDERATION_TESTING_TEST_DOMAINS_H_
#define CAPIF_FEDERATION_TESTING_TEST_DOMAINS_H_

#include <map>
#include <set>
#include <string>

#include "common/certificate_authority.h"
#include "common/clock.h"
#include "federation/peer.h"

namespace capif {

class TestDomains {
 public:
  explicit TestDomains(const Clock& clock) : clock_(clock) {}

  // The root CA of `trust_domain`, created on first use.
  const CertificateAuthority& Ca(const std::string& trust_domain);

  // A certificate chain PEM + key for `uri`, signed by the CA of `signing_domain` whatever the
  // URI says (so tests can forge cross-domain certificates).
  struct Credential {
    std::string chain_pem;
    SecretBytes key_pem;
  };
  Credential Issue(const std::string& signing_domain, const std::string& uri,
                   absl::Duration validity = absl::Hours(24));

  BusIdentity Identity(const std::string& trust_domain, const std::string& ccf_id);
  // A BusIdentity whose certificate is `cred` (possibly forged), claiming `ccf_id`.
  BusIdentity IdentityWith(const std::string& trust_domain, const std::string& ccf_id,
                           Credential cred);

  Peer PeerFor(const std::string& trust_domain, const std::string& ccf_id,
               const std::string& endpoint,
               std::set<capif::federation::v1::Operation> operations = {});

 private:
  const Clock& clock_;
  std::map<std::string, CertificateAuthority> cas_;
};

}  // namespace capif

#endif  // CAPIF_FEDERATION_TESTING_TEST_DOMAINS_H_
