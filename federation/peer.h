// The configured view of one CAPIF-6/6e peer CCF and of this CCF's own bus identity.
//
// A Peer is what the operator agreed with another CCF: who it is (CCF id in a trust domain), where
// it listens, which roots authenticate it (its own trust bundle, never merged with others), the
// relation (CAPIF-6 within one provider, CAPIF-6e across providers) and the agreement (which
// operations it may ask for, which APIs may be shared with it).
// Plain immutable data once built; safe to share across threads.
#ifndef CAPIF_FEDERATION_PEER_H_
#define CAPIF_FEDERATION_PEER_H_

#include <set>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/ids.h"
#include "common/secret_bytes.h"
#include "common/x509_cert.h"
#include "proto/interconnect.pb.h"

namespace capif {

enum class PeerRelation { kCapif6, kCapif6e };

absl::string_view RelationName(PeerRelation r);  // "CAPIF-6" / "CAPIF-6e"

struct Agreement {
  // Operations the peer may call. Hello and GetTrustBundle are always allowed.
  std::set<capif::federation::v1::Operation> operations;
  // TS 29.222 API names (ServiceAPIDescription.apiName) that may be shared with the peer.
  std::vector<std::string> shared_apis;
  // Cross-domain access tokens (TR 33.700-22 #24): false = the CCF of the AEFs issues them
  // (method 3, ForwardTokenRequest); true = the invoker's home CCF issues them and the AEFs'
  // CCF gives its AEFs the home CCF's keys from its bundle.
  bool home_issues_tokens = false;

  bool Allows(capif::federation::v1::Operation op) const;
};

struct Peer {
  CcfId ccf_id;
  TrustDomain trust_domain;
  std::string endpoint;  // host:port (the first, when the peer listens at several)
  TrustBundle trust_bundle;
  PeerRelation relation;
  Agreement agreement;
  // The peer's other bus endpoints: replicas of the same CCF identity (docs/deployment.md).
  // Calls are spread over those that answer and go to the others when one fails.
  std::vector<std::string> other_endpoints = {};

  // spiffe://<trust_domain>/ccf/<ccf_id>
  SpiffeId identity() const;
  // endpoint, then other_endpoints.
  std::vector<std::string> endpoints() const;
};

// This CCF's identity on the bus.
struct BusIdentity {
  CcfId ccf_id;
  TrustDomain trust_domain;
  std::string certificate_chain_pem;  // leaf first
  SecretBytes private_key_pem;
  TrustBundle own_trust_bundle;       // roots of our trust domain, served by GetTrustBundle
  uint64_t bundle_sequence = 1;
  uint32_t bundle_refresh_hint_seconds = 3600;

  SpiffeId identity() const;
};

// TS 29.222 SecurityMethod names ("PSK", "PKI", "OAUTH") <-> the bus enum. Unknown or
// unspecified map to "" and SECURITY_METHOD_UNSPECIFIED.
absl::string_view SecurityMethodName(capif::federation::v1::SecurityMethod m);
capif::federation::v1::SecurityMethod SecurityMethodFromName(absl::string_view name);

// The operation's name as written in configuration: the enum name without "OPERATION_".
absl::string_view OperationName(capif::federation::v1::Operation op);
// Inverse of OperationName; false if unknown.
bool ParseOperationName(absl::string_view name, capif::federation::v1::Operation* op);

}  // namespace capif

#endif  // CAPIF_FEDERATION_PEER_H_
