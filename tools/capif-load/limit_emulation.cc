// capif-limit [--in-flight N] [--requests N]: the bare-gRPC two-hop limit emulation that
// tools/dev bench runs beside capif-load (docs/performance.md). What a cross-domain token
// request costs at the least, with none of the CCF's logic: a client calls a relay over mTLS,
// the relay calls a backend over mTLS, the backend verifies one ES256 signature (the client
// assertion) and signs one (the token), and the answers come back. All three in this process,
// on the same cores as the real run. Prints requests/s and p50/p90/p99 (LoadResult as JSON).
#include <grpcpp/grpcpp.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

#include <iostream>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/certificate_authority.h"
#include "common/clock.h"
#include "common/ids.h"
#include "common/jws.h"
#include "proto/interconnect.grpc.pb.h"
#include "tools/capif-scenario/load.h"

namespace capif {
namespace {

namespace fv1 = capif::federation::v1;

struct Credential {
  std::string cert_pem, key_pem;
};

Credential Issue(const CertificateAuthority& ca, const std::string& uri) {
  EvpKey key = *EvpKey::GenerateEcP256();
  X509Cert cert = *ca.IssueUncheckedForTesting(
      {*SpiffeId::Parse(uri), &key, {"localhost"}, {"127.0.0.1"}, absl::Hours(1)}, Clock::Real());
  return {*cert.ToPem(), std::string(key.PrivateKeyPem()->Reveal(InsecureSecretAccess()))};
}

std::shared_ptr<grpc::ServerCredentials> ServerCreds(const Credential& c, const std::string& ca) {
  grpc::SslServerCredentialsOptions o(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  o.pem_root_certs = ca;
  o.pem_key_cert_pairs.push_back({c.key_pem, c.cert_pem});
  return grpc::SslServerCredentials(o);
}

std::shared_ptr<grpc::Channel> Channel(int port, const Credential& c, const std::string& ca) {
  grpc::SslCredentialsOptions o;
  o.pem_root_certs = ca;
  o.pem_private_key = c.key_pem;
  o.pem_cert_chain = c.cert_pem;
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // its own connection
  return grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port), grpc::SslCredentials(o),
                                   args);
}

// The backend: one ES256 verify (the assertion in the request) and one sign (the answer).
class Backend final : public fv1::Interconnect::CallbackService {
 public:
  Backend(JwkSet keys, JwsSigner signer)
      : keys_(std::move(keys)),
        signer_(std::move(signer)),
        validator_({"JWT", "", "", false, absl::Seconds(30)}, Clock::Real()) {}
  grpc::ServerUnaryReactor* Hello(grpc::CallbackServerContext* ctx, const fv1::HelloRequest* req,
                                  fv1::HelloResponse* resp) override {
    auto* reactor = ctx->DefaultReactor();
    auto verified = validator_.Verify(req->header().request_id(), keys_);
    auto token = signer_.Sign("at+jwt", {{"iss", "ccf-a"}, {"sub", "inv-1"}, {"scope", "x"}});
    if (!verified.ok() || !token.ok()) {
      reactor->Finish(grpc::Status(grpc::StatusCode::INTERNAL, "verify or sign failed"));
    } else {
      resp->set_ccf_id(*token);
      reactor->Finish(grpc::Status::OK);
    }
    return reactor;
  }

 private:
  const JwkSet keys_;
  const JwsSigner signer_;
  const JwtValidator validator_;
};

// The relay: forwards each call to the backend (async client on one completion queue, as
// SharedApiCache does) and answers when the backend has.
class Relay final : public fv1::Interconnect::CallbackService {
 public:
  explicit Relay(std::shared_ptr<grpc::Channel> backend)
      : stub_(fv1::Interconnect::NewStub(std::move(backend))),
        drainer_([this] { Drain(); }) {}
  ~Relay() override {
    cq_.Shutdown();
    drainer_.join();
  }
  grpc::ServerUnaryReactor* Hello(grpc::CallbackServerContext* ctx, const fv1::HelloRequest* req,
                                  fv1::HelloResponse* resp) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    auto* call = new Call{reactor, resp};
    call->ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    call->reader = stub_->PrepareAsyncHello(&call->ctx, *req, &cq_);
    call->reader->StartCall();
    call->reader->Finish(&call->answer, &call->status, call);  // Drain() may free `call` now
    return reactor;
  }

