#include "common/certificate_authority.h"

#include <arpa/inet.h>
#include <openssl/bn.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/openssl_error.h"
#include "common/status_macros.h"

namespace capif {
namespace {

constexpr absl::string_view kSpiffeScheme = "spiffe://";

bool IsValidDnsName(absl::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '*';
    if (!ok) return false;
  }
  return true;
}

bool IsValidIp(const std::string& ip) {
  unsigned char buf[16];
  return inet_pton(AF_INET, ip.c_str(), buf) == 1 || inet_pton(AF_INET6, ip.c_str(), buf) == 1;
}

absl::Status SetRandomSerial(X509* cert) {
  unsigned char bytes[20];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) return OpenSslError("drawing a serial number");
  bytes[0] &= 0x7f;  // positive, at most 159 bits
  bytes[0] |= 0x01;  // never zero, never a short encoding
  BIGNUM* bn = BN_bin2bn(bytes, sizeof(bytes), nullptr);
  if (bn == nullptr) return OpenSslError("building a serial number");
  ASN1_INTEGER* serial = BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert));
  BN_free(bn);
  if (serial == nullptr) return OpenSslError("setting the serial number");
  return absl::OkStatus();
}

absl::Status AddExtension(X509* cert, X509V3_CTX* ctx, int nid, const std::string& value) {
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, ctx, nid, value.c_str());
  if (ext == nullptr) return OpenSslError(absl::StrCat("building extension ", OBJ_nid2sn(nid)));
  int rc = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  if (rc != 1) return OpenSslError("adding an extension");
  return absl::OkStatus();
}

absl::Status SetName(X509_NAME* name, const std::string& org, const std::string& cn) {
  if (X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(org.c_str()), -1, -1,
                                 0) != 1 ||
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1,
                                 0) != 1) {
    return OpenSslError("setting a certificate name");
  }
  return absl::OkStatus();
}

// A new certificate with version, serial, validity, subject and public key set.
absl::StatusOr<X509Cert> NewCert(const std::string& org, const std::string& cn,
                                 const EvpKey& subject_key, const Clock& clock,
                                 absl::Duration validity) {
  if (validity <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("certificate validity must be positive");
  }
  X509* raw = X509_new();
  if (raw == nullptr) return OpenSslError("allocating a certificate");
  X509Cert cert(raw);
  if (X509_set_version(raw, 2) != 1) return OpenSslError("setting the version");
  RETURN_IF_ERROR(SetRandomSerial(raw));
  absl::Time now = clock.Now();
  // Backdate a little so a peer whose clock lags slightly still accepts the certificate.
  time_t not_before = absl::ToTimeT(now - absl::Minutes(5));
  time_t not_after = absl::ToTimeT(now + validity);
  if (ASN1_TIME_set(X509_getm_notBefore(raw), not_before) == nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(raw), not_after) == nullptr) {
    return OpenSslError("setting the validity");
  }
  RETURN_IF_ERROR(SetName(X509_get_subject_name(raw), org, cn));
  if (X509_set_pubkey(raw, subject_key.get()) != 1) return OpenSslError("setting the public key");
  return cert;
}

absl::StatusOr<X509Cert> IssueImpl(const X509Cert& ca_cert, const EvpKey& ca_key,
                                   const TrustDomain& ca_domain, const LeafRequest& request,
                                   const Clock& clock) {
  if (request.public_key == nullptr) return absl::InvalidArgumentError("no public key given");
  for (const std::string& dns : request.dns_names) {
    if (!IsValidDnsName(dns)) {
      return absl::InvalidArgumentError(absl::StrCat("'", dns, "' is not a valid DNS name"));
    }
  }
  for (const std::string& ip : request.ip_addresses) {
    if (!IsValidIp(ip)) {
      return absl::InvalidArgumentError(absl::StrCat("'", ip, "' is not a valid IP address"));
    }
  }
  // The identity is the URI SAN; the subject CN is only a readable hint, and X.509 limits it to
  // 64 characters (a full SPIFFE id can be longer), so it holds the kind and id, truncated.
  std::string cn = absl::StrCat(KindName(request.identity.kind()), " ", request.identity.id());
  if (cn.size() > 64) cn.resize(64);
  ASSIGN_OR_RETURN(X509Cert cert, NewCert(ca_domain.value(), cn, *request.public_key, clock,
                                          request.validity));
  X509* raw = cert.get();
  if (X509_set_issuer_name(raw, X509_get_subject_name(ca_cert.get())) != 1) {
    return OpenSslError("setting the issuer");
  }
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, ca_cert.get(), raw, nullptr, nullptr, 0);
  std::vector<std::string> sans = {absl::StrCat("URI:", request.identity.ToString())};
  for (const std::string& dns : request.dns_names) sans.push_back(absl::StrCat("DNS:", dns));
  for (const std::string& ip : request.ip_addresses) sans.push_back(absl::StrCat("IP:", ip));
  RETURN_IF_ERROR(AddExtension(raw, &ctx, NID_basic_constraints, "critical,CA:FALSE"));
  RETURN_IF_ERROR(AddExtension(raw, &ctx, NID_key_usage, "critical,digitalSignature"));
  RETURN_IF_ERROR(AddExtension(raw, &ctx, NID_ext_key_usage, "serverAuth,clientAuth"));
  RETURN_IF_ERROR(AddExtension(raw, &ctx, NID_subject_key_identifier, "hash"));
  RETURN_IF_ERROR(AddExtension(raw, &ctx, NID_authority_key_identifier, "keyid:always"));
  RETURN_IF_ERROR(AddExtension(raw, &ctx, NID_subject_alt_name, absl::StrJoin(sans, ",")));
  if (X509_sign(raw, ca_key.get(), EVP_sha256()) == 0) return OpenSslError("signing");
  return cert;
}

}  // namespace

