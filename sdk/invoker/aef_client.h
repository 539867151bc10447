// CAPIF-2e, invoker side: calling an AEF's API with the security method its CCF selected
// (TS 33.122 6.5.2). Each call is one fresh TLS connection and one HTTP/1.1 GET.
//
//   ASSIGN_OR_RETURN(HttpsResponse r, AefGetWithPsk("127.0.0.1", port, invoker_id,
//                                                   ctx.aef_psks[aef_id], "/api/v1/x"));
//
// TLS-PSK: identity = the invoker id, key = the AEFPSK (sdk/invoker derives it from its own
// onboarding TLS session); TLS 1.3 external PSK with TLS_AES_128_GCM_SHA256 by default, TLS 1.2
// PSK suites with max_tls_version = TLS1_2_VERSION. PKI and OAuth run over libcurl
// (HttpsClient) and identify the AEF by its SPIFFE id, since AEF certificates name no host.
// Errors: Unavailable when the connection or handshake fails (a wrong key fails the handshake),
// DeadlineExceeded on timeout. HTTP errors are answers: see HttpsResponse::status.
#ifndef CAPIF_SDK_INVOKER_AEF_CLIENT_H_
#define CAPIF_SDK_INVOKER_AEF_CLIENT_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/secret_bytes.h"
#include "net/https_client.h"

namespace capif {

absl::StatusOr<HttpsResponse> AefGetWithPsk(const std::string& host, int port,
                                            const std::string& invoker_id, const SecretBytes& psk,
                                            const std::string& path, int max_tls_version = 0,
                                            absl::Duration timeout = absl::Seconds(10));

// `aef_identity`: spiffe://<domain>/aef/<aefId>; `ca_pem`: that domain's CA.
absl::StatusOr<HttpsResponse> AefGetWithCertificate(const std::string& url,
                                                    const std::string& aef_identity,
                                                    const std::string& ca_pem,
                                                    const std::string& certificate_pem,
                                                    const SecretBytes& private_key_pem);

absl::StatusOr<HttpsResponse> AefGetWithToken(const std::string& url,
                                              const std::string& aef_identity,
                                              const std::string& ca_pem,
                                              const std::string& access_token);

}  // namespace capif

#endif  // CAPIF_SDK_INVOKER_AEF_CLIENT_H_