 private:
  struct Call {
    grpc::ServerUnaryReactor* reactor;
    fv1::HelloResponse* resp;
    grpc::ClientContext ctx;
    fv1::HelloResponse answer;
    grpc::Status status;
    std::unique_ptr<grpc::ClientAsyncResponseReader<fv1::HelloResponse>> reader;
  };
  void Drain() {
    void* tag = nullptr;
    bool ok = false;
    while (cq_.Next(&tag, &ok)) {
      std::unique_ptr<Call> call(static_cast<Call*>(tag));
      *call->resp = std::move(call->answer);
      call->reactor->Finish(call->status);
    }
  }
  std::unique_ptr<fv1::Interconnect::Stub> stub_;
  grpc::CompletionQueue cq_;
  std::thread drainer_;
};

std::unique_ptr<grpc::Server> Serve(grpc::Service* service, const Credential& c,
                                    const std::string& ca, int* port) {
  grpc::ServerBuilder b;
  b.AddListeningPort("127.0.0.1:0", ServerCreds(c, ca), port);
  b.RegisterService(service);
  return b.BuildAndStart();
}

int Run(int in_flight, int requests) {
  auto ca = *CertificateAuthority::CreateRoot(TrustDomain("limit.example"), Clock::Real(),
                                              absl::Hours(2));
  std::string ca_pem = *ca.certificate().ToPem();
  Credential client = Issue(ca, "spiffe://limit.example/invoker/inv-1");
  Credential relay_cred = Issue(ca, "spiffe://limit.example/ccf/ccf-b");
  Credential backend_cred = Issue(ca, "spiffe://limit.example/ccf/ccf-a");
  EvpKey invoker_key = *EvpKey::GenerateEcP256();
  JwkSet invoker_keys;
  if (!invoker_keys.Add("inv", invoker_key).ok()) return 1;
  JwsSigner assertion_signer = *JwsSigner::Create(std::move(invoker_key), "inv");
  JwsSigner token_signer = *JwsSigner::Create(*EvpKey::GenerateEcP256(), "ccf-a-1");

  Backend backend(std::move(invoker_keys), std::move(token_signer));
  int backend_port = 0, relay_port = 0;
  auto backend_server = Serve(&backend, backend_cred, ca_pem, &backend_port);
  Relay relay(Channel(backend_port, relay_cred, ca_pem));
  auto relay_server = Serve(&relay, relay_cred, ca_pem, &relay_port);
  if (!backend_server || !relay_server) {
    std::cerr << "capif-limit: cannot listen on 127.0.0.1\n";
    return 1;
  }
  // One assertion per request, made before the clock starts (as capif-load does).
  int64_t now = absl::ToUnixSeconds(absl::Now());
  std::vector<std::string> assertions;
  for (int i = 0; i < requests; ++i) {
    assertions.push_back(*assertion_signer.Sign(
        "JWT", {{"iss", "inv-1"}, {"sub", "inv-1"}, {"aud", "ccf-a"}, {"iat", now},
                {"exp", now + 120}, {"jti", absl::StrCat("j", i)}}));
  }
  std::vector<std::unique_ptr<fv1::Interconnect::Stub>> stubs;
  for (int w = 0; w < in_flight; ++w) {
    // A channel (and connection) each, as capif-load gives each thread its own connection.
    stubs.push_back(fv1::Interconnect::NewStub(Channel(relay_port, client, ca_pem)));
  }
  LoadResult result = RunLoad(in_flight, requests, [&](int w, int i) -> absl::Status {
    fv1::HelloRequest req;
    req.mutable_header()->set_request_id(assertions[i]);
    fv1::HelloResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    grpc::Status s = stubs[w]->Hello(&ctx, req, &resp);
    if (!s.ok() || resp.ccf_id().empty()) return absl::InternalError(s.error_message());
    return absl::OkStatus();
  }, {});
  nlohmann::json line = result.ToJson();
  line["in_flight"] = in_flight;
  std::cout << line.dump() << "\n";
  int errors = result.errors;
  relay_server->Shutdown();
  backend_server->Shutdown();
  return errors == 0 ? 0 : 1;
}

}  // namespace
}  // namespace capif

int main(int argc, char** argv) {
  int in_flight = 8, requests = 3000;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    int* target = a == "--in-flight" ? &in_flight : a == "--requests" ? &requests : nullptr;
    if (target == nullptr || i + 1 >= argc || !absl::SimpleAtoi(argv[++i], target) ||
        *target < 1) {
      std::cerr << "usage: capif-limit [--in-flight N] [--requests N]\n";
      return 2;
    }
  }
  return capif::Run(in_flight, requests);
}
