// Signs arbitrary JWS header and claims text with an ES256 key, for tests that craft tokens a
// JwsSigner would never make (hostile headers, no kid, no typ). testonly.
#ifndef CAPIF_COMMON_TESTING_RAW_JWS_H_
#define CAPIF_COMMON_TESTING_RAW_JWS_H_

#include <openssl/evp.h>

#include <string>

#include "common/base64url.h"
#include "common/evp_key.h"
#include "common/jws.h"

namespace capif {

// `header` and `claims` as given (not re-serialized); with `der_signature`, the signature is
// left in DER instead of JWS's raw r || s.
inline std::string SignRawJws(const EvpKey& key, const std::string& header,
                              const std::string& claims, bool der_signature = false) {
  std::string input = Base64UrlEncode(header) + "." + Base64UrlEncode(claims);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  size_t len = 0;
  EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key.get());
  EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                 input.size());
  std::string der(len, '\0');
  EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(&der[0]), &len,
                 reinterpret_cast<const unsigned char*>(input.data()), input.size());
  der.resize(len);
  EVP_MD_CTX_free(ctx);
  std::string sig = der_signature ? der : *EcdsaDerToRaw(der);
  return input + "." + Base64UrlEncode(sig);
}

}  // namespace capif

#endif  // CAPIF_COMMON_TESTING_RAW_JWS_H_
