#include "common/ids.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace capif {
namespace {

constexpr absl::string_view kScheme = "spiffe://";

bool ParseKind(absl::string_view s, SpiffeId::Kind* kind) {
  static constexpr struct {
    absl::string_view name;
    SpiffeId::Kind kind;
  } kKinds[] = {{"ccf", SpiffeId::Kind::kCcf},
                {"aef", SpiffeId::Kind::kAef},
                {"invoker", SpiffeId::Kind::kInvoker},
                {"apf", SpiffeId::Kind::kApf},
                {"amf", SpiffeId::Kind::kAmf}};
  for (const auto& k : kKinds) {
    if (s == k.name) {
      *kind = k.kind;
      return true;
    }
  }
  return false;
}

}  // namespace

bool IsValidIdSegment(absl::string_view s) {
  if (s.empty() || s.size() > 128 || s == "." || s == "..") return false;
  for (char c : s) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return false;
    }
  }
  return true;
}

bool IsValidTrustDomain(absl::string_view s) {
  if (s.empty() || s.size() > 255) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

absl::string_view KindName(SpiffeId::Kind kind) {
  switch (kind) {
    case SpiffeId::Kind::kCcf:
      return "ccf";
    case SpiffeId::Kind::kAef:
      return "aef";
    case SpiffeId::Kind::kInvoker:
      return "invoker";
    case SpiffeId::Kind::kApf:
      return "apf";
    case SpiffeId::Kind::kAmf:
      return "amf";
  }
  return "unknown";
}

absl::StatusOr<SpiffeId> SpiffeId::Parse(absl::string_view uri) {
  if (!absl::StartsWith(uri, kScheme)) {
    return absl::InvalidArgumentError(absl::StrCat("identity '", uri, "' is not a spiffe:// URI"));
  }
  absl::string_view rest = uri.substr(kScheme.size());
  std::vector<absl::string_view> parts = absl::StrSplit(rest, '/');
  if (parts.size() != 3) {
    return absl::InvalidArgumentError(absl::StrCat(
        "identity '", uri, "' must have the form spiffe://<trust-domain>/<kind>/<id>"));
  }
  if (!IsValidTrustDomain(parts[0])) {
    return absl::InvalidArgumentError(
        absl::StrCat("identity '", uri, "' has an invalid trust domain"));
  }
  Kind kind;
  if (!ParseKind(parts[1], &kind)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "identity '", uri, "' has unknown kind '", parts[1], "' (ccf, aef, invoker, apf, amf)"));
  }
  if (!IsValidIdSegment(parts[2])) {
    return absl::InvalidArgumentError(absl::StrCat("identity '", uri, "' has an invalid id"));
  }
  return SpiffeId(TrustDomain(std::string(parts[0])), kind, std::string(parts[2]));
}

absl::StatusOr<SpiffeId> SpiffeId::Create(const TrustDomain& trust_domain, Kind kind,
                                          absl::string_view id) {
  return Parse(absl::StrCat(kScheme, trust_domain.value(), "/", KindName(kind), "/", id));
}

std::string SpiffeId::ToString() const {
  return absl::StrCat(kScheme, trust_domain_.value(), "/", KindName(kind_), "/", id_);
}

}  // namespace capif
