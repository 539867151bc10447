#include "common/jws.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/param_build.h>

#include <cmath>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/base64url.h"
#include "common/openssl_error.h"
#include "common/status_macros.h"
#include "common/strict_json.h"

namespace capif {
namespace {

using nlohmann::json;

constexpr size_t kCoordinateBytes = 32;

absl::Status Refuse(absl::string_view why) {
  return absl::UnauthenticatedError(absl::StrCat("JWT refused: ", why));
}

bool IsP256(const EvpKey& key) {
  if (EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_EC) return false;
  char group[64] = {0};
  size_t len = 0;
  if (EVP_PKEY_get_utf8_string_param(key.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                     &len) != 1) {
    return false;
  }
  return absl::string_view(group, len) == "prime256v1" || absl::string_view(group, len) == "P-256";
}

absl::StatusOr<std::string> Coordinate(const EvpKey& key, const char* name) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(key.get(), name, &bn) != 1) return OpenSslError("reading EC point");
  std::string out(kCoordinateBytes, '\0');
  int rc = BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(&out[0]), kCoordinateBytes);
  BN_free(bn);
  if (rc != static_cast<int>(kCoordinateBytes)) return OpenSslError("encoding EC coordinate");
  return out;
}

absl::StatusOr<EvpKey> P256FromCoordinates(const std::string& x, const std::string& y) {
  if (x.size() != kCoordinateBytes || y.size() != kCoordinateBytes) {
    return absl::InvalidArgumentError("EC coordinates must be 32 bytes");
  }
  std::string point = "\x04" + x + y;
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  if (bld == nullptr) return OpenSslError("allocating params");
  OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0);
  OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size());
  OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
  OSSL_PARAM_BLD_free(bld);
  if (params == nullptr) return OpenSslError("building params");
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr);
  EVP_PKEY* pkey = nullptr;
  bool ok = ctx != nullptr && EVP_PKEY_fromdata_init(ctx) == 1 &&
            EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) == 1;
  OSSL_PARAM_free(params);
  EVP_PKEY_CTX_free(ctx);
  if (!ok || pkey == nullptr) {
    return OpenSslError("the JWK is not a valid P-256 public key",
                        absl::StatusCode::kInvalidArgument);
  }
  EvpKey key(pkey);
  // Refuse points that are not on the curve (invalid-curve attacks).
  EVP_PKEY_CTX* check = EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr);
  bool valid = check != nullptr && EVP_PKEY_public_check(check) == 1;
  EVP_PKEY_CTX_free(check);
  if (!valid) {
    return OpenSslError("the JWK point is not on P-256", absl::StatusCode::kInvalidArgument);
  }
  return key;
}

absl::StatusOr<std::string> SignDigest(const EvpKey& key, absl::string_view input) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (ctx == nullptr) return OpenSslError("allocating a digest context");
  size_t len = 0;
  std::string der;
  bool ok = EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key.get()) == 1 &&
            EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                           input.size()) == 1;
  if (ok) {
    der.resize(len);
    ok = EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(&der[0]), &len,
                        reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
    der.resize(len);
  }
  EVP_MD_CTX_free(ctx);
  if (!ok) return OpenSslError("signing");
  return EcdsaDerToRaw(der);
}

bool VerifyDigest(const EvpKey& key, absl::string_view input, absl::string_view raw_sig) {
  auto der = EcdsaRawToDer(raw_sig);
  if (!der.ok()) return false;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (ctx == nullptr) return false;
  bool ok = EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key.get()) == 1 &&
            EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(der->data()), der->size(),
                             reinterpret_cast<const unsigned char*>(input.data()),
                             input.size()) == 1;
  EVP_MD_CTX_free(ctx);
  ERR_clear_error();
  return ok;
}

// A NumericDate claim: a JSON number (integer or not), finite.
absl::StatusOr<absl::Time> NumericDate(const json& claims, const char* name, bool required) {
  auto it = claims.find(name);
  if (it == claims.end()) {
    if (required) return Refuse(absl::StrCat("\"", name, "\" is missing"));
    return absl::InfinitePast();
  }
  if (!it->is_number()) return Refuse(absl::StrCat("\"", name, "\" is not a number"));
  double seconds = it->get<double>();
  if (!(seconds > -1e12 && seconds < 1e12)) {
    return Refuse(absl::StrCat("\"", name, "\" is out of range"));
  }
  if (it->is_number_integer()) return absl::FromUnixSeconds(it->get<int64_t>());
  return absl::FromUnixMicros(std::llround(seconds * 1e6));
}

}  // namespace

json NumericDateOf(absl::Time t) {
  int64_t us = absl::ToUnixMicros(t);
  if (us % 1000000 == 0) return us / 1000000;
  return static_cast<double>(us) / 1e6;
}

