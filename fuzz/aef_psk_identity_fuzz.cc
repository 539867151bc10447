// The AEF's PSK identity handling (sdk/aef): what an unauthenticated client controls before any
// key is agreed. A real AefServer on 127.0.0.1 whose CCF (a real HTTPS server) knows the
// invokers named inv-known*, each with one AEFPSK; the first byte picks the case:
//   0: a TLS 1.3 handshake offering the rest as its external PSK identity (the handshake pauses
//      while the AEF asks its CCF);
//   1: the same over the TLS 1.2 PSK suites (the identity is a C string there);
//   2: the rest as the raw pre_shared_key extension of a ClientHello (FirstPskIdentity).
// Properties: the handshake succeeds exactly for a known invoker; an identity costs the CCF at
// most one request, whatever the number of attempts (answers are cached both ways, so invented
// identities do not amplify); the AEF still serves a known invoker after every input; the
// extension parser returns only bytes that lie inside the identities list.
#include <openssl/ssl.h>
#include <signal.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/certificate_authority.h"
#include "common/fake_clock.h"
#include "common/ids.h"
#include "common/testing/test_credential.h"
#include "fuzz/fuzz_check.h"
#include "net/https_server.h"
#include "sdk/aef/aef_server.h"
#include "sdk/aef/psk_identity.h"
#include "sdk/aef/testing/fake_ccf.h"
#include "sdk/invoker/aef_client.h"

namespace {

constexpr char kKey[] = "0123456789abcdef0123456789abcdef";  // every inv-known* AEFPSK

struct Aef {
  capif::CertificateAuthority ca = *capif::CertificateAuthority::CreateRoot(
      capif::TrustDomain("a.example"), capif::Clock::Real(), absl::Hours(2));
  capif::TestCredential ccf_cred = capif::IssueTestCredential(ca, "spiffe://a.example/ccf/ccf-a");
  capif::TestCredential aef_cred = capif::IssueTestCredential(ca, "spiffe://a.example/aef/aef-1");
  // The cache's clock stands still, so an answer stays cached for the whole run.
  capif::FakeClock clock{absl::Now()};
  std::unique_ptr<capif::HttpsServer> ccf;
  std::unique_ptr<capif::AefServer> aef;
  absl::Mutex mu;
  absl::flat_hash_map<std::string, int> asked ABSL_GUARDED_BY(mu);  // CCF requests per invoker

  Aef() {
    signal(SIGPIPE, SIG_IGN);
    std::string ca_pem = *ca.certificate().ToPem();
    auto server = capif::HttpsServer::Create(
        {*ccf_cred.cert.ToPem(), *ccf_cred.key.PrivateKeyPem(),
         *capif::TrustBundle::FromPem(ca_pem)},
        {});
    FUZZ_CHECK(server.ok(), "the CCF's server");
    ccf = *std::move(server);
    ccf->Route("GET", "/capif-security/v1/trustedInvokers/([^/]+)",
               [this](const capif::RestRequest& r) -> absl::StatusOr<capif::RestResponse> {
                 const std::string& id = r.path_params[0];
                 {
                   absl::MutexLock lock(&mu);
                   ++asked[id];
                 }
                 if (id.rfind("inv-known", 0) != 0) {
                   return capif::RestError(404, "no security context");
                 }
                 return capif::PskSecurityInfoAnswer(id, "aef-1", kKey);
               });
    FUZZ_CHECK(ccf->Start().ok(), "the CCF starts");
    capif::AefOptions o{"aef-1", absl::StrCat("https://127.0.0.1:", ccf->port()), ca_pem,
                        *aef_cred.cert.ToPem(), *aef_cred.key.PrivateKeyPem(), "location-api"};
    o.security_info.fetches_per_second = 1e9;  // the fake clock never refills the bucket
    auto made = capif::AefServer::Create(std::move(o), clock);
    FUZZ_CHECK(made.ok(), "the AEF");
    aef = *std::move(made);
    aef->Route("GET", "/location/v1/position",
               [](const capif::RestRequest&, const capif::AefCaller& c)
                   -> absl::StatusOr<capif::RestResponse> {
                 return capif::RestResponse::Json(200, {{"invoker", c.invoker_id}});
               });
    FUZZ_CHECK(aef->Start().ok(), "the AEF starts");
  }

