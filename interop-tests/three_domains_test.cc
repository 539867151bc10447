// Interop: three ccfd processes, three trust domains, real mutual TLS on 127.0.0.1.
//
// Each ccfd listens on port 0 and prints the port it bound. The bus clients of this test and
// capifctl then use configuration files that name the real endpoints, loaded with the product's
// own configuration loader and credentials.
#include <signal.h>

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "ccf/daemon/ccf_config.h"
#include "common/certificate_authority.h"
#include "common/file_io.h"
#include "common/subprocess.h"
#include "common/testing/test_paths.h"
#include "federation/peer_client.h"

namespace capif {
namespace {

namespace fv1 = capif::federation::v1;

constexpr absl::Duration kTimeout = absl::Seconds(10);
const char* const kDomains[] = {"a", "b", "c"};

std::string TrustDomainOf(const std::string& d) { return absl::StrCat("operator-", d, ".example"); }
std::string CcfIdOf(const std::string& d) { return absl::StrCat("ccf-", d); }

void MustRun(const std::vector<std::string>& argv) {
  auto r = RunToCompletion(argv, absl::Seconds(60));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->exit_code, 0) << absl::StrJoin(argv, " ") << "\n" << r->err;
}

class ThreeDomainsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(TestTmpDir("three"));
    ccfds_ = new std::map<std::string, std::unique_ptr<Subprocess>>();
    ports_ = new std::map<std::string, int>();
    std::string pki = Runfile("tools/capif-pki/capif-pki");
    for (std::string d : {"a", "b", "c", "x"}) {
      MustRun({pki, "init-domain", "--trust-domain", TrustDomainOf(d), "--out",
               *dir_ + "/pki/" + d + "-ca"});
    }
    for (std::string d : kDomains) {
      MustRun({pki, "issue", "--ca", *dir_ + "/pki/" + d + "-ca", "--spiffe-id",
               absl::StrCat("spiffe://", TrustDomainOf(d), "/ccf/", CcfIdOf(d)), "--ip",
               "127.0.0.1", "--dns", "localhost", "--out", *dir_ + "/pki/" + CcfIdOf(d)});
    }
    // ccfd does not dial its peers yet, so their endpoints are placeholders at start-up.
    for (std::string d : kDomains) StartCcfd(d, 0);
    for (std::string d : kDomains) WriteConfig(d, (*ports_)[d], /*real_endpoints=*/true);
  }

  static void TearDownTestSuite() {
    for (auto& [d, proc] : *ccfds_) {
      if (!proc) continue;
      proc->Signal(SIGTERM);
      auto code = proc->Wait(absl::Seconds(30));
      EXPECT_TRUE(code.ok() && *code == 0) << "ccfd " << d << " did not stop cleanly";
    }
    delete ccfds_;
  }

  // Writes <dir>/<d>.json; peers are the two other domains, with full agreements.
  static std::string WriteConfig(const std::string& d, int listen_port, bool real_endpoints) {
    std::vector<std::string> peers;
    for (std::string p : kDomains) {
      if (p == d) continue;
      int port = real_endpoints ? (*ports_)[p] : 1;
      peers.push_back(absl::StrCat(
          R"({"ccf_id": ")", CcfIdOf(p), R"(", "trust_domain": ")", TrustDomainOf(p),
          R"(", "endpoint": "127.0.0.1:)", port, R"(", "trust_bundle": "pki/)", p,
          R"(-ca/ca.pem", "relation": "CAPIF-6e", "agreement": {"operations": [)",
          R"("NOTIFY_OFFBOARDING", "LOOKUP_SECURITY_INFO"]}})"));
    }
    std::string text = absl::StrCat(
        R"({"ccf_id": ")", CcfIdOf(d), R"(", "trust_domain": ")", TrustDomainOf(d),
        R"(", "bus": {"listen": "127.0.0.1:)", listen_port, R"(", "certificate": "pki/)",
        CcfIdOf(d), R"(/cert.pem", "private_key": "pki/)", CcfIdOf(d),
        R"(/key.pem", "trust_bundle": "pki/)", d, R"(-ca/ca.pem"}, "peers": [)",
        absl::StrJoin(peers, ","), "]}");
    std::string path = absl::StrCat(*dir_, "/", d, real_endpoints ? "" : "-start", ".json");
    EXPECT_TRUE(WriteFileAtomic(path, text).ok());
    return path;
  }

  static void StartCcfd(const std::string& d, int port) {
    auto proc = Subprocess::Start(
        {Runfile("ccf/ccfd"), "--config", WriteConfig(d, port, /*real_endpoints=*/false)});
    ASSERT_TRUE(proc.ok()) << proc.status();
    auto line = (*proc)->ReadStdoutLine(absl::Seconds(30));
    ASSERT_TRUE(line.ok()) << "ccfd " << d << ": " << line.status() << "\n"
                           << (*proc)->stderr_text();
    int bound = std::atoi(line->substr(line->rfind(':') + 1).c_str());
    ASSERT_GT(bound, 0) << *line;
    (*ports_)[d] = bound;
    (*ccfds_)[d] = *std::move(proc);
  }

  static CcfConfig Load(const std::string& d) {
    auto config = LoadCcfConfig(absl::StrCat(*dir_, "/", d, ".json"));
    EXPECT_TRUE(config.ok()) << config.status();
    return *std::move(config);
  }

  // The configured peer entry for `peer` in `d`'s configuration.
  static Peer PeerOf(const CcfConfig& config, const std::string& peer) {
    for (const Peer& p : config.peers) {
      if (p.ccf_id.value() == CcfIdOf(peer)) return p;
    }
    ADD_FAILURE() << "no peer " << peer;
    return config.peers[0];
  }

  static const CertificateAuthority LoadCa(const std::string& d) {
    std::string ca_dir = absl::StrCat(*dir_, "/pki/", d, "-ca");
    auto ca = CertificateAuthority::FromCertAndKey(
        *X509Cert::FromPem(*ReadFile(ca_dir + "/ca.pem")),
        *EvpKey::FromPrivateKeyPem(SecretBytes(*ReadFile(ca_dir + "/ca.key"))));
    EXPECT_TRUE(ca.ok()) << ca.status();
    return *std::move(ca);
  }

  // A bus identity claiming `uri`, with a certificate signed by the CA of `signing_domain`.
  static BusIdentity Forged(const std::string& signing_domain, const std::string& uri) {
    CertificateAuthority ca = LoadCa(signing_domain);
    EvpKey key = *EvpKey::GenerateEcP256();
    SpiffeId id = *SpiffeId::Parse(uri);
    X509Cert cert = *ca.IssueUncheckedForTesting(
        LeafRequest{id, &key, {}, {"127.0.0.1"}, absl::Hours(1)}, Clock::Real());
    BusIdentity self;
    self.ccf_id = CcfId(id.id());
    self.trust_domain = id.trust_domain();
    self.certificate_chain_pem = *cert.ToPem();
    self.private_key_pem = *key.PrivateKeyPem();
    self.own_trust_bundle = *TrustBundle::FromPem(*ca.certificate().ToPem());
    return self;
  }

  static RunResult Capifctl(const std::string& d) {
    auto r = RunToCompletion({Runfile("tools/capifctl/capifctl"), "peers", "--config",
                              absl::StrCat(*dir_, "/", d, ".json"), "--timeout-ms", "5000"},
                             absl::Seconds(60));
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : RunResult{-1, "", ""};
  }

  static std::string* dir_;
  static std::map<std::string, std::unique_ptr<Subprocess>>* ccfds_;
  static std::map<std::string, int>* ports_;
};