absl::StatusOr<std::string> EcdsaDerToRaw(absl::string_view der) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
  if (sig == nullptr || p != reinterpret_cast<const unsigned char*>(der.data()) + der.size()) {
    ECDSA_SIG_free(sig);
    ERR_clear_error();
    return absl::InvalidArgumentError("not a DER ECDSA signature");
  }
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig, &r, &s);
  std::string raw(2 * kCoordinateBytes, '\0');
  unsigned char* out = reinterpret_cast<unsigned char*>(&raw[0]);
  bool ok = BN_bn2binpad(r, out, kCoordinateBytes) == kCoordinateBytes &&
            BN_bn2binpad(s, out + kCoordinateBytes, kCoordinateBytes) == kCoordinateBytes;
  ECDSA_SIG_free(sig);
  if (!ok) return absl::InvalidArgumentError("ECDSA signature values too large for P-256");
  return raw;
}

absl::StatusOr<std::string> EcdsaRawToDer(absl::string_view raw) {
  if (raw.size() != 2 * kCoordinateBytes) {
    return absl::InvalidArgumentError("an ES256 signature is exactly 64 bytes");
  }
  const unsigned char* in = reinterpret_cast<const unsigned char*>(raw.data());
  BIGNUM* r = BN_bin2bn(in, kCoordinateBytes, nullptr);
  BIGNUM* s = BN_bin2bn(in + kCoordinateBytes, kCoordinateBytes, nullptr);
  ECDSA_SIG* sig = ECDSA_SIG_new();
  if (r == nullptr || s == nullptr || sig == nullptr || ECDSA_SIG_set0(sig, r, s) != 1) {
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    return OpenSslError("building an ECDSA signature");
  }
  unsigned char* der = nullptr;
  int len = i2d_ECDSA_SIG(sig, &der);
  ECDSA_SIG_free(sig);
  if (len <= 0) return OpenSslError("encoding an ECDSA signature");
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return out;
}

absl::StatusOr<JwsSigner> JwsSigner::Create(EvpKey key, std::string kid) {
  if (kid.empty()) return absl::InvalidArgumentError("a signing key needs a kid");
  if (!IsP256(key)) return absl::InvalidArgumentError("ES256 needs an EC P-256 key");
  return JwsSigner(std::make_shared<EvpKey>(std::move(key)), std::move(kid));
}

absl::StatusOr<std::string> JwsSigner::Sign(absl::string_view typ, const json& claims) const {
  if (!claims.is_object()) return absl::InvalidArgumentError("JWT claims must be an object");
  json header = {{"alg", "ES256"}, {"kid", kid_}};
  if (!typ.empty()) header["typ"] = std::string(typ);
  std::string input =
      absl::StrCat(Base64UrlEncode(header.dump()), ".", Base64UrlEncode(claims.dump()));
  ASSIGN_OR_RETURN(std::string sig, SignDigest(*key_, input));
  return absl::StrCat(input, ".", Base64UrlEncode(sig));
}

absl::Status JwkSet::Add(const std::string& kid, const EvpKey& key) {
  if (kid.empty()) return absl::InvalidArgumentError("a JWK needs a kid");
  if (keys_.count(kid) > 0) {
    return absl::InvalidArgumentError(absl::StrCat("duplicate kid \"", kid, "\""));
  }
  if (!IsP256(key)) return absl::InvalidArgumentError("only EC P-256 keys are supported");
  // Keep only the public half.
  ASSIGN_OR_RETURN(std::string x, Coordinate(key, OSSL_PKEY_PARAM_EC_PUB_X));
  ASSIGN_OR_RETURN(std::string y, Coordinate(key, OSSL_PKEY_PARAM_EC_PUB_Y));
  ASSIGN_OR_RETURN(EvpKey pub, P256FromCoordinates(x, y));
  keys_.emplace(kid, std::make_shared<EvpKey>(std::move(pub)));
  return absl::OkStatus();
}

const EvpKey* JwkSet::Find(absl::string_view kid) const {
  auto it = keys_.find(kid);
  return it == keys_.end() ? nullptr : it->second.get();
}

const EvpKey* JwkSet::Only() const {
  return keys_.size() == 1 ? keys_.begin()->second.get() : nullptr;
}

json JwkSet::ToJson() const {
  json keys = json::array();
  for (const auto& [kid, key] : keys_) {
    auto x = Coordinate(*key, OSSL_PKEY_PARAM_EC_PUB_X);
    auto y = Coordinate(*key, OSSL_PKEY_PARAM_EC_PUB_Y);
    if (!x.ok() || !y.ok()) continue;
    keys.push_back({{"kty", "EC"},
                    {"crv", "P-256"},
                    {"x", Base64UrlEncode(*x)},
                    {"y", Base64UrlEncode(*y)},
                    {"kid", kid},
                    {"alg", "ES256"},
                    {"use", "sig"}});
  }
  return json{{"keys", keys}};
}

