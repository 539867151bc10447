// PEM input from onboarding and registration (apiInvokerPublicKey, apiProvPubKey: a PEM public
// key or CSR), certificate chains and trust bundles from peers (common/x509_cert,
// ccf/api/certification). The first byte picks the parser. Properties: no crash; refusals are
// 400; a certificate accepted re-encodes to a PEM that parses to the same certificate; a key
// accepted is certified by the CA.
#include <cstddef>
#include <cstdint>
#include <string>

#include "ccf/api/certification.h"
#include "common/certificate_authority.h"
#include "common/fake_clock.h"
#include "common/x509_cert.h"
#include "fuzz/fuzz_check.h"
#include "net/rest_types.h"

namespace {

struct Ca {
  capif::FakeClock clock;
  std::optional<capif::CertificateAuthority> ca;
  Ca() {
    auto root = capif::CertificateAuthority::CreateRoot(capif::TrustDomain("a.example"), clock,
                                                        absl::Hours(24));
    FUZZ_CHECK(root.ok(), "root CA");
    ca.emplace(*std::move(root));
  }
};

const Ca& TheCa() {
  static const Ca* ca = new Ca();
  return *ca;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0: {
      auto chain = capif::X509Cert::ChainFromPem(rest);
      if (!chain.ok()) {
        FUZZ_CHECK(chain.status().code() == absl::StatusCode::kInvalidArgument, "refusals are 400");
        break;
      }
      FUZZ_CHECK(!chain->empty(), "a chain has a certificate");
      auto pem = capif::ChainToPem(*chain);
      FUZZ_CHECK(pem.ok(), "an accepted chain re-encodes");
      auto again = capif::X509Cert::ChainFromPem(*pem);
      FUZZ_CHECK(again.ok() && again->size() == chain->size(), "and parses again");
      break;
    }
    case 1: {
      auto bundle = capif::TrustBundle::FromPem(rest);
      if (!bundle.ok()) {
        FUZZ_CHECK(bundle.status().code() == absl::StatusCode::kInvalidArgument, "refusals are 400");
      }
      break;
    }
    case 2: {
      auto key = capif::PublicKeyFromCsrOrKeyPem(rest);
      if (!key.ok()) {
        FUZZ_CHECK(key.status().code() == absl::StatusCode::kInvalidArgument, "refusals are 400");
      }
      break;
    }
    default: {
      const Ca& ca = TheCa();
      auto cert = capif::CertifyPublicKey(*ca.ca, capif::SpiffeId::Kind::kInvoker, "inv-1", rest,
                                          "apiInvokerPublicKey", ca.clock, absl::Hours(1));
      if (cert.ok()) {
        FUZZ_CHECK(capif::CertifiesSameKey(*cert, rest), "the certificate is for that key");
      } else {
        int http = capif::ProblemFromStatus(cert.status()).first;
        FUZZ_CHECK(http == 400, "a bad key is 400, not a server error");
      }
    }
  }
  return 0;
}
