#include "federation/peer.h"

namespace capif {

namespace fv1 = capif::federation::v1;

absl::string_view RelationName(PeerRelation r) {
  return r == PeerRelation::kCapif6 ? "CAPIF-6" : "CAPIF-6e";
}

bool Agreement::Allows(fv1::Operation op) const {
  if (op == fv1::OPERATION_HELLO || op == fv1::OPERATION_GET_TRUST_BUNDLE) return true;
  return operations.count(op) > 0;
}

SpiffeId Peer::identity() const {
  // ccf_id and trust_domain were validated when the configuration was loaded.
  return *SpiffeId::Create(trust_domain, SpiffeId::Kind::kCcf, ccf_id.value());
}

std::vector<std::string> Peer::endpoints() const {
  std::vector<std::string> all = {endpoint};
  all.insert(all.end(), other_endpoints.begin(), other_endpoints.end());
  return all;
}

SpiffeId BusIdentity::identity() const {
  return *SpiffeId::Create(trust_domain, SpiffeId::Kind::kCcf, ccf_id.value());
}

absl::string_view SecurityMethodName(fv1::SecurityMethod m) {
  switch (m) {
    case fv1::SECURITY_METHOD_PSK:
      return "PSK";
    case fv1::SECURITY_METHOD_PKI:
      return "PKI";
    case fv1::SECURITY_METHOD_OAUTH:
      return "OAUTH";
    default:
      return "";
  }
}

fv1::SecurityMethod SecurityMethodFromName(absl::string_view name) {
  if (name == "PSK") return fv1::SECURITY_METHOD_PSK;
  if (name == "PKI") return fv1::SECURITY_METHOD_PKI;
  if (name == "OAUTH") return fv1::SECURITY_METHOD_OAUTH;
  return fv1::SECURITY_METHOD_UNSPECIFIED;
}

absl::string_view OperationName(fv1::Operation op) {
  const std::string& full = fv1::Operation_Name(op);
  absl::string_view name(full);
  constexpr absl::string_view kPrefix = "OPERATION_";
  if (name.substr(0, kPrefix.size()) == kPrefix) name.remove_prefix(kPrefix.size());
  return name;
}

bool ParseOperationName(absl::string_view name, fv1::Operation* op) {
  fv1::Operation parsed;
  if (!fv1::Operation_Parse(std::string("OPERATION_") + std::string(name), &parsed)) return false;
  if (parsed == fv1::OPERATION_UNSPECIFIED) return false;
  *op = parsed;
  return true;
}

}  // namespace capif
