#include "sdk/aef/aef_server.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/base64url.h"
#include "common/capif_scope.h"
#include "common/ids.h"
#include "common/jws.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "common/strict_json.h"
#include "common/x509_cert.h"
#include "sdk/aef/psk_identity.h"
#include "net/https_client.h"

namespace capif {

using nlohmann::json;

namespace {

// A new SSL ex_data slot holding a heap std::string, freed with the SSL.
int NewStringSlot() {
  return SSL_get_ex_new_index(0, nullptr, nullptr, nullptr,
                              [](void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
                                delete static_cast<std::string*>(ptr);
                              });
}

// The PSK identity a handshake used, kept on the connection for the request handlers.
int PskIdentityIndex() {
  static const int index = NewStringSlot();
  return index;
}

void RememberIdentity(SSL* ssl, const std::string& id) {
  delete static_cast<std::string*>(SSL_get_ex_data(ssl, PskIdentityIndex()));
  SSL_set_ex_data(ssl, PskIdentityIndex(), new std::string(id));
}

std::string PskIdentityOf(const SSL* ssl) {
  if (ssl == nullptr) return "";
  // Authenticated by the PSK: TLS 1.3 resumed the external-PSK session, or TLS 1.2 negotiated a
  // PSK suite. The identity is recorded only by this connection's own PSK callbacks, so another
  // kind of resumption never yields one.
  const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl);
  bool by_psk = SSL_session_reused(const_cast<SSL*>(ssl)) == 1 ||
                (cipher != nullptr && SSL_CIPHER_get_auth_nid(cipher) == NID_auth_psk);
  auto* id = static_cast<std::string*>(SSL_get_ex_data(ssl, PskIdentityIndex()));
  return by_psk && id != nullptr ? *id : "";
}

AefServer* ServerOf(SSL* ssl) {
  return static_cast<AefServer*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
}

// Refusals are logged once per cached answer of an identity (retries of the same invented
// identity add nothing), and otherwise at most once a second.
void LogPskRefusal(SSL* ssl, const std::string& identity, absl::string_view why) {
  if (!ServerOf(ssl)->security_info().FirstUse(identity)) {
    static std::atomic<int64_t> last_ms{0};
    int64_t now = absl::ToUnixMillis(absl::Now()), last = last_ms.load();
    if (now - last < 1000 || !last_ms.compare_exchange_strong(last, now)) return;
  }
  LogWarning("aef", absl::StrCat("TLS-PSK refused for identity '",
                                 absl::CHexEscape(absl::string_view(identity).substr(0, 64)),
                                 "': ", why));
}

// The invoker id a TLS 1.3 ClientHello offers as its first external PSK identity, or "".
std::string OfferedPskIdentity(SSL* ssl) {
  const unsigned char* ext = nullptr;
  size_t len = 0;
  if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_psk, &ext, &len) != 1) return "";
  return FirstPskIdentity(ext, len);
}

// Per connection: the identity a paused handshake waits for. Set once, so a handshake pauses
// at most once.
int PausedIdentityIndex() {
  static const int index = NewStringSlot();
  return index;
}

// TLS 1.3: before OpenSSL looks for the PSK, make sure the CCF's answer for the offered identity
// is cached: if not, pause the handshake (SSL_CLIENT_HELLO_RETRY) while it is fetched off the
// I/O thread; HttpsServer resumes it (AefServer::OnHandshakePaused).
int ClientHelloCallback(SSL* ssl, int*, void*) {
  std::string id = OfferedPskIdentity(ssl);
  if (id.empty() || !IsValidIdSegment(id)) return SSL_CLIENT_HELLO_SUCCESS;
  if (SSL_get_ex_data(ssl, PausedIdentityIndex()) != nullptr) return SSL_CLIENT_HELLO_SUCCESS;
  if (ServerOf(ssl)->security_info().Cached(id).has_value()) return SSL_CLIENT_HELLO_SUCCESS;
  SSL_set_ex_data(ssl, PausedIdentityIndex(), new std::string(id));
  return SSL_CLIENT_HELLO_RETRY;
}

