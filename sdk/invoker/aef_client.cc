#include "sdk/invoker/aef_client.h"

#include <netdb.h>
#include <poll.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"

namespace capif {
namespace {

struct PskData {
  std::string identity;
  std::string key;
};

PskData* DataOf(SSL* ssl) { return static_cast<PskData*>(SSL_get_app_data(ssl)); }

unsigned int PskClient(SSL* ssl, const char*, char* identity, unsigned int max_identity,
                       unsigned char* psk, unsigned int max_psk) {
  PskData* d = DataOf(ssl);
  if (d->identity.size() + 1 > max_identity || d->key.size() > max_psk) return 0;
  std::copy(d->identity.begin(), d->identity.end(), identity);
  identity[d->identity.size()] = '\0';
  std::copy(d->key.begin(), d->key.end(), psk);
  return static_cast<unsigned int>(d->key.size());
}

int PskUseSession(SSL* ssl, const EVP_MD* md, const unsigned char** id, size_t* id_len,
                  SSL_SESSION** session) {
  *session = nullptr;
  static const unsigned char kAes128GcmSha256[] = {0x13, 0x01};
  const SSL_CIPHER* cipher = SSL_CIPHER_find(ssl, kAes128GcmSha256);
  if (cipher == nullptr) return 0;
  if (md != nullptr && md != SSL_CIPHER_get_handshake_digest(cipher)) return 1;  // no PSK for md
  PskData* d = DataOf(ssl);
  SSL_SESSION* s = SSL_SESSION_new();
  if (s == nullptr ||
      SSL_SESSION_set1_master_key(s, reinterpret_cast<const unsigned char*>(d->key.data()),
                                  d->key.size()) != 1 ||
      SSL_SESSION_set_cipher(s, cipher) != 1 ||
      SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION) != 1) {
    SSL_SESSION_free(s);
    return 0;
  }
  *id = reinterpret_cast<const unsigned char*>(d->identity.data());
  *id_len = d->identity.size();
  *session = s;
  return 1;
}

// A signal during connect() (EINTR) leaves the connection going on in the background: wait
// for it (up to `timeout`) instead of giving up.
bool ConnectedAfterInterrupt(int fd, absl::Duration timeout) {
  if (errno != EINTR) return false;
  absl::Time deadline = absl::Now() + timeout;
  pollfd p{fd, POLLOUT, 0};
  for (;;) {
    int left = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
    int n = poll(&p, 1, std::max(left, 0));
    if (n > 0) break;
    if (n == 0 || errno != EINTR) return false;
  }
  int error = 0;
  socklen_t len = sizeof(error);
  return getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) == 0 && error == 0;
}

// An OpenSSL call on this blocking socket, repeated while it only says "again": a signal
// (EINTR) or the socket's timeout (EAGAIN) surfaces as SSL_ERROR_WANT_READ/WRITE, and a signal
// must not fail the handshake or cut the response. The last call's result after `deadline`.
template <typename Call>
int UntilDone(SSL* ssl, absl::Time deadline, Call call) {
  for (;;) {
    int r = call();
    if (r > 0) return r;
    int e = SSL_get_error(ssl, r);
    bool again = e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ||
                 (e == SSL_ERROR_SYSCALL && errno == EINTR);
    if (!again || absl::Now() >= deadline) return r;
  }
}

absl::StatusOr<int> Connect(const std::string& host, int port, absl::Duration timeout) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res) != 0 || res == nullptr) {
    return absl::UnavailableError(absl::StrCat("cannot resolve ", host));
  }
  int fd = -1;
  for (addrinfo* a = res; a != nullptr && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (fd < 0) continue;
    timeval tv = absl::ToTimeval(timeout);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, a->ai_addr, a->ai_addrlen) != 0 && !ConnectedAfterInterrupt(fd, timeout)) {
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(res);
  if (fd < 0) return absl::UnavailableError(absl::StrCat("cannot connect to ", host, ":", port));
  return fd;
}

// "HTTP/1.1 200 OK\r\nName: v\r\n\r\nbody" -> HttpsResponse.
absl::StatusOr<HttpsResponse> ParseHttp(const std::string& raw) {
  size_t end = raw.find("\r\n\r\n");
  if (end == std::string::npos) return absl::UnavailableError("incomplete HTTP response");
  std::vector<std::string> lines = absl::StrSplit(raw.substr(0, end), "\r\n");
  std::vector<std::string> status = absl::StrSplit(lines[0], absl::MaxSplits(' ', 2));
  HttpsResponse r;
  if (status.size() < 2 || !absl::StartsWith(status[0], "HTTP/1.") ||
      !absl::SimpleAtoi(status[1], &r.status)) {
    return absl::UnavailableError("not an HTTP response");
  }
  for (size_t i = 1; i < lines.size(); ++i) {
    size_t colon = lines[i].find(':');
    if (colon == std::string::npos) continue;
    r.headers[absl::AsciiStrToLower(lines[i].substr(0, colon))] =
        std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
  }
  r.body = raw.substr(end + 4);
  return r;
}

}  // namespace

