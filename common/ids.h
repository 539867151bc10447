// Strong identifier types and SPIFFE-style identities.
//
// Ids of different kinds (CCF, AEF, API invoker, trust domain) are distinct types so they cannot be
// swapped by accident. A SpiffeId is the identity carried in a certificate's single URI SAN:
//
//   spiffe://<trust-domain>/<kind>/<id>     kind: ccf | aef | invoker | apf | amf
//
//   ASSIGN_OR_RETURN(SpiffeId id, SpiffeId::Parse("spiffe://operator-a.example/ccf/ccf-a"));
//   id.trust_domain().value() == "operator-a.example"; id.kind() == SpiffeId::Kind::kCcf
//
// Parse() returns InvalidArgument with the reason for anything else. Immutable; thread-safe.
#ifndef CAPIF_COMMON_IDS_H_
#define CAPIF_COMMON_IDS_H_

#include <ostream>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace capif {

template <typename Tag>
class StrongId {
 public:
  StrongId() = default;
  explicit StrongId(std::string value) : value_(std::move(value)) {}

  const std::string& value() const { return value_; }
  bool empty() const { return value_.empty(); }

  friend bool operator==(const StrongId& a, const StrongId& b) { return a.value_ == b.value_; }
  friend bool operator!=(const StrongId& a, const StrongId& b) { return a.value_ != b.value_; }
  friend bool operator<(const StrongId& a, const StrongId& b) { return a.value_ < b.value_; }
  template <typename H>
  friend H AbslHashValue(H h, const StrongId& id) {
    return H::combine(std::move(h), id.value_);
  }
  friend std::ostream& operator<<(std::ostream& os, const StrongId& id) { return os << id.value_; }

 private:
  std::string value_;
};

using CcfId = StrongId<struct CcfIdTag>;
using AefId = StrongId<struct AefIdTag>;
using ApiInvokerId = StrongId<struct ApiInvokerIdTag>;
using TrustDomain = StrongId<struct TrustDomainTag>;

// True if `s` is a valid id segment: 1..128 chars of [A-Za-z0-9._-], not "." or "..".
bool IsValidIdSegment(absl::string_view s);

// True if `s` is a valid trust domain: 1..255 chars of [a-z0-9.-_], as SPIFFE requires.
bool IsValidTrustDomain(absl::string_view s);

class SpiffeId {
 public:
  enum class Kind { kCcf, kAef, kInvoker, kApf, kAmf };

  static absl::StatusOr<SpiffeId> Parse(absl::string_view uri);
  // InvalidArgument if the trust domain or id is not valid.
  static absl::StatusOr<SpiffeId> Create(const TrustDomain& trust_domain, Kind kind,
                                         absl::string_view id);

  const TrustDomain& trust_domain() const { return trust_domain_; }
  Kind kind() const { return kind_; }
  // The last path segment: the CCF id, AEF id, invoker id, ...
  const std::string& id() const { return id_; }
  std::string ToString() const;

  friend bool operator==(const SpiffeId& a, const SpiffeId& b) {
    return a.trust_domain_ == b.trust_domain_ && a.kind_ == b.kind_ && a.id_ == b.id_;
  }
  friend bool operator!=(const SpiffeId& a, const SpiffeId& b) { return !(a == b); }

 private:
  SpiffeId(TrustDomain td, Kind kind, std::string id)
      : trust_domain_(std::move(td)), kind_(kind), id_(std::move(id)) {}

  TrustDomain trust_domain_;
  Kind kind_;
  std::string id_;
};

absl::string_view KindName(SpiffeId::Kind kind);

}  // namespace capif

#endif  // CAPIF_COMMON_IDS_H_