// TLS 1.2 PSK cipher suites (TS 33.122 6.5.2.1): the identity is the invoker id. TLS 1.2 sends
// it only in the ClientKeyExchange, where OpenSSL cannot pause: a key not cached yet is waited
// for, but by at most kMaxTls12Waits handshakes at once (the others fail at once and their
// clients retry); the fetch itself runs on the cache's threads.
constexpr int kMaxTls12Waits = 2;

unsigned int PskServerCallback(SSL* ssl, const char* identity, unsigned char* psk,
                               unsigned int max_len) {
  if (identity == nullptr) return 0;
  std::string id(identity);
  if (!IsValidIdSegment(id)) {
    LogPskRefusal(ssl, id, "not an invoker id");
    return 0;
  }
  AefServer* server = ServerOf(ssl);
  SecurityInfoCache& cache = server->security_info();
  std::optional<absl::StatusOr<SecurityInfo>> info = cache.Cached(id);
  if (!info.has_value()) {
    std::atomic<int>& waits = server->tls12_waits();
    if (waits.fetch_add(1) < kMaxTls12Waits) {
      info = cache.Get(id, absl::Seconds(3));
    } else {
      cache.FetchAsync(id, [] {});
      info = absl::UnavailableError("busy fetching other keys; retry");
    }
    waits.fetch_sub(1);
  }
  if (!info->ok() || (*info)->psk.empty()) {
    LogPskRefusal(ssl, id, info->ok() ? "PSK was not selected for this AEF" : info->status().message());
    return 0;
  }
  const std::string& k = (*info)->psk;
  if (k.size() > max_len) return 0;
  std::copy(k.begin(), k.end(), psk);
  RememberIdentity(ssl, id);
  return static_cast<unsigned int>(k.size());
}

// TLS 1.3 external PSK: a session carrying the AEFPSK, for TLS_AES_128_GCM_SHA256 (SHA-256).
// Only the cache is read: ClientHelloCallback had it filled.
int PskFindSessionCallback(SSL* ssl, const unsigned char* identity, size_t identity_len,
                           SSL_SESSION** session) {
  *session = nullptr;
  std::string id(reinterpret_cast<const char*>(identity), identity_len);
  std::optional<absl::StatusOr<SecurityInfo>> info =
      IsValidIdSegment(id) ? ServerOf(ssl)->security_info().Cached(id) : std::nullopt;
  if (!info.has_value() || !info->ok() || (*info)->psk.empty()) {
    LogPskRefusal(ssl, id, !info.has_value()         ? "not known to this AEF's CCF (yet)"
                      : !info->ok()             ? info->status().message()
                                                : "PSK was not selected for this AEF");
    return 0;  // fail the handshake
  }
  static const unsigned char kAes128GcmSha256[] = {0x13, 0x01};
  const SSL_CIPHER* cipher = SSL_CIPHER_find(ssl, kAes128GcmSha256);
  SSL_SESSION* s = SSL_SESSION_new();
  const std::string& k = (*info)->psk;
  if (s == nullptr || cipher == nullptr ||
      SSL_SESSION_set1_master_key(s, reinterpret_cast<const unsigned char*>(k.data()), k.size()) != 1 ||
      SSL_SESSION_set_cipher(s, cipher) != 1 ||
      SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION) != 1) {
    SSL_SESSION_free(s);
    return 0;
  }
  *session = s;
  RememberIdentity(ssl, id);
  return 1;
}

// Client certificates are requested, not required, and checked per request against the
// invoker's root CA from the CCF (it may belong to another domain): accept any here.
int AcceptAnyClientCertificate(int, X509_STORE_CTX*) { return 1; }