std::string* ThreeDomainsTest::dir_ = nullptr;
std::map<std::string, std::unique_ptr<Subprocess>>* ThreeDomainsTest::ccfds_ = nullptr;
std::map<std::string, int>* ThreeDomainsTest::ports_ = nullptr;

TEST_F(ThreeDomainsTest, HelloWorksBetweenEveryConfiguredPair) {
  for (std::string from : kDomains) {
    CcfConfig config = Load(from);
    ASSERT_EQ(config.peers.size(), 2u);
    for (const Peer& peer : config.peers) {
      auto client = PeerClient::Create(config.bus_identity, peer, Clock::Real());
      auto hello = client->Hello(kTimeout);
      ASSERT_TRUE(hello.ok()) << from << " -> " << peer.ccf_id << ": " << hello.status();
      EXPECT_EQ(hello->response.ccf_id(), peer.ccf_id.value());
      EXPECT_EQ(hello->response.trust_domain(), peer.trust_domain.value());
      EXPECT_EQ(hello->response.authenticated_caller(),
                config.bus_identity.identity().ToString());
      EXPECT_EQ(client->presented_identity(), peer.identity().ToString());
      auto bundle = client->GetTrustBundle(kTimeout);
      ASSERT_TRUE(bundle.ok()) << bundle.status();
      EXPECT_EQ(bundle->root_ca_pem(0), peer.trust_bundle.pem());
    }
  }
}

TEST_F(ThreeDomainsTest, CapifctlShowsEveryPeerReachable) {
  for (std::string d : kDomains) {
    RunResult r = Capifctl(d);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    for (std::string p : kDomains) {
      if (p == d) continue;
      EXPECT_NE(r.out.find(absl::StrCat("spiffe://", TrustDomainOf(p), "/ccf/", CcfIdOf(p))),
                std::string::npos)
          << r.out;
    }
  }
}

