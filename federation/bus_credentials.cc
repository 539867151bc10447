#include "federation/bus_credentials.h"

#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>

#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace capif {
namespace {

using grpc::experimental::ExternalCertificateVerifier;
using grpc::experimental::IdentityKeyCertPair;
using grpc::experimental::StaticDataCertificateProvider;
using grpc::experimental::TlsCustomVerificationCheckRequest;

// The peer's leaf, then whatever else it sent. On the server side OpenSSL's peer chain leaves
// the leaf out (so gRPC's "full chain" can be just a root when the client's own trust store let
// it build a chain: a peer of the same trust domain, CAPIF-6); the leaf is always peer_cert().
std::string ChainOf(TlsCustomVerificationCheckRequest* request) {
  grpc::string_ref leaf = request->peer_cert();
  grpc::string_ref full = request->peer_cert_full_chain();
  std::string out(leaf.data(), leaf.size());
  absl::string_view leaf_pem(leaf.data(), leaf.size());
  absl::string_view rest(full.data(), full.size());
  // Drop a copy of the leaf from the full chain (the client side includes it).
  size_t at = leaf_pem.empty() ? absl::string_view::npos : rest.find(leaf_pem);
  if (at != absl::string_view::npos) {
    absl::StrAppend(&out, rest.substr(0, at));
    absl::StrAppend(&out, rest.substr(at + leaf_pem.size()));
  } else {
    absl::StrAppend(&out, rest);
  }
  return out;
}

// Server side: only configured peers, each checked against its own trust bundle.
class PeerCertificateVerifier final : public ExternalCertificateVerifier {
 public:
  PeerCertificateVerifier(std::shared_ptr<const PeerDirectory> peers, const Clock& clock,
                          AuditLog* audit)
      : peers_(std::move(peers)), clock_(clock), audit_(audit) {}

  bool Verify(TlsCustomVerificationCheckRequest* request,
              std::function<void(grpc::Status)> /*callback*/,
              grpc::Status* sync_status) override {
    auto peer = peers_->AuthenticatePeer(ChainOf(request), clock_.Now());
    if (!peer.ok()) {
      LogWarning("bus", absl::StrCat("refused a client certificate: ", peer.status().message()));
      if (audit_ != nullptr) {
        std::vector<grpc::string_ref> uris = request->uri_names();
        audit_->Record({uris.size() == 1 ? std::string(uris[0].data(), uris[0].size()) : "",
                        "TLS_HANDSHAKE", "", "", "", false, std::string(peer.status().message())});
      }
      *sync_status = grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                                  std::string(peer.status().message()));
    } else {
      *sync_status = grpc::Status::OK;
    }
    return true;  // decided synchronously
  }
  void Cancel(TlsCustomVerificationCheckRequest*) override {}

 private:
  std::shared_ptr<const PeerDirectory> peers_;
  const Clock& clock_;
  AuditLog* const audit_;
};

// Client side: the server must be exactly the configured peer.
class ExpectedPeerVerifier final : public ExternalCertificateVerifier {
 public:
  ExpectedPeerVerifier(const Peer& peer, const Clock& clock,
                       std::shared_ptr<PresentedIdentity> presented)
      : expected_(peer.identity()), bundle_(peer.trust_bundle), clock_(clock),
        presented_(std::move(presented)) {}

  bool Verify(TlsCustomVerificationCheckRequest* request,
              std::function<void(grpc::Status)> /*callback*/,
              grpc::Status* sync_status) override {
    absl::Status s = Check(ChainOf(request));
    if (!s.ok()) {
      LogWarning("bus", absl::StrCat("refused the server certificate of peer ",
                                     expected_.ToString(), ": ", s.message()));
      *sync_status = grpc::Status(grpc::StatusCode::UNAUTHENTICATED, std::string(s.message()));
    } else {
      *sync_status = grpc::Status::OK;
    }
    return true;
  }
  void Cancel(TlsCustomVerificationCheckRequest*) override {}

 private:
  absl::Status Check(const std::string& chain_pem) {
    auto chain = PeerChainFromPem(chain_pem);
    if (!chain.ok()) return absl::UnauthenticatedError("unreadable server certificate");
    std::vector<std::string> uris = (*chain)[0].UriSans();
    if (presented_) presented_->Set(uris.size() == 1 ? uris[0] : absl::StrCat(uris.size(), " URI SANs"));
    auto id = CcfIdentityOf((*chain)[0]);
    if (!id.ok()) return id.status();
    if (*id != expected_) {
      return absl::UnauthenticatedError(
          absl::StrCat("the server presented ", id->ToString(), ", expected ",
                       expected_.ToString()));
    }
    return bundle_.Verify(*chain, clock_.Now());
  }

  SpiffeId expected_;
  TrustBundle bundle_;
  const Clock& clock_;
  std::shared_ptr<PresentedIdentity> presented_;
};

std::vector<IdentityKeyCertPair> IdentityOf(const BusIdentity& self) {
  return {IdentityKeyCertPair{std::string(self.private_key_pem.Reveal(InsecureSecretAccess())),
                              self.certificate_chain_pem}};
}

}  // namespace

std::shared_ptr<grpc::ServerCredentials> MakeBusServerCredentials(
    const BusIdentity& self, std::shared_ptr<const PeerDirectory> peers, const Clock& clock,
    AuditLog* audit) {
  // First-pass pool for the TLS library: all peers' roots plus our own (so that the pool is never
  // empty). The verifier below narrows it to the one bundle of the claimed trust domain.
  std::string roots = peers->AllRootsPem() + self.own_trust_bundle.pem();
  auto provider = std::make_shared<StaticDataCertificateProvider>(roots, IdentityOf(self));
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_root_certs();
  options.watch_identity_key_cert_pairs();
  options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  options.set_certificate_verifier(
      ExternalCertificateVerifier::Create<PeerCertificateVerifier>(std::move(peers), clock, audit));
  return grpc::experimental::TlsServerCredentials(options);
}

std::shared_ptr<grpc::ChannelCredentials> MakeBusChannelCredentials(
    const BusIdentity& self, const Peer& peer, const Clock& clock,
    std::shared_ptr<PresentedIdentity> presented) {
  auto provider =
      std::make_shared<StaticDataCertificateProvider>(peer.trust_bundle.pem(), IdentityOf(self));
  grpc::experimental::TlsChannelCredentialsOptions options;
  options.set_certificate_provider(provider);
  options.watch_root_certs();
  options.watch_identity_key_cert_pairs();
  options.set_verify_server_certs(true);
  options.set_check_call_host(false);  // identity is the SPIFFE id, checked by the verifier
  options.set_certificate_verifier(ExternalCertificateVerifier::Create<ExpectedPeerVerifier>(
      peer, clock, std::move(presented)));
  return grpc::experimental::TlsCredentials(options);
}

}  // namespace capif