absl::StatusOr<JwkSet> JwkSet::FromJson(absl::string_view jwks_json) {
  ASSIGN_OR_RETURN(json doc, ParseStrictJson(jwks_json));
  if (!doc.is_object() || !doc.contains("keys") || !doc["keys"].is_array()) {
    return absl::InvalidArgumentError("a JWK Set is an object with a \"keys\" array");
  }
  JwkSet set;
  for (const json& k : doc["keys"]) {
    auto str = [&](const char* name) -> std::string {
      auto it = k.find(name);
      return it != k.end() && it->is_string() ? it->get<std::string>() : "";
    };
    if (!k.is_object() || str("kty") != "EC" || str("crv") != "P-256") {
      return absl::InvalidArgumentError("only EC P-256 JWKs are supported");
    }
    if (k.contains("alg") && str("alg") != "ES256") {
      return absl::InvalidArgumentError("a P-256 JWK must be for ES256");
    }
    if (k.contains("d")) return absl::InvalidArgumentError("a JWK Set must not hold private keys");
    auto x = Base64UrlDecode(str("x"));
    auto y = Base64UrlDecode(str("y"));
    if (!x.ok() || !y.ok()) return absl::InvalidArgumentError("bad JWK coordinates");
    ASSIGN_OR_RETURN(EvpKey key, P256FromCoordinates(*x, *y));
    RETURN_IF_ERROR(set.Add(str("kid"), key));
  }
  return set;
}

absl::StatusOr<VerifiedJwt> JwtValidator::Verify(absl::string_view token,
                                                 const JwkSet& keys) const {
  if (token.size() > 16 * 1024) return Refuse("token too large");
  std::vector<absl::string_view> parts = absl::StrSplit(token, '.');
  if (parts.size() != 3) return Refuse("not a compact JWS (three segments)");
  auto header_text = Base64UrlDecode(parts[0]);
  auto claims_text = Base64UrlDecode(parts[1]);
  auto sig = Base64UrlDecode(parts[2]);
  if (!header_text.ok() || !claims_text.ok() || !sig.ok()) return Refuse("bad base64url");

  auto header = ParseStrictJson(*header_text, 4);
  if (!header.ok()) return Refuse(absl::StrCat("header: ", header.status().message()));
  if (!header->is_object()) return Refuse("header is not an object");
  auto alg = header->find("alg");
  if (alg == header->end() || !alg->is_string() || alg->get<std::string>() != "ES256") {
    return Refuse("alg must be ES256");
  }
  if (header->contains("crit")) return Refuse("unsupported critical header");
  if (!options_.typ.empty()) {
    auto typ = header->find("typ");
    bool absent_ok = typ == header->end() && options_.typ_optional;
    if (!absent_ok && (typ == header->end() || !typ->is_string() ||
                       !absl::EqualsIgnoreCase(typ->get<std::string>(), options_.typ))) {
      return Refuse(absl::StrCat("typ must be ", options_.typ));
    }
  }
  auto kid = header->find("kid");
  const EvpKey* key = nullptr;
  if (kid == header->end() && options_.kid_optional) {
    if (keys.size() != 1) return Refuse("kid is missing");
    key = keys.Only();
  } else {
    if (kid == header->end() || !kid->is_string()) return Refuse("kid is missing");
    key = keys.Find(kid->get<std::string>());
    if (key == nullptr) return Refuse("unknown kid");
  }
  if (sig->size() != 2 * kCoordinateBytes) return Refuse("signature is not 64 bytes");
  absl::string_view signing_input = token.substr(0, parts[0].size() + 1 + parts[1].size());
  if (!VerifyDigest(*key, signing_input, *sig)) return Refuse("bad signature");

  auto claims = ParseStrictJson(*claims_text, 8);
  if (!claims.ok()) return Refuse(absl::StrCat("claims: ", claims.status().message()));
  if (!claims->is_object()) return Refuse("claims are not an object");
  absl::Time now = clock_.Now();
  ASSIGN_OR_RETURN(absl::Time exp, NumericDate(*claims, "exp", true));
  ASSIGN_OR_RETURN(absl::Time iat, NumericDate(*claims, "iat", true));
  ASSIGN_OR_RETURN(absl::Time nbf, NumericDate(*claims, "nbf", false));
  if (now >= exp + options_.leeway) return Refuse("expired");
  if (iat > now + options_.leeway) return Refuse("issued in the future");
  if (nbf > now + options_.leeway) return Refuse("not yet valid");
  if (!options_.issuer.empty()) {
    auto iss = claims->find("iss");
    if (iss == claims->end() || !iss->is_string() || iss->get<std::string>() != options_.issuer) {
      return Refuse("wrong issuer");
    }
  }
  if (!options_.audience.empty()) {
    auto aud = claims->find("aud");
    bool match = false;
    if (aud != claims->end() && aud->is_string()) {
      match = aud->get<std::string>() == options_.audience;
    } else if (aud != claims->end() && aud->is_array() && !options_.audience_must_be_string) {
      for (const json& a : *aud) match = match || (a.is_string() && a == options_.audience);
    }
    if (!match) return Refuse("wrong audience");
  }
  return VerifiedJwt{*std::move(header), *std::move(claims), iat, exp};
}

}  // namespace capif
