#include "common/aef_psk.h"

#include <openssl/evp.h>

#include "absl/strings/str_cat.h"
#include "common/openssl_error.h"

namespace capif {
namespace {

constexpr char kKeyLabel[] = "EXPORTER-3GPP-CAPIF-AEFPSK-KEY";
constexpr char kSessionLabel[] = "EXPORTER-3GPP-CAPIF-AEFPSK-SESSION-ID";

absl::StatusOr<std::string> Export(const SSL* ssl, absl::string_view label, size_t len) {
  std::string out(len, '\0');
  if (SSL_export_keying_material(const_cast<SSL*>(ssl), reinterpret_cast<unsigned char*>(&out[0]),
                                 len, label.data(), label.size(), nullptr, 0, 0) != 1) {
    return OpenSslError("TLS exporter", absl::StatusCode::kFailedPrecondition);
  }
  return out;
}

void AppendParameter(std::string& s, absl::string_view p) {
  s.append(p.data(), p.size());
  s.push_back(static_cast<char>((p.size() >> 8) & 0xff));
  s.push_back(static_cast<char>(p.size() & 0xff));
}

}  // namespace

absl::StatusOr<CapifTlsKeyMaterial> KeyMaterialFromTls(const SSL* ssl) {
  if (ssl == nullptr || SSL_is_init_finished(ssl) != 1) {
    return absl::FailedPreconditionError("the TLS handshake is not complete");
  }
  CapifTlsKeyMaterial m;
  m.tls_version = SSL_version(ssl);
  if (m.tls_version == TLS1_3_VERSION) {
    auto key = Export(ssl, kKeyLabel, 48);
    if (!key.ok()) return key.status();
    m.key = SecretBytes(*key);
    OPENSSL_cleanse(&(*key)[0], key->size());
    auto sid = Export(ssl, kSessionLabel, 32);
    if (!sid.ok()) return sid.status();
    m.session_id = *sid;
    return m;
  }
  if (m.tls_version != TLS1_2_VERSION) {
    return absl::FailedPreconditionError("CAPIF-1e needs TLS 1.2 or 1.3");
  }
  const SSL_SESSION* session = SSL_get_session(ssl);
  if (session == nullptr) return absl::FailedPreconditionError("no TLS session");
  unsigned int sid_len = 0;
  const unsigned char* sid = SSL_SESSION_get_id(session, &sid_len);
  if (sid_len == 0) {
    return absl::FailedPreconditionError(
        "the TLS 1.2 session has no session id (session tickets must be off for CAPIF-1e)");
  }
  m.session_id.assign(reinterpret_cast<const char*>(sid), sid_len);
  std::string master(SSL_MAX_MASTER_KEY_LENGTH, '\0');
  size_t n = SSL_SESSION_get_master_key(session, reinterpret_cast<unsigned char*>(&master[0]),
                                        master.size());
  master.resize(n);
  m.key = SecretBytes(master);
  OPENSSL_cleanse(&master[0], master.size());
  if (m.key.empty()) return absl::FailedPreconditionError("no TLS master secret");
  return m;
}

absl::StatusOr<SecretBytes> DeriveAefPsk(const SecretBytes& key, absl::string_view interface_info,
                                         absl::string_view session_id) {
  if (interface_info.size() > 0xffff || session_id.size() > 0xffff) {
    return absl::InvalidArgumentError("KDF parameters are limited to 65535 octets");
  }
  if (key.empty()) return absl::InvalidArgumentError("empty KDF key");
  std::string s(1, static_cast<char>(kAefPskFc));
  AppendParameter(s, interface_info);
  AppendParameter(s, session_id);
  unsigned char out[32];
  size_t out_len = 0;
  absl::string_view k = key.Reveal(InsecureSecretAccess());
  if (EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, k.data(), k.size(),
                reinterpret_cast<const unsigned char*>(s.data()), s.size(), out, sizeof(out),
                &out_len) == nullptr) {
    return OpenSslError("HMAC-SHA-256");
  }
  SecretBytes psk(absl::string_view(reinterpret_cast<const char*>(out), out_len));
  OPENSSL_cleanse(out, sizeof(out));
  return psk;
}

std::string AefInterfaceInfo(absl::string_view fqdn, absl::string_view ipv4,
                             absl::string_view ipv6, int port, absl::string_view api_prefix) {
  std::string host = !fqdn.empty()   ? std::string(fqdn)
                     : !ipv4.empty() ? std::string(ipv4)
                                     : absl::StrCat("[", ipv6, "]");
  return absl::StrCat(host, ":", port, api_prefix);
}

std::string AefInterfaceInfoOfProfile(const nlohmann::json& profile,
                                      const nlohmann::json& iface) {
  const nlohmann::json* i = &iface;
  if ((i->is_null() || !i->is_object()) && profile.contains("interfaceDescriptions") &&
      profile["interfaceDescriptions"].is_array() && !profile["interfaceDescriptions"].empty()) {
    i = &profile["interfaceDescriptions"][0];
  }
  if (i->is_null() || !i->is_object()) return profile.value("domainName", "");
  int port = 443;
  if (i->contains("port") && (*i)["port"].is_number_integer()) {
    int64_t p = (*i)["port"].get<int64_t>();
    if (p >= 0 && p <= 65535) port = static_cast<int>(p);
  }
  return AefInterfaceInfo(i->value("fqdn", ""), i->value("ipv4Addr", ""), i->value("ipv6Addr", ""),
                          port, i->value("apiPrefix", ""));
}

}  // namespace capif