bool ConfigureAefTls(SSL_CTX& ctx, AefServer* self) {
  SSL_CTX_set_app_data(&ctx, self);
  // PSK suites first: only clients configured with a PSK offer them.
  if (SSL_CTX_set_cipher_list(&ctx,
                              "PSK-AES128-GCM-SHA256:PSK-AES256-GCM-SHA384:"
                              "ECDHE-PSK-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256:"
                              "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305") != 1) {
    return false;
  }
  // SHA-256 suites first, so a TLS 1.3 external PSK (SHA-256) is usable.
  if (SSL_CTX_set_ciphersuites(&ctx, "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:"
                                     "TLS_AES_256_GCM_SHA384") != 1) {
    return false;
  }
  SSL_CTX_set_psk_server_callback(&ctx, &PskServerCallback);
  SSL_CTX_set_psk_find_session_callback(&ctx, &PskFindSessionCallback);
  SSL_CTX_set_client_hello_cb(&ctx, &ClientHelloCallback, nullptr);
  SSL_CTX_set_verify(&ctx, SSL_VERIFY_PEER, &AcceptAnyClientCertificate);
  return true;
}

absl::Status Unauthorized(absl::string_view why) {
  LogWarning("aef", absl::StrCat("request refused: ", why));
  return RestError(401, std::string(why));
}

}  // namespace

absl::StatusOr<std::unique_ptr<AefServer>> AefServer::Create(AefOptions options,
                                                             const Clock& clock) {
  if (!IsValidIdSegment(options.aef_id) || options.ccf_api_root.empty() ||
      options.api_name.empty()) {
    return absl::InvalidArgumentError("aef_id, ccf_api_root and api_name are required");
  }
  ASSIGN_OR_RETURN(TrustBundle roots, TrustBundle::FromPem(options.ca_pem));
  std::unique_ptr<AefServer> s(new AefServer(std::move(options), clock));
  HttpsServer::Options o;
  o.host = s->options_.host;
  o.port = s->options_.port;
  // No TLS callback fetches from the CCF (TLS 1.3 pauses the handshake instead); only a TLS 1.2
  // first contact may wait, in at most kMaxTls12Waits handshakes: keep threads beyond those.
  o.io_threads = 2 + kMaxTls12Waits;
  AefServer* self = s.get();
  o.configure_tls = [self](SSL_CTX& ctx) { return ConfigureAefTls(ctx, self); };
  o.on_handshake_paused = [self](SSL* ssl, std::function<void()> resume) {
    auto* id = static_cast<std::string*>(SSL_get_ex_data(ssl, PausedIdentityIndex()));
    if (id == nullptr) return resume();
    self->infos_->FetchAsync(*id, std::move(resume));
  };
  s->infos_ = std::make_unique<SecurityInfoCache>(
      [self](const std::string& id, absl::Duration* max_age) {
        return self->FetchSecurityInfo(id, max_age);
      },
      clock, s->options_.security_info);
  ASSIGN_OR_RETURN(s->server_,
                   HttpsServer::Create({s->options_.certificate_pem,
                                             s->options_.private_key_pem, std::move(roots)},
                                            o));
  s->server_->Route("POST", "/aef-security/v1/revoke-authorization",
                    [self](const RestRequest& r) { return self->RevokeAuthorization(r); });
  s->server_->Route("POST", "/aef-security/v1/check-authentication",
                    [self](const RestRequest& r) { return self->CheckAuthentication(r); });
  return s;
}

AefServer::~AefServer() { Stop(); }

void AefServer::Route(const std::string& method, const std::string& pattern, AefHandler handler) {
  server_->Route(method, pattern,
                 [this, handler = std::move(handler)](const RestRequest& r)
                     -> absl::StatusOr<RestResponse> {
                   ASSIGN_OR_RETURN(AefCaller caller, Authenticate(r));
                   return handler(r, caller);
                 });
}

absl::Status AefServer::Start() { return server_->Start(); }

