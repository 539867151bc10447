#include "federation/peer_directory.h"

#include <openssl/x509v3.h>

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace capif {

absl::StatusOr<SpiffeId> CcfIdentityOf(const X509Cert& leaf) {
  std::vector<std::string> uris = leaf.UriSans();
  if (uris.size() != 1) {
    return absl::UnauthenticatedError(absl::StrCat(
        "the certificate must carry exactly one URI SAN, it carries ", uris.size()));
  }
  auto id = SpiffeId::Parse(uris[0]);
  if (!id.ok()) return absl::UnauthenticatedError(id.status().message());
  if (id->kind() != SpiffeId::Kind::kCcf) {
    return absl::UnauthenticatedError(
        absl::StrCat("identity ", uris[0], " is not a CCF identity (spiffe://<td>/ccf/<id>)"));
  }
  return *id;
}

PeerDirectory::PeerDirectory(std::vector<Peer> peers) : peers_(std::move(peers)) {
  for (size_t i = 0; i < peers_.size(); ++i) by_ccf_id_[peers_[i].ccf_id.value()] = i;
}

absl::StatusOr<std::shared_ptr<const PeerDirectory>> PeerDirectory::Create(
    std::vector<Peer> peers) {
  absl::flat_hash_map<std::string, bool> seen;
  for (const Peer& p : peers) {
    if (!seen.emplace(p.ccf_id.value(), true).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("peer '", p.ccf_id.value(), "' is configured twice"));
    }
  }
  return std::shared_ptr<const PeerDirectory>(new PeerDirectory(std::move(peers)));
}

const Peer* PeerDirectory::FindByCcfId(absl::string_view ccf_id) const {
  auto it = by_ccf_id_.find(ccf_id);
  return it == by_ccf_id_.end() ? nullptr : &peers_[it->second];
}

const Peer* PeerDirectory::FindByIdentity(const SpiffeId& id) const {
  if (id.kind() != SpiffeId::Kind::kCcf) return nullptr;
  const Peer* p = FindByCcfId(id.id());
  return p != nullptr && p->trust_domain == id.trust_domain() ? p : nullptr;
}

absl::StatusOr<std::vector<X509Cert>> PeerChainFromPem(absl::string_view chain_pem) {
  auto chain = X509Cert::ChainFromPem(chain_pem);
  if (!chain.ok() || chain->size() < 2) return chain;
  // Whatever order the TLS stack hands the chain in, the leaf is the one certificate that is
  // not a CA.
  auto leaf = std::find_if(chain->begin(), chain->end(),
                           [](const X509Cert& c) { return X509_check_ca(c.get()) == 0; });
  if (leaf != chain->end() && leaf != chain->begin()) std::rotate(chain->begin(), leaf, leaf + 1);
  return chain;
}

absl::StatusOr<const Peer*> PeerDirectory::AuthenticatePeer(absl::string_view chain_pem,
                                                            absl::Time now) const {
  auto chain = PeerChainFromPem(chain_pem);
  if (!chain.ok()) {
    return absl::UnauthenticatedError(
        absl::StrCat("unreadable peer certificate: ", chain.status().message()));
  }
  auto id = CcfIdentityOf((*chain)[0]);
  if (!id.ok()) return id.status();
  const Peer* peer = FindByIdentity(*id);
  if (peer == nullptr) {
    return absl::PermissionDeniedError(
        absl::StrCat(id->ToString(), " is not a configured peer"));
  }
  absl::Status verified = peer->trust_bundle.Verify(*chain, now);
  if (!verified.ok()) {
    return absl::UnauthenticatedError(absl::StrCat(
        id->ToString(), ": not valid in trust domain ", peer->trust_domain.value(), ": ",
        verified.message()));
  }
  return peer;
}

std::string PeerDirectory::AllRootsPem() const {
  std::string out;
  for (const Peer& p : peers_) {
    out += p.trust_bundle.pem();
    if (!out.empty() && out.back() != '\n') out += '\n';
  }
  return out;
}

}  // namespace capif
