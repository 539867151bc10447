#include "common/x509_cert.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>

#include <ctime>

#include "absl/strings/str_cat.h"
#include "common/openssl_error.h"

namespace capif {
namespace {

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

struct GeneralNamesDeleter {
  void operator()(GENERAL_NAMES* n) const { GENERAL_NAMES_free(n); }
};

std::vector<std::string> SansOfType(X509* cert, int type) {
  std::vector<std::string> out;
  std::unique_ptr<GENERAL_NAMES, GeneralNamesDeleter> names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  if (!names) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    if (name->type != type) continue;
    if (type == GEN_IPADD) {
      const ASN1_OCTET_STRING* ip = name->d.iPAddress;
      char text[INET6_ADDRSTRLEN] = {0};
      int family = ip->length == 4 ? AF_INET : (ip->length == 16 ? AF_INET6 : -1);
      if (family != -1 && inet_ntop(family, ip->data, text, sizeof(text)) != nullptr) {
        out.emplace_back(text);
      }
      continue;
    }
    const ASN1_IA5STRING* s = name->d.ia5;
    out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<size_t>(ASN1_STRING_length(s)));
  }
  return out;
}

absl::Time Asn1ToTime(const ASN1_TIME* t) {
  struct tm tm_value = {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm_value) != 1) return absl::InfinitePast();
  return absl::FromUnixSeconds(timegm(&tm_value));
}

}  // namespace

X509Cert::X509Cert(const X509Cert& other) : cert_(X509_dup(other.cert_.get())) {}

X509Cert& X509Cert::operator=(const X509Cert& other) {
  if (this != &other) cert_.reset(X509_dup(other.cert_.get()));
  return *this;
}

absl::StatusOr<X509Cert> X509Cert::FromPem(absl::string_view pem) {
  auto chain = ChainFromPem(pem);
  if (!chain.ok()) return chain.status();
  if (chain->size() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected exactly one certificate, found ", chain->size()));
  }
  return std::move((*chain)[0]);
}

absl::StatusOr<std::vector<X509Cert>> X509Cert::ChainFromPem(absl::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return OpenSslError("allocating a BIO");
  std::vector<X509Cert> out;
  while (true) {
    X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
    if (cert == nullptr) {
      unsigned long err = ERR_peek_last_error();
      if (ERR_GET_REASON(err) == PEM_R_NO_START_LINE && !out.empty()) {
        ERR_clear_error();  // normal end of input
        break;
      }
      return OpenSslError(
          out.empty() ? "no PEM certificate found" : "a PEM certificate is malformed",
          absl::StatusCode::kInvalidArgument);
    }
    out.emplace_back(cert);
  }
  return out;
}

absl::StatusOr<std::string> X509Cert::ToPem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio) return OpenSslError("allocating a BIO");
  if (PEM_write_bio_X509(bio.get(), cert_.get()) != 1) return OpenSslError("encoding a cert");
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

std::vector<std::string> X509Cert::UriSans() const { return SansOfType(cert_.get(), GEN_URI); }
std::vector<std::string> X509Cert::DnsSans() const { return SansOfType(cert_.get(), GEN_DNS); }
std::vector<std::string> X509Cert::IpSans() const { return SansOfType(cert_.get(), GEN_IPADD); }