void AefServer::Stop() {
  // The cache first, while the server's event loop still exists: a handshake paused on a fetch
  // is owned by the cache's callback, which resumes it on that loop, and dropping the last
  // callback destroys the connection. After the loop is gone either would touch freed memory
  // (ASan, AefServerTest, a fetch ending while the test stopped the AEF).
  if (infos_) infos_->Shutdown();
  if (server_) server_->Stop();
}

absl::StatusOr<std::string> AefServer::CcfGet(const std::string& path, absl::Duration* max_age) {
  HttpsClient::Options o;
  o.ca_pem = options_.ca_pem;
  o.client_cert_pem = options_.certificate_pem;
  o.client_key_pem = options_.private_key_pem;
  o.timeout = absl::Seconds(5);
  ASSIGN_OR_RETURN(auto client, HttpsClient::Create(std::move(o)));
  ASSIGN_OR_RETURN(HttpsResponse r, client->Request("GET", options_.ccf_api_root + path));
  if (r.status == 404) return absl::NotFoundError("the CCF has no security information for it");
  if (r.status != 200) {
    return absl::UnavailableError(absl::StrCat("the CCF answered HTTP ", r.status));
  }
  // "Cache-Control: private, max-age=N": keep it no longer than the CCF says (the AEFPSK's
  // remaining validity), nor longer than our own limit.
  if (max_age != nullptr) {
    for (absl::string_view d : absl::StrSplit(r.headers["cache-control"], ',')) {
      d = absl::StripAsciiWhitespace(d);
      int64_t seconds = 0;
      if (absl::ConsumePrefix(&d, "max-age=") && absl::SimpleAtoi(d, &seconds) && seconds >= 0) {
        *max_age = std::min(*max_age, absl::Seconds(seconds));
      }
    }
  }
  return r.body;
}

absl::StatusOr<SecurityInfo> AefServer::FetchSecurityInfo(const std::string& invoker_id,
                                                           absl::Duration* max_age) {
  LogInfo("aef", absl::StrCat("asking the CCF for the security information of ", invoker_id));
  *max_age = std::min(*max_age, options_.psk_cache_ttl);
  ASSIGN_OR_RETURN(std::string body,
                   CcfGet(absl::StrCat("/capif-security/v1/trustedInvokers/", invoker_id,
                                       "?authenticationInfo=true&authorizationInfo=true"),
                          max_age));
  json doc = json::parse(body, nullptr, false);
  if (!doc.is_object() || !doc.contains("securityInfo") || !doc["securityInfo"].is_array()) {
    return absl::UnavailableError("unreadable answer from the CCF");
  }
  SecurityInfo info;
  for (const json& e : doc["securityInfo"]) {
    // The CCF answers only this AEF's entries; one asked by interfaceDetails carries no aefId.
    if (!e.is_object() || (e.contains("aefId") && e["aefId"] != options_.aef_id)) continue;
    std::string method = e.value("selSecurityMethod", ""), auth = e.value("authenticationInfo", "");
    if (method == "PSK" && !auth.empty()) {
      bool hex = auth.size() % 2 == 0 &&
                 std::all_of(auth.begin(), auth.end(), [](char c) { return absl::ascii_isxdigit(c); });
      if (!hex) continue;
      info.psk = absl::HexStringToBytes(auth);
    } else if (method == "PKI" && !auth.empty()) {
      info.root_ca_pem = auth;
    }
  }
  return info;
}

absl::StatusOr<SecurityInfo> AefServer::SecurityInfoOf(const std::string& invoker_id) {
  if (!IsValidIdSegment(invoker_id)) return absl::InvalidArgumentError("not an invoker id");
  return infos_->Get(invoker_id, absl::Seconds(6));
}

absl::StatusOr<SecretBytes> AefServer::PskFor(const std::string& invoker_id) {
  ASSIGN_OR_RETURN(SecurityInfo info, SecurityInfoOf(invoker_id));
  if (info.psk.empty()) return absl::NotFoundError("PSK was not selected for this AEF");
  return SecretBytes(info.psk);
}