  bool Get(const std::string& id, int tls_version, bool explain = false) {
    absl::Time start = absl::Now();
    auto r = capif::AefGetWithPsk("127.0.0.1", aef->port(), id, capif::SecretBytes(kKey),
                                  "/location/v1/position", tls_version, absl::Seconds(10));
    if (explain && !(r.ok() && r->status == 200)) {
      capif::HttpsServer::Stats st = aef->server_stats();
      std::fprintf(stderr,
                   "GET as %s after %s: %s (AEF: %llu open, %llu accepted, %llu refused, %llu timeouts, "
                   "%llu accept errors, %d TLS 1.2 waits)\n",
                   id.c_str(), absl::FormatDuration(absl::Now() - start).c_str(),
                   r.ok() ? absl::StrCat("HTTP ", r->status, " ", r->body).c_str()
                          : r.status().ToString().c_str(),
                   static_cast<unsigned long long>(st.open_connections),
                   static_cast<unsigned long long>(st.accepted_connections),
                   static_cast<unsigned long long>(st.refused_connections),
                   static_cast<unsigned long long>(st.timeouts),
                   static_cast<unsigned long long>(st.accept_errors), aef->tls12_waits().load());
    }
    return r.ok() && r->status == 200;
  }

  int Asked(const std::string& id) {
    absl::MutexLock lock(&mu);
    auto it = asked.find(id);
    return it == asked.end() ? 0 : it->second;
  }
};

Aef& TheAef() {
  static Aef* aef = new Aef();
  return *aef;
}

void ParseExtension(const uint8_t* ext, size_t len) {
  std::string id = capif::FirstPskIdentity(ext, len);
  if (id.empty()) return;
  size_t list_len = (size_t{ext[0]} << 8) | ext[1];
  FUZZ_CHECK(len >= 2 + list_len && list_len >= 2 + id.size() + 4,
             "the identity and its ticket age lie inside the identities list");
  FUZZ_CHECK(((size_t{ext[2]} << 8) | ext[3]) == id.size() &&
                 std::memcmp(ext + 4, id.data(), id.size()) == 0,
             "the identity is the bytes its length names");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  if (data[0] % 3 == 2) {
    ParseExtension(data + 1, size - 1);
    return 0;
  }
  Aef& aef = TheAef();
  int version = data[0] % 3 == 1 ? TLS1_2_VERSION : 0;
  std::string offered(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (offered.empty() || offered.size() > 512) return 0;  // the client refuses these itself
  // What reaches the AEF: TLS 1.2 carries a C string of at most 128 bytes (OpenSSL's limit).
  std::string sent = offered;
  if (version == TLS1_2_VERSION) {
    if (offered.size() > 128) return 0;  // the client's callback refuses it
    sent = sent.substr(0, sent.find('\0'));
    if (sent.empty() || sent.size() > 128) return 0;
  }
  int before = aef.Asked(sent);
  bool known = capif::IsValidIdSegment(sent) && sent.rfind("inv-known", 0) == 0;
  bool first = aef.Get(offered, version);
  bool again = aef.Get(offered, version);
  FUZZ_CHECK(first == known && again == known, "a PSK handshake succeeds for a known invoker only");
  FUZZ_CHECK(aef.Asked(sent) <= 1, "an identity costs the CCF at most one request");
  FUZZ_CHECK(before == 0 || aef.Asked(sent) == before, "a cached answer is not asked again");
  FUZZ_CHECK(aef.Get("inv-known-canary", 0, /*explain=*/true),
             "the AEF still serves a known invoker");
  return 0;
}