absl::StatusOr<CertificateAuthority> CertificateAuthority::CreateRoot(
    const TrustDomain& trust_domain, const Clock& clock, absl::Duration validity) {
  if (!IsValidTrustDomain(trust_domain.value())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", trust_domain.value(), "' is not a valid trust domain (lower-case letters, digits, "
        "'.', '-', '_')"));
  }
  ASSIGN_OR_RETURN(EvpKey key, EvpKey::GenerateEcP256());
  ASSIGN_OR_RETURN(X509Cert cert, NewCert(trust_domain.value(),
                                          absl::StrCat("capif-fed root CA ", trust_domain.value()),
                                          key, clock, validity));
  X509* raw = cert.get();
  if (X509_set_issuer_name(raw, X509_get_subject_name(raw)) != 1) {
    return OpenSslError("setting the issuer");
  }
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, raw, raw, nullptr, nullptr, 0);
  RETURN_IF_ERROR(AddExtension(raw, &ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0"));
  RETURN_IF_ERROR(AddExtension(raw, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign"));
  RETURN_IF_ERROR(AddExtension(raw, &ctx, NID_subject_key_identifier, "hash"));
  RETURN_IF_ERROR(AddExtension(raw, &ctx, NID_subject_alt_name,
                               absl::StrCat("URI:", kSpiffeScheme, trust_domain.value())));
  if (X509_sign(raw, key.get(), EVP_sha256()) == 0) return OpenSslError("self-signing");
  return CertificateAuthority(std::move(cert), std::move(key), trust_domain);
}

absl::StatusOr<CertificateAuthority> CertificateAuthority::FromCertAndKey(X509Cert cert,
                                                                          EvpKey key) {
  if (!cert.IsCa()) return absl::InvalidArgumentError("the CA certificate is not a CA");
  ASSIGN_OR_RETURN(EvpKey cert_key, cert.PublicKey());
  if (!cert_key.PublicKeyEquals(key)) {
    return absl::InvalidArgumentError("the CA key does not match the CA certificate");
  }
  std::vector<std::string> uris = cert.UriSans();
  if (uris.size() != 1 || !absl::StartsWith(uris[0], kSpiffeScheme) ||
      !IsValidTrustDomain(uris[0].substr(kSpiffeScheme.size()))) {
    return absl::InvalidArgumentError(
        "the CA certificate must carry exactly one URI SAN spiffe://<trust-domain>");
  }
  TrustDomain td(uris[0].substr(kSpiffeScheme.size()));
  return CertificateAuthority(std::move(cert), std::move(key), std::move(td));
}

absl::StatusOr<X509Cert> CertificateAuthority::Issue(const LeafRequest& request,
                                                     const Clock& clock) const {
  if (request.identity.trust_domain() != trust_domain_) {
    return absl::InvalidArgumentError(absl::StrCat(
        "identity ", request.identity.ToString(), " is outside this CA's trust domain '",
        trust_domain_.value(), "'"));
  }
  return IssueImpl(cert_, key_, trust_domain_, request, clock);
}

absl::StatusOr<X509Cert> CertificateAuthority::IssueUncheckedForTesting(
    const LeafRequest& request, const Clock& clock) const {
  return IssueImpl(cert_, key_, trust_domain_, request, clock);
}

}  // namespace capif
