// Compact JWS / JWT (RFC 7515, 7519, 9068, 8725) with ES256 only, on OpenSSL 3 EVP.
//
// Signing:
//   ASSIGN_OR_RETURN(JwsSigner signer, JwsSigner::Create(std::move(p256_key), "key-2026-11"));
//   ASSIGN_OR_RETURN(std::string token, signer.Sign("at+jwt", claims_json));
//
// Verifying: a JwtValidator built once, used for many tokens, against a JwkSet of public keys.
//   JwtValidator::Options options;
//   options.typ = "at+jwt";
//   options.issuer = "ccf-a";
//   options.audience = "aef-1";
//   JwtValidator validator(options, clock);
//   ASSIGN_OR_RETURN(VerifiedJwt jwt, validator.Verify(token, jwks));
//
// Security contract of Verify(), in order:
//   - exactly three base64url segments (strict alphabet, no padding);
//   - header and claims are JSON objects without duplicate member names;
//   - header "alg" is exactly "ES256" ("none", HS*, RS*, anything else: refused), no "crit";
//   - header "kid" names a key in the JwkSet; the key is EC P-256 and declared for ES256;
//   - header "typ" equals Options::typ when set;
//   - the signature is exactly 64 bytes (r || s); DER or truncated signatures are refused;
//   - "exp" and "iat" are required numbers; now < exp + leeway; iat <= now + leeway;
//     "nbf", when present, <= now + leeway;
//   - "iss" equals Options::issuer when set;
//   - "aud" contains Options::audience when set; with Options::audience_must_be_string an array
//     is refused even if it contains the audience.
// Every failure is Unauthenticated with a short reason fit for logs (never the token).
// All classes are immutable after construction and thread-safe.
#ifndef CAPIF_COMMON_JWS_H_
#define CAPIF_COMMON_JWS_H_

#include <nlohmann/json.hpp>

#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/evp_key.h"

namespace capif {

class JwsSigner {
 public:
  // InvalidArgument unless `key` is an EC P-256 private key and `kid` is non-empty.
  static absl::StatusOr<JwsSigner> Create(EvpKey key, std::string kid);

  // Header {"alg":"ES256","typ":typ,"kid":kid}; `claims` must be a JSON object.
  absl::StatusOr<std::string> Sign(absl::string_view typ, const nlohmann::json& claims) const;

  const std::string& kid() const { return kid_; }
  const EvpKey& key() const { return *key_; }

 private:
  JwsSigner(std::shared_ptr<EvpKey> key, std::string kid)
      : key_(std::move(key)), kid_(std::move(kid)) {}
  std::shared_ptr<EvpKey> key_;
  std::string kid_;
};

// Public verification keys by kid (RFC 7517 JWK Set, EC P-256 keys only).
class JwkSet {
 public:
  // InvalidArgument for a malformed set, a non-P-256 key, a point not on the curve, a missing
  // or duplicate kid, or an "alg" other than ES256.
  static absl::StatusOr<JwkSet> FromJson(absl::string_view jwks_json);

  // InvalidArgument if `kid` is empty or already present, or `key` is not EC P-256.
  absl::Status Add(const std::string& kid, const EvpKey& key);
  const EvpKey* Find(absl::string_view kid) const;
  // The key of a set of one; nullptr otherwise.
  const EvpKey* Only() const;
  // {"keys":[{"kty":"EC","crv":"P-256","x":..,"y":..,"kid":..,"alg":"ES256","use":"sig"},..]}
  nlohmann::json ToJson() const;
  size_t size() const { return keys_.size(); }

 private:
  std::map<std::string, std::shared_ptr<EvpKey>, std::less<>> keys_;
};

struct VerifiedJwt {
  nlohmann::json header;
  nlohmann::json claims;
  // The "iat" and "exp" claims (NumericDate, fractions of a second kept to the microsecond).
  absl::Time issued_at;
  absl::Time expires_at;
};

// A NumericDate (RFC 7519) to the microsecond: an integer when `t` is a whole second, else a
// number with a fraction. Used for "iat", so "issued before a revocation" is exact.
nlohmann::json NumericDateOf(absl::Time t);

class JwtValidator {
 public:
  struct Options {
    std::string typ;       // required "typ" header value; empty = not checked
    std::string issuer;    // required "iss"; empty = not checked
    std::string audience;  // required in "aud"; empty = not checked
    bool audience_must_be_string = false;
    absl::Duration leeway = absl::Seconds(30);
    // "typ" may be absent (RFC 7523 client assertions); when present it must still be `typ`
    // (compared case-insensitively, as media types are).
    bool typ_optional = false;
    // A token without "kid" is verified with the set's only key (a set of one, such as the key
    // of the certificate presented with an assertion); with several keys it is refused.
    bool kid_optional = false;
  };

  JwtValidator(Options options, const Clock& clock) : options_(std::move(options)), clock_(clock) {}

  absl::StatusOr<VerifiedJwt> Verify(absl::string_view token, const JwkSet& keys) const;

 private:
  Options options_;
  const Clock& clock_;
};

// ES256 signature conversions (exposed for tests and for TLS/JOSE interop).
absl::StatusOr<std::string> EcdsaDerToRaw(absl::string_view der);   // -> 64 bytes r || s
absl::StatusOr<std::string> EcdsaRawToDer(absl::string_view raw);   // 64 bytes -> DER

}  // namespace capif

#endif  // CAPIF_COMMON_JWS_H_