absl::StatusOr<HttpsResponse> AefGetWithPsk(const std::string& host, int port,
                                            const std::string& invoker_id, const SecretBytes& psk,
                                            const std::string& path, int max_tls_version,
                                            absl::Duration timeout) {
  if (invoker_id.empty() || psk.empty()) return absl::InvalidArgumentError("identity and key needed");
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()),
                                                       &SSL_CTX_free);
  if (!ctx) return absl::InternalError("SSL_CTX_new failed");
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  if (max_tls_version != 0) SSL_CTX_set_max_proto_version(ctx.get(), max_tls_version);
  // PSK suites only: no certificate-based fallback (the PSK authenticates both ends).
  SSL_CTX_set_cipher_list(ctx.get(), "PSK-AES128-GCM-SHA256:PSK-AES256-GCM-SHA384:ECDHE-PSK-CHACHA20-POLY1305");
  SSL_CTX_set_ciphersuites(ctx.get(), "TLS_AES_128_GCM_SHA256");
  ASSIGN_OR_RETURN(int fd, Connect(host, port, timeout));
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(ctx.get()), &SSL_free);
  PskData data{invoker_id, std::string(psk.Reveal(InsecureSecretAccess()))};
  SSL_set_app_data(ssl.get(), &data);
  SSL_set_psk_client_callback(ssl.get(), &PskClient);
  SSL_set_psk_use_session_callback(ssl.get(), &PskUseSession);
  SSL_set_fd(ssl.get(), fd);
  std::string raw;
  absl::Status status = absl::OkStatus();
  const absl::Time deadline = absl::Now() + timeout;
  SSL* s = ssl.get();
  if (UntilDone(s, deadline, [s] { return SSL_connect(s); }) != 1) {
    unsigned long e = ERR_get_error();
    status = absl::UnavailableError(absl::StrCat("TLS-PSK handshake with ", host, ":", port,
                                                 " failed: ", e ? ERR_reason_error_string(e) : "refused"));
  } else {
    std::string req = absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: ", host,
                                   "\r\nConnection: close\r\n\r\n");
    if (UntilDone(s, deadline, [&] { return SSL_write(s, req.data(), static_cast<int>(req.size())); }) <= 0) {
      status = absl::UnavailableError("sending the request failed");
    }
    char buf[16384];
    for (int n; status.ok() &&
                (n = UntilDone(s, deadline, [&] { return SSL_read(s, buf, sizeof(buf)); })) > 0;) {
      raw.append(buf, n);
      if (raw.size() > (16u << 20)) status = absl::UnavailableError("response too large");
    }
    SSL_shutdown(ssl.get());
  }
  ERR_clear_error();
  std::fill(data.key.begin(), data.key.end(), '\0');
  close(fd);
  RETURN_IF_ERROR(status);
  return ParseHttp(raw);
}

absl::StatusOr<HttpsResponse> AefGetWithCertificate(const std::string& url,
                                                    const std::string& aef_identity,
                                                    const std::string& ca_pem,
                                                    const std::string& certificate_pem,
                                                    const SecretBytes& private_key_pem) {
  HttpsClient::Options o;
  o.ca_pem = ca_pem;
  o.client_cert_pem = certificate_pem;
  o.client_key_pem = private_key_pem;
  o.expected_peer_uri = aef_identity;
  ASSIGN_OR_RETURN(auto client, HttpsClient::Create(std::move(o)));
  return client->Request("GET", url);
}

absl::StatusOr<HttpsResponse> AefGetWithToken(const std::string& url,
                                              const std::string& aef_identity,
                                              const std::string& ca_pem,
                                              const std::string& access_token) {
  HttpsClient::Options o;
  o.ca_pem = ca_pem;
  o.expected_peer_uri = aef_identity;
  ASSIGN_OR_RETURN(auto client, HttpsClient::Create(std::move(o)));
  return client->Request("GET", url, "", "", {"Authorization: Bearer " + access_token});
}

}  // namespace capif
