// JWS/JWT verification (common/jws) as the token endpoint sees a client assertion and an AEF
// an access token, and a peer's JWK Set as the bus delivers it.
// The first byte picks the part: 0-127 the input is a compact token verified against a fixed
// key (it can never verify: nobody but this process holds the key); 128-191 the rest is a
// claims set, signed with that key and verified (what verifies carries those claims); 192-255
// the rest is a JWK Set document.
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/fake_clock.h"
#include "common/jws.h"
#include "common/strict_json.h"
#include "fuzz/fuzz_check.h"

namespace {

struct Keys {
  capif::FakeClock clock;
  capif::JwkSet jwks;
  std::optional<capif::JwsSigner> signer;
  Keys() {
    auto key = capif::EvpKey::GenerateEcP256();
    FUZZ_CHECK(key.ok(), "key generation");
    FUZZ_CHECK(jwks.Add("k1", *key).ok(), "key added");
    auto s = capif::JwsSigner::Create(*std::move(key), "k1");
    FUZZ_CHECK(s.ok(), "signer");
    signer.emplace(*std::move(s));
  }
};

const Keys& TheKeys() {
  static const Keys* keys = new Keys();
  return *keys;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const Keys& keys = TheKeys();
  absl::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  capif::JwtValidator::Options options;
  options.typ = "JWT";
  options.audience = "ccf-a";
  capif::JwtValidator validator(options, keys.clock);
  if (data[0] < 128) {
    auto verified = validator.Verify(rest, keys.jwks);
    FUZZ_CHECK(!verified.ok(), "a token this process did not sign never verifies");
    FUZZ_CHECK(verified.status().code() == absl::StatusCode::kUnauthenticated, "refusals are 401");
  } else if (data[0] < 192) {
    auto claims = capif::ParseStrictJson(rest);
    if (!claims.ok() || !claims->is_object()) return 0;
    auto token = keys.signer->Sign("JWT", *claims);
    if (!token.ok()) return 0;
    auto verified = validator.Verify(*token, keys.jwks);
    if (verified.ok()) {
      FUZZ_CHECK(verified->claims == *claims, "verified claims are the signed ones");
      FUZZ_CHECK(verified->expires_at > keys.clock.Now() - absl::Seconds(30), "not expired");
    } else {
      FUZZ_CHECK(verified.status().code() == absl::StatusCode::kUnauthenticated, "refusals are 401");
    }
  } else {
    auto set = capif::JwkSet::FromJson(rest);
    if (set.ok()) {
      auto again = capif::JwkSet::FromJson(set->ToJson().dump());
      FUZZ_CHECK(again.ok() && again->size() == set->size(), "a set serializes to itself");
    } else {
      FUZZ_CHECK(set.status().code() == absl::StatusCode::kInvalidArgument, "refusals are 400");
    }
  }
  return 0;
}