bool AefServer::Revoked(const std::string& invoker_id, absl::Time issued_at) {
  absl::MutexLock lock(&mu_);
  auto it = revoked_.find(invoker_id);
  return it != revoked_.end() && issued_at <= it->second;
}

absl::StatusOr<AefCaller> AefServer::Authenticate(const RestRequest& req) {
  // 1. A TLS-PSK session: the handshake already proved the key.
  std::string psk_id = PskIdentityOf(req.ssl);
  if (!psk_id.empty()) return AefCaller{psk_id, "PSK"};
  // 2. A client certificate: the invoker's, chaining to the root CA its CCF gives for it.
  X509* leaf = req.ssl ? SSL_get0_peer_certificate(req.ssl) : nullptr;
  if (leaf != nullptr) {
    std::vector<X509Cert> chain{X509Cert(X509_dup(leaf))};
    STACK_OF(X509)* rest = SSL_get_peer_cert_chain(req.ssl);
    for (int i = 1; rest != nullptr && i < sk_X509_num(rest); ++i) {
      chain.emplace_back(X509_dup(sk_X509_value(rest, i)));
    }
    std::vector<std::string> uris = chain[0].UriSans();
    auto id = uris.size() == 1 ? SpiffeId::Parse(uris[0]) : absl::InvalidArgumentError("no id");
    if (!id.ok() || id->kind() != SpiffeId::Kind::kInvoker) {
      return Unauthorized("the client certificate does not name an API invoker");
    }
    auto info = SecurityInfoOf(id->id());
    if (!info.ok() || info->root_ca_pem.empty()) {
      return Unauthorized(absl::StrCat("no PKI authorization for invoker ", id->id(), ": ",
                                       info.ok() ? "PKI not selected" : info.status().message()));
    }
    auto roots = TrustBundle::FromPem(info->root_ca_pem);
    if (!roots.ok() || !roots->Verify(chain, clock_.Now()).ok()) {
      return Unauthorized(absl::StrCat("the certificate of ", id->id(),
                                       " does not chain to its CCF's invoker root CA"));
    }
    return AefCaller{id->id(), "PKI"};
  }
  // 3. An OAuth 2.0 access token.
  std::string authz = req.Header("authorization");
  if (absl::StartsWithIgnoreCase(authz, "bearer ")) return AuthenticateBearer(authz.substr(7));
  return Unauthorized("no TLS-PSK session, client certificate or bearer token");
}

