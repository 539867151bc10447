#include "net/https_client.h"

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <mutex>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace capif {
namespace {

struct Transfer {
  CURL* curl = nullptr;
  HttpsResponse* response = nullptr;
  bool capture = false;
  bool captured = false;
};

// Reads the key material while the connection is alive (libcurl gives the SSL* only during the
// transfer).
void CaptureTls(Transfer* t) {
  if (!t->capture || t->captured) return;
  t->captured = true;
  curl_tlssessioninfo* info = nullptr;
  if (curl_easy_getinfo(t->curl, CURLINFO_TLS_SSL_PTR, &info) != CURLE_OK || info == nullptr ||
      info->backend != CURLSSLBACKEND_OPENSSL || info->internals == nullptr) {
    return;
  }
  auto material = KeyMaterialFromTls(static_cast<SSL*>(info->internals));
  if (material.ok()) t->response->tls = *std::move(material);
}

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  CaptureTls(t);
  absl::string_view line(data, size * n);
  size_t colon = line.find(':');
  if (colon != absl::string_view::npos) {
    std::string name = absl::AsciiStrToLower(line.substr(0, colon));
    std::string value(absl::StripAsciiWhitespace(line.substr(colon + 1)));
    t->response->headers[name] = value;
  }
  return size * n;
}

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  CaptureTls(t);
  if (t->response->body.size() + size * n > (16u << 20)) return 0;  // refuse huge bodies
  t->response->body.append(data, size * n);
  return size * n;
}

std::once_flag curl_init_once;

// The leaf must carry exactly one URI SAN, equal to the expected one (kept as the SSL_CTX's app
// data; every request has its own SSL_CTX since connections are never reused).
int VerifyPeerUri(int preverified, X509_STORE_CTX* store) {
  if (preverified != 1) return 0;
  if (X509_STORE_CTX_get_error_depth(store) != 0) return 1;
  auto* ssl = static_cast<SSL*>(
      X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  const auto* expected = static_cast<const std::string*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  X509* leaf = X509_STORE_CTX_get_current_cert(store);
  if (expected == nullptr || leaf == nullptr) return 0;
  auto* names = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(leaf, NID_subject_alt_name, nullptr, nullptr));
  int uris = 0;
  bool match = false;
  for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* n = sk_GENERAL_NAME_value(names, i);
    if (n->type != GEN_URI) continue;
    ++uris;
    const ASN1_IA5STRING* uri = n->d.uniformResourceIdentifier;
    match = absl::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(uri)),
                              ASN1_STRING_length(uri)) == *expected;
  }
  GENERAL_NAMES_free(names);
  if (uris == 1 && match) return 1;
  X509_STORE_CTX_set_error(store, X509_V_ERR_HOSTNAME_MISMATCH);
  return 0;
}

CURLcode InstallPeerUriCheck(CURL*, void* ssl_ctx, void* expected) {
  auto* ctx = static_cast<SSL_CTX*>(ssl_ctx);
  SSL_CTX_set_app_data(ctx, expected);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, &VerifyPeerUri);
  return CURLE_OK;
}

}  // namespace

absl::StatusOr<std::unique_ptr<HttpsClient>> HttpsClient::Create(Options options) {
  if (options.ca_pem.empty()) return absl::InvalidArgumentError("ca_pem is required");
  if (!options.client_cert_pem.empty() && options.client_key_pem.empty()) {
    return absl::InvalidArgumentError("client_key_pem is required with client_cert_pem");
  }
  std::call_once(curl_init_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  return std::unique_ptr<HttpsClient>(new HttpsClient(std::move(options)));
}

HttpsClient::~HttpsClient() {
  if (kept_ != nullptr) curl_easy_cleanup(static_cast<CURL*>(kept_));
}

absl::StatusOr<HttpsResponse> HttpsClient::Request(const std::string& method,
                                                        const std::string& url,
                                                        const std::string& body,
                                                        const std::string& content_type,
                                                        const std::vector<std::string>& extra,
                                                        bool capture_tls_keys) {
  // With keep_alive one handle is kept, and reset before each request: a reset keeps its live
  // connection and TLS session cache.
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(nullptr, &curl_easy_cleanup);
  CURL* c = static_cast<CURL*>(kept_);
  if (c != nullptr) {
    curl_easy_reset(c);
  } else {
    curl.reset(curl_easy_init());
    if (!curl) return absl::InternalError("curl_easy_init failed");
    c = curl.get();
    if (options_.keep_alive) kept_ = curl.release();
  }
  HttpsResponse response;
  Transfer t{c, &response, capture_tls_keys};
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  if (!options_.keep_alive) {
    curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
  }
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(absl::ToInt64Milliseconds(options_.timeout)));
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  if (options_.expected_peer_uri.empty()) {
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  } else {
    // Identified by its URI SAN instead of the host name (certificates of AEFs carry no DNS/IP).
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_CTX_FUNCTION, &InstallPeerUriCheck);
    curl_easy_setopt(c, CURLOPT_SSL_CTX_DATA, &options_.expected_peer_uri);
  }
  curl_blob ca{const_cast<char*>(options_.ca_pem.data()), options_.ca_pem.size(),
               CURL_BLOB_COPY};
  curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &ca);
  curl_easy_setopt(c, CURLOPT_CAPATH, nullptr);  // only the CCF's CA, never the system store
  std::string key_copy;
  if (!options_.client_cert_pem.empty()) {
    curl_blob cert{const_cast<char*>(options_.client_cert_pem.data()),
                   options_.client_cert_pem.size(), CURL_BLOB_COPY};
    key_copy = std::string(options_.client_key_pem.Reveal(InsecureSecretAccess()));
    curl_blob key{key_copy.data(), key_copy.size(), CURL_BLOB_COPY};
    curl_easy_setopt(c, CURLOPT_SSLCERT_BLOB, &cert);
    curl_easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM");
    curl_easy_setopt(c, CURLOPT_SSLKEY_BLOB, &key);
    curl_easy_setopt(c, CURLOPT_SSLKEYTYPE, "PEM");
  }
  long tls = CURL_SSLVERSION_TLSv1_2;
  if (options_.max_tls_version == TLS1_2_VERSION) tls |= CURL_SSLVERSION_MAX_TLSv1_2;
  curl_easy_setopt(c, CURLOPT_SSLVERSION, tls);
  if (!body.empty() || method == "POST" || method == "PUT") {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  curl_slist* headers = nullptr;
  if (!content_type.empty()) {
    headers = curl_slist_append(headers, ("Content-Type: " + content_type).c_str());
  }
  for (const std::string& h : extra) headers = curl_slist_append(headers, h.c_str());
  headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  CURLcode rc = curl_easy_perform(c);
  curl_slist_free_all(headers);
  if (!key_copy.empty()) OPENSSL_cleanse(&key_copy[0], key_copy.size());
  if (rc == CURLE_OPERATION_TIMEDOUT) {
    return absl::DeadlineExceededError(absl::StrCat(method, " ", url, ": timed out"));
  }
  if (rc != CURLE_OK) {
    return absl::UnavailableError(absl::StrCat(method, " ", url, ": ", curl_easy_strerror(rc)));
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &response.status);
  return response;
}

}  // namespace capif