std::string X509Cert::Subject() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio) return "";
  X509_NAME_print_ex(bio.get(), X509_get_subject_name(cert_.get()), 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

bool X509Cert::IsCa() const { return X509_check_ca(cert_.get()) >= 1; }

absl::Time X509Cert::NotBefore() const { return Asn1ToTime(X509_get0_notBefore(cert_.get())); }
absl::Time X509Cert::NotAfter() const { return Asn1ToTime(X509_get0_notAfter(cert_.get())); }

absl::StatusOr<EvpKey> X509Cert::PublicKey() const {
  EVP_PKEY* key = X509_get_pubkey(cert_.get());
  if (key == nullptr) return OpenSslError("reading the certificate's public key");
  return EvpKey(key);
}

absl::StatusOr<std::string> CreateCsrPem(const EvpKey& key) {
  std::unique_ptr<X509_REQ, decltype(&X509_REQ_free)> req(X509_REQ_new(), &X509_REQ_free);
  if (!req || X509_REQ_set_version(req.get(), 0) != 1 ||
      X509_REQ_set_pubkey(req.get(), key.get()) != 1 ||
      X509_REQ_sign(req.get(), key.get(), EVP_sha256()) <= 0) {
    return OpenSslError("building a certificate signing request");
  }
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509_REQ(bio.get(), req.get()) != 1) {
    return OpenSslError("encoding a certificate signing request");
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

absl::StatusOr<EvpKey> PublicKeyFromCsrPem(absl::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return OpenSslError("allocating a BIO");
  X509_REQ* req = PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr);
  if (req == nullptr) {
    return OpenSslError("not a PEM certificate signing request",
                        absl::StatusCode::kInvalidArgument);
  }
  EVP_PKEY* key = X509_REQ_get_pubkey(req);
  bool signed_ok = key != nullptr && X509_REQ_verify(req, key) == 1;
  X509_REQ_free(req);
  if (!signed_ok) {
    EVP_PKEY_free(key);
    return OpenSslError("the certificate signing request's signature does not verify",
                        absl::StatusCode::kInvalidArgument);
  }
  return EvpKey(key);
}

absl::StatusOr<EvpKey> PublicKeyFromCsrOrKeyPem(absl::string_view pem) {
  if (pem.find("-----BEGIN CERTIFICATE REQUEST-----") != absl::string_view::npos) {
    return PublicKeyFromCsrPem(pem);
  }
  if (pem.find("-----BEGIN PUBLIC KEY-----") != absl::string_view::npos) {
    return EvpKey::FromPublicKeyPem(pem);
  }
  return absl::InvalidArgumentError("expected a PEM CSR or a PEM public key");
}

absl::StatusOr<std::string> ChainToPem(const std::vector<X509Cert>& certs) {
  std::string out;
  for (const X509Cert& c : certs) {
    auto pem = c.ToPem();
    if (!pem.ok()) return pem.status();
    out += *pem;
  }
  return out;
}

absl::StatusOr<TrustBundle> TrustBundle::FromPem(absl::string_view pem) {
  auto roots = X509Cert::ChainFromPem(pem);
  if (!roots.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("trust bundle: ", roots.status().message()));
  }
  X509_STORE* store = X509_STORE_new();
  if (store == nullptr) return OpenSslError("allocating an X509_STORE");
  for (const X509Cert& root : *roots) {
    if (!root.IsCa()) {
      X509_STORE_free(store);
      return absl::InvalidArgumentError(absl::StrCat(
          "trust bundle: certificate '", root.Subject(), "' is not a CA certificate"));
    }
    if (X509_STORE_add_cert(store, root.get()) != 1) {
      X509_STORE_free(store);
      return OpenSslError("adding a root to the trust store");
    }
  }
  return TrustBundle(std::move(*roots), std::string(pem), store);
}

absl::Status TrustBundle::Verify(const std::vector<X509Cert>& chain, absl::Time now) const {
  if (chain.empty()) return absl::UnauthenticatedError("no certificate presented");
  if (!store_) return absl::UnauthenticatedError("the trust bundle is empty");
  STACK_OF(X509)* untrusted = sk_X509_new_null();
  if (untrusted == nullptr) return OpenSslError("allocating a stack");
  for (size_t i = 1; i < chain.size(); ++i) sk_X509_push(untrusted, chain[i].get());
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  if (ctx == nullptr) {
    sk_X509_free(untrusted);
    return OpenSslError("allocating an X509_STORE_CTX");
  }
  absl::Status result;
  if (X509_STORE_CTX_init(ctx, store_.get(), chain[0].get(), untrusted) != 1) {
    result = OpenSslError("initialising chain verification");
  } else {
    X509_STORE_CTX_set_time(ctx, 0, absl::ToTimeT(now));
    // Only the configured roots are trust anchors; no partial chains, no system store.
    if (X509_verify_cert(ctx) != 1) {
      int err = X509_STORE_CTX_get_error(ctx);
      result = absl::UnauthenticatedError(absl::StrCat(
          "certificate chain does not verify: ", X509_verify_cert_error_string(err)));
      ERR_clear_error();
    }
  }
  X509_STORE_CTX_free(ctx);
  sk_X509_free(untrusted);
  return result;
}

}  // namespace capif