absl::StatusOr<AefCaller> AefServer::AuthenticateBearer(const std::string& token) {
  // The issuer named in the (not yet verified) claims selects the keys.
  std::vector<std::string> parts = absl::StrSplit(token, '.');
  if (parts.size() != 3) return Unauthorized("malformed bearer token");
  auto payload = Base64UrlDecode(parts[1]);
  auto claims = payload.ok() ? ParseStrictJson(*payload, 8) : payload.status();
  if (!claims.ok() || !claims->is_object() || !(*claims)["iss"].is_string()) {
    return Unauthorized("malformed bearer token");
  }
  std::string iss = (*claims)["iss"];
  absl::StatusOr<VerifiedJwt> jwt = absl::UnauthenticatedError("unknown issuer");
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::string jwks;
    bool may_refresh = false;
    {
      absl::MutexLock lock(&mu_);
      auto it = issuers_.find(iss);
      if (it != issuers_.end()) jwks = it->second;
      may_refresh = clock_.Now() - issuers_fetched_ >= options_.jwks_refresh_min_interval;
    }
    if (!jwks.empty()) {
      auto keys = JwkSet::FromJson(jwks);
      if (keys.ok()) {
        JwtValidator v({"at+jwt", iss, options_.aef_id, false, absl::Seconds(30)}, clock_);
        jwt = v.Verify(token, *keys);
        if (jwt.ok() || !absl::StrContains(jwt.status().message(), "kid")) break;
      }
    }
    if (!may_refresh) break;
    // Unknown issuer or key: fetch what the CCF accepts now (rate-limited).
    auto doc_text = CcfGet("/.well-known/capif-token-issuers");
    absl::MutexLock lock(&mu_);
    issuers_fetched_ = clock_.Now();
    if (!doc_text.ok()) continue;
    json doc = json::parse(*doc_text, nullptr, false);
    if (!doc.is_object() || !doc.contains("issuers")) continue;
    issuers_.clear();
    for (const json& i : doc["issuers"]) {
      if (i.is_object() && i.contains("iss") && i["iss"].is_string() && i.contains("jwks")) {
        issuers_[i["iss"].get<std::string>()] = i["jwks"].dump();
      }
    }
  }
  if (!jwt.ok()) return Unauthorized(absl::StrCat("bearer token: ", jwt.status().message()));
  std::string client = jwt->claims.value("client_id", jwt->claims.value("sub", ""));
  auto scope = ParseCapifScope(jwt->claims.value("scope", ""));
  if (!scope.ok() || !ScopeCovers(*scope, options_.aef_id, options_.api_name)) {
    LogWarning("aef", absl::StrCat("token of ", client.substr(0, 64), " does not cover ",
                                   options_.api_name));
    return RestError(403, absl::StrCat("the token's scope does not cover ", options_.api_name,
                                       " at ", options_.aef_id));
  }
  absl::Time iat = jwt->issued_at;  // to the microsecond: ordered exactly against a revocation
  if (Revoked(client, iat)) {
    LogWarning("aef", absl::StrCat("token of revoked invoker ", client.substr(0, 64)));
    return RestError(403, "the invoker's authorization was revoked");
  }
  return AefCaller{client, "OAUTH"};
}

absl::StatusOr<RestResponse> AefServer::RevokeAuthorization(const RestRequest& req) {
  if (!req.caller || req.caller->kind() != SpiffeId::Kind::kCcf) {
    return RestError(403, "only this AEF's CCF may revoke authorizations");
  }
  json body = json::parse(req.body, nullptr, false);
  if (!body.is_object() || !body.contains("revokeInfo") || !body["revokeInfo"].is_object() ||
      !body["revokeInfo"].contains("apiInvokerId") ||
      !body["revokeInfo"]["apiInvokerId"].is_string() || !body.contains("supportedFeatures")) {
    return RestError(400, "RevokeAuthorizationReq needs revokeInfo.apiInvokerId and supportedFeatures",
                     "INVALID_PARAMETER");
  }
  std::string id = body["revokeInfo"]["apiInvokerId"];
  if (!IsValidIdSegment(id)) return RestError(400, "not an invoker id", "INVALID_PARAMETER");
  {
    absl::MutexLock lock(&mu_);
    revoked_[id] = clock_.Now();
  }
  infos_->Forget(id);  // keys and roots are fetched again, and the CCF decides
  LogInfo("aef", absl::StrCat("authorization of ", id, " revoked by ", req.caller->ToString()));
  return RestResponse::Json(200, {{"supportedFeatures", "0"}});
}

absl::StatusOr<RestResponse> AefServer::CheckAuthentication(const RestRequest& req) {
  if (!req.caller || req.caller->kind() != SpiffeId::Kind::kCcf) {
    return RestError(403, "only this AEF's CCF may ask");
  }
  json body = json::parse(req.body, nullptr, false);
  if (!body.is_object() || !body.contains("apiInvokerId") || !body["apiInvokerId"].is_string() ||
      !body.contains("supportedFeatures")) {
    return RestError(400, "CheckAuthenticationReq needs apiInvokerId and supportedFeatures",
                     "INVALID_PARAMETER");
  }
  return RestResponse::Json(200, {{"supportedFeatures", "0"}});
}

}  // namespace capif