TEST_F(ThreeDomainsTest, HandshakeRefusesForeignAndMisnamedCertificates) {
  Peer a = PeerOf(Load("b"), "a");  // how anyone reaches ccf-a
  struct Case {
    const char* what;
    BusIdentity identity;
  } cases[] = {
      {"client certificate from an unknown CA",
       Forged("x", "spiffe://operator-x.example/ccf/ccf-x")},
      {"unknown CA claiming a configured peer",
       Forged("x", "spiffe://operator-b.example/ccf/ccf-b")},
      {"valid certificate of a known domain, not a configured peer",
       Forged("b", "spiffe://operator-b.example/ccf/ccf-rogue")},
      {"signed by B's CA, naming trust domain C", Forged("b", "spiffe://operator-c.example/ccf/ccf-c")},
  };
  for (const Case& c : cases) {
    auto hello = PeerClient::Create(c.identity, a, Clock::Real())->Hello(kTimeout);
    EXPECT_EQ(hello.status().code(), absl::StatusCode::kUnavailable)
        << c.what << ": " << hello.status();
  }
  // The refusals the verifier decides are logged as security events by ccf-a.
  Subprocess& a_proc = *(*ccfds_)["a"];
  EXPECT_TRUE(a_proc.WaitForStderr("spiffe://operator-b.example/ccf/ccf-rogue is not a configured "
                                   "peer", kTimeout).ok());
  EXPECT_TRUE(a_proc.WaitForStderr("spiffe://operator-c.example/ccf/ccf-c: not valid in trust "
                                   "domain operator-c.example", kTimeout).ok());
}

TEST_F(ThreeDomainsTest, OriginNamingAnotherCcfIsPermissionDenied) {
  CcfConfig b = Load("b");
  auto client = PeerClient::Create(b.bus_identity, PeerOf(b, "a"), Clock::Real());
  for (auto op : {0, 1}) {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + kTimeout));
    grpc::Status s;
    if (op == 0) {
      fv1::HelloRequest req;
      *req.mutable_header() = client->NewHeader();
      req.mutable_header()->set_origin_ccf_id("ccf-c");
      fv1::HelloResponse resp;
      s = client->stub()->Hello(&ctx, req, &resp);
    } else {
      fv1::OffboardingNotice req;
      *req.mutable_header() = client->NewHeader();
      req.mutable_header()->set_origin_ccf_id("ccf-c");
      req.set_api_invoker_id("inv-1");
      fv1::NoticeAck ack;
      s = client->stub()->NotifyOffboarding(&ctx, req, &ack);
    }
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
  }
}

TEST_F(ThreeDomainsTest, NoticeIsAcknowledgedWithItsId) {
  CcfConfig c = Load("c");
  auto client = PeerClient::Create(c.bus_identity, PeerOf(c, "a"), Clock::Real());
  fv1::OffboardingNotice req;
  *req.mutable_header() = client->NewHeader();
  req.set_api_invoker_id("inv-1");
  req.set_notice_id("n-1");
  fv1::NoticeAck resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + kTimeout));
  grpc::Status s = client->stub()->NotifyOffboarding(&ctx, req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.notice_id(), "n-1");
  EXPECT_EQ(resp.header().responder_ccf_id(), "ccf-a");
}

TEST_F(ThreeDomainsTest, PlaintextIsRefused) {
  auto stub = fv1::Interconnect::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", (*ports_)["a"]), grpc::InsecureChannelCredentials()));
  fv1::HelloRequest req;
  req.mutable_header()->set_origin_ccf_id("ccf-b");
  req.mutable_header()->set_request_id("r1");
  fv1::HelloResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + kTimeout));
  EXPECT_EQ(stub->Hello(&ctx, req, &resp).error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(ThreeDomainsTest, PeerThatIsDownShowsUnreachableWhileOthersWork) {
  Subprocess& c = *(*ccfds_)["c"];
  c.Signal(SIGTERM);
  auto code = c.Wait(absl::Seconds(30));
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 0) << "ccfd c did not stop cleanly:\n" << c.stderr_text();

  RunResult r = Capifctl("a");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  std::string b_line, c_line;
  for (absl::string_view line : absl::StrSplit(r.out, '\n')) {
    if (absl::StartsWith(line, "ccf-b ")) b_line = std::string(line);
    if (absl::StartsWith(line, "ccf-c ")) c_line = std::string(line);
  }
  EXPECT_NE(b_line.find(" reachable "), std::string::npos) << r.out;
  EXPECT_NE(c_line.find(" unreachable "), std::string::npos) << r.out;

  // B still greets A directly while C is down.
  CcfConfig b = Load("b");
  EXPECT_TRUE(PeerClient::Create(b.bus_identity, PeerOf(b, "a"), Clock::Real())
                  ->Hello(kTimeout)
                  .ok());

  // C comes back on the same port and is reachable again.
  StartCcfd("c", (*ports_)["c"]);
  EXPECT_EQ(Capifctl("a").exit_code, 0);
}

}  // namespace
}  // namespace capif
