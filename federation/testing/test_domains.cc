#include "federation/testing/test_domains.h"

#include <cstdlib>

namespace capif {
namespace {

template <typename T>
T OrDie(absl::StatusOr<T> v) {
  if (!v.ok()) {
    fprintf(stderr, "test fixture failure: %s\n", std::string(v.status().message()).c_str());
    std::abort();
  }
  return *std::move(v);
}

}  // namespace

const CertificateAuthority& TestDomains::Ca(const std::string& trust_domain) {
  auto it = cas_.find(trust_domain);
  if (it == cas_.end()) {
    it = cas_.emplace(trust_domain, OrDie(CertificateAuthority::CreateRoot(
                                        TrustDomain(trust_domain), clock_, absl::Hours(24 * 30))))
             .first;
  }
  return it->second;
}

TestDomains::Credential TestDomains::Issue(const std::string& signing_domain,
                                           const std::string& uri, absl::Duration validity) {
  EvpKey key = OrDie(EvpKey::GenerateEcP256());
  LeafRequest req{OrDie(SpiffeId::Parse(uri)), &key, {"localhost"}, {"127.0.0.1"}, validity};
  X509Cert leaf = OrDie(Ca(signing_domain).IssueUncheckedForTesting(req, clock_));
  return Credential{OrDie(leaf.ToPem()), OrDie(key.PrivateKeyPem())};
}

BusIdentity TestDomains::IdentityWith(const std::string& trust_domain, const std::string& ccf_id,
                                      Credential cred) {
  BusIdentity id;
  id.ccf_id = CcfId(ccf_id);
  id.trust_domain = TrustDomain(trust_domain);
  id.certificate_chain_pem = std::move(cred.chain_pem);
  id.private_key_pem = std::move(cred.key_pem);
  id.own_trust_bundle = OrDie(TrustBundle::FromPem(OrDie(Ca(trust_domain).certificate().ToPem())));
  return id;
}

BusIdentity TestDomains::Identity(const std::string& trust_domain, const std::string& ccf_id) {
  return IdentityWith(trust_domain, ccf_id,
                      Issue(trust_domain, "spiffe://" + trust_domain + "/ccf/" + ccf_id));
}

Peer TestDomains::PeerFor(const std::string& trust_domain, const std::string& ccf_id,
                          const std::string& endpoint,
                          std::set<capif::federation::v1::Operation> operations) {
  Agreement agreement;
  agreement.operations = std::move(operations);
  return Peer{CcfId(ccf_id),
              TrustDomain(trust_domain),
              endpoint,
              OrDie(TrustBundle::FromPem(OrDie(Ca(trust_domain).certificate().ToPem()))),
              PeerRelation::kCapif6e,
              std::move(agreement)};
}

}  // namespace capif
