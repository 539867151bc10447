// The bus end to end in one process: a real BusServer for CCF-A and real PeerClients over mutual
// TLS on 127.0.0.1, port 0.
#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/security/credentials.h>

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include <fcntl.h>
#include <grpc/support/log.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <thread>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "common/clock.h"
#include "federation/bus_credentials.h"
#include "federation/bus_server.h"
#include "common/fake_clock.h"
#include "federation/peer_client.h"
#include "federation/shared_api_cache.h"
#include "federation/testing/stub_local_ccf.h"
#include "federation/testing/test_domains.h"

namespace capif {
namespace {

namespace fv1 = capif::federation::v1;

constexpr absl::Duration kTimeout = absl::Seconds(10);

// Local state that owns one invoker and shares one API, whatever the peer.
class FakeLocalCcf final : public StubLocalCcf {
 public:
  absl::StatusOr<bool> OwnsInvoker(const std::string& id) override { return id == "inv-mine"; }
  absl::StatusOr<std::vector<std::string>> ShareableApis(const Peer& peer,
                                                         const std::string& name) override {
    last_peer = peer.ccf_id.value();
    if (!name.empty() && name != "location-query") return std::vector<std::string>{};
    return std::vector<std::string>{R"({"apiName":"location-query","ccfId":"ccf-a"})"};
  }
  absl::StatusOr<std::vector<MethodDecision>> SelectSecurityMethods(
      const Peer&, const std::string&, const std::vector<std::string>& preferred,
      const std::vector<std::pair<std::string, std::string>>& targets) override {
    std::vector<MethodDecision> out;
    for (const auto& [aef, api] : targets) out.push_back({aef, api, preferred[0], ""});
    return out;
  }
  std::string JwksJson() override { return R"({"keys":[{"kid":"k1"}]})"; }
  std::string last_peer;
};

class BusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    a_ = domains_.Identity("a.example", "ccf-a");
    b_ = domains_.Identity("b.example", "ccf-b");
    c_ = domains_.Identity("c.example", "ccf-c");
    a2_ = domains_.Identity("a.example", "ccf-a2");
    auto directory = PeerDirectory::Create(
        {domains_.PeerFor("a.example", "ccf-a2", "unused:3"),
         domains_.PeerFor("b.example", "ccf-b", "unused:1",
                          {fv1::OPERATION_NOTIFY_OFFBOARDING, fv1::OPERATION_QUERY_INVOKER_OWNERSHIP,
                           fv1::OPERATION_DISCOVER_SHAREABLE_APIS,
                           fv1::OPERATION_REQUEST_SECURITY_METHOD}),
         domains_.PeerFor("c.example", "ccf-c", "unused:2")});
    ASSERT_TRUE(directory.ok());
    audit_path_ = std::string(getenv("TEST_TMPDIR")) + "/" +
                  ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".audit";
    audit_ = *AuditLog::OpenFile(audit_path_, Clock::Real());
    BusServer::Options options;
    options.metrics = &calls_;
    auto server = BusServer::Start(a_, *directory, "127.0.0.1:0", Clock::Real(), &local_,
                                   audit_.get(), options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    endpoint_ = absl::StrCat("127.0.0.1:", server_->port());
  }

  // A client of A presenting `self`, expecting A's identity.
  std::unique_ptr<PeerClient> ClientAs(const BusIdentity& self) {
    return PeerClient::Create(self, domains_.PeerFor("a.example", "ccf-a", endpoint_),
                              Clock::Real());
  }

  TestDomains domains_{Clock::Real()};
  FakeLocalCcf local_;
  std::string audit_path_;
  std::unique_ptr<AuditLog> audit_;
  BusIdentity a_, a2_, b_, c_;
  RequestMetrics calls_;
  std::unique_ptr<BusServer> server_;
  std::string endpoint_;
};

// Issue 13: a peer run as several replicas (one identity, several bus endpoints). Calls are
// spread over the replicas that answer and go to the other when one stops.
TEST_F(BusTest, APeerWithSeveralEndpointsIsCalledAtThoseThatAnswer) {
  auto directory = PeerDirectory::Create({domains_.PeerFor("b.example", "ccf-b", "unused:1")});
  ASSERT_TRUE(directory.ok());
  RequestMetrics second_calls;
  BusServer::Options options;
  options.metrics = &second_calls;
  auto second = BusServer::Start(a_, *directory, "127.0.0.1:0", Clock::Real(), &local_,
                                 audit_.get(), options);
  ASSERT_TRUE(second.ok()) << second.status();
  Peer a = domains_.PeerFor("a.example", "ccf-a", endpoint_);
  a.other_endpoints = {absl::StrCat("localhost:", (*second)->port())};  // a name, resolved
  auto client = PeerClient::Create(b_, a, Clock::Real());
  for (int i = 0; i < 20; ++i) {
    auto hello = client->Hello(absl::Seconds(10));
    ASSERT_TRUE(hello.ok()) << hello.status();
  }
  // Both replicas served calls.
  auto total = [](const RequestMetrics& m) {
    uint64_t n = 0;
    for (const RequestMetrics::Series& s : m.Snapshot()) n += s.count;
    return n;
  };
  EXPECT_GT(total(calls_), 0u);
  EXPECT_GT(total(second_calls), 0u);
  // The first replica stops: every call goes to the second. (A call in flight at the moment of
  // the stop may fail; none after the client has noticed.)
  server_.reset();
  int failed = 0;
  for (int i = 0; i < 20; ++i) {
    grpc::ClientContext ctx;
    PreparePeerCall(&ctx, absl::Now() + absl::Seconds(10));
    fv1::HelloRequest req;
    *req.mutable_header() = client->NewHeader();
    req.set_protocol_version(kProtocolVersion);
    fv1::HelloResponse resp;
    if (!client->stub()->Hello(&ctx, req, &resp).ok()) ++failed;
  }
  EXPECT_LE(failed, 1);
  EXPECT_EQ(client->presented_identity(), "spiffe://a.example/ccf/ccf-a");
}

TEST(MultiAddressTargetTest, ResolvesNamesAndRefusesMixedFamilies) {
  auto v4 = MultiAddressTarget({"127.0.0.1:1", "localhost:2"});
  ASSERT_TRUE(v4.ok()) << v4.status();
  EXPECT_EQ(*v4, "ipv4:127.0.0.1:1,127.0.0.1:2");
  auto v6 = MultiAddressTarget({"[::1]:3", "[::1]:4"});
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ(*v6, "ipv6:[::1]:3,[::1]:4");
  EXPECT_EQ(MultiAddressTarget({"127.0.0.1:1", "[::1]:2"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(MultiAddressTarget({"no-such-host.invalid:1"}).ok());
}

// Issue 10 (metrics): every call is counted by the authenticated peer, operation and status.
TEST_F(BusTest, CallsAreCountedByPeerOperationAndStatus) {
  ASSERT_TRUE(ClientAs(b_)->Hello(kTimeout).ok());
  ASSERT_TRUE(ClientAs(b_)->Hello(kTimeout).ok());
  auto client = ClientAs(c_);
  fv1::OwnershipQuery q;  // not in C's agreement
  *q.mutable_header() = client->NewHeader();
  q.set_api_invoker_id("inv-1");
  fv1::OwnershipAnswer a;
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + kTimeout));
  ASSERT_EQ(client->stub()->QueryInvokerOwnership(&ctx, q, &a).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  std::map<std::string, uint64_t> counts;
  for (const RequestMetrics::Series& s : calls_.Snapshot()) {
    counts[absl::StrCat(s.labels[0], " ", s.labels[1], " ", s.labels[2])] = s.count;
  }
  EXPECT_EQ(counts["ccf-b Hello OK"], 2u);
  EXPECT_EQ(counts["ccf-c QueryInvokerOwnership PERMISSION_DENIED"], 1u);
}

TEST_F(BusTest, HelloReportsBothIdentitiesAndAllowedOperations) {
  auto client = ClientAs(b_);
  auto hello = client->Hello(kTimeout);
  ASSERT_TRUE(hello.ok()) << hello.status();
  EXPECT_EQ(hello->response.ccf_id(), "ccf-a");
  EXPECT_EQ(hello->response.trust_domain(), "a.example");
  EXPECT_EQ(hello->response.protocol_version(), "capif.federation.v1");
  EXPECT_EQ(hello->response.authenticated_caller(), "spiffe://b.example/ccf/ccf-b");
  EXPECT_EQ(hello->response.header().responder_ccf_id(), "ccf-a");
  EXPECT_EQ(hello->response.bundle_sequence(), 1u);
  // Implemented and allowed to B: Hello, GetTrustBundle, ownership, shareable APIs, methods,
  // offboarding notices.
  EXPECT_EQ(hello->response.operations_size(), 6);
  EXPECT_EQ(client->presented_identity(), "spiffe://a.example/ccf/ccf-a");
}

TEST_F(BusTest, GetTrustBundleServesOwnRoots) {
  auto bundle = ClientAs(c_)->GetTrustBundle(kTimeout);
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  EXPECT_EQ(bundle->trust_domain(), "a.example");
  ASSERT_EQ(bundle->root_ca_pem_size(), 1);
  EXPECT_EQ(bundle->root_ca_pem(0), *domains_.Ca("a.example").certificate().ToPem());
  EXPECT_EQ(bundle->jwks_json(), R"({"keys":[{"kid":"k1"}]})");
}

TEST_F(BusTest, OwnershipQueryAnswersFromLocalState) {
  auto client = ClientAs(b_);
  for (auto [id, owned] : {std::make_pair("inv-mine", true), std::make_pair("inv-other", false)}) {
    fv1::OwnershipQuery q;
    *q.mutable_header() = client->NewHeader();
    q.set_api_invoker_id(id);
    fv1::OwnershipAnswer a;
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + kTimeout));
    grpc::Status s = client->stub()->QueryInvokerOwnership(&ctx, q, &a);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(a.owned(), owned) << id;
    EXPECT_EQ(a.ttl_seconds(), owned ? 300u : 60u);
    EXPECT_EQ(a.header().request_id(), q.header().request_id());
  }
  fv1::OwnershipQuery bad;
  *bad.mutable_header() = client->NewHeader();
  bad.set_api_invoker_id("no/slashes");
  fv1::OwnershipAnswer a;
  grpc::ClientContext ctx;
  EXPECT_EQ(client->stub()->QueryInvokerOwnership(&ctx, bad, &a).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  // C's agreement does not include the ownership query.
  auto c = ClientAs(c_);
  fv1::OwnershipQuery q;
  *q.mutable_header() = c->NewHeader();
  q.set_api_invoker_id("inv-mine");
  grpc::ClientContext ctx_c;
  EXPECT_EQ(c->stub()->QueryInvokerOwnership(&ctx_c, q, &a).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(BusTest, SecurityMethodRequestIsValidatedAndAnsweredPerTarget) {
  auto client = ClientAs(b_);
  fv1::SecurityMethodRequest req;
  *req.mutable_header() = client->NewHeader();
  req.set_api_invoker_id("inv-b1");
  req.add_preferred_methods(fv1::SECURITY_METHOD_OAUTH);
  req.add_targets()->set_aef_id("aef-1");
  fv1::SecurityMethodResponse resp;
  grpc::ClientContext ctx;
  grpc::Status s = client->stub()->RequestSecurityMethod(&ctx, req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(resp.decisions_size(), 1);
  EXPECT_EQ(resp.decisions(0).aef_id(), "aef-1");
  EXPECT_EQ(resp.decisions(0).selected_method(), fv1::SECURITY_METHOD_OAUTH);

  auto expect_invalid = [&](std::function<void(fv1::SecurityMethodRequest&)> mutate) {
    fv1::SecurityMethodRequest bad = req;
    *bad.mutable_header() = client->NewHeader();
    mutate(bad);
    grpc::ClientContext c;
    return client->stub()->RequestSecurityMethod(&c, bad, &resp).error_code();
  };
  EXPECT_EQ(expect_invalid([](auto& r) { r.clear_preferred_methods(); }),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(expect_invalid([](auto& r) { r.add_preferred_methods(fv1::SECURITY_METHOD_UNSPECIFIED); }),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(expect_invalid([](auto& r) { r.clear_targets(); }), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(expect_invalid([](auto& r) { r.mutable_targets(0)->set_aef_id("a/b"); }),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(expect_invalid([](auto& r) { r.set_api_invoker_id(""); }),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(BusTest, ShareableApisComeFromLocalStateForTheAuthenticatedPeer) {
  auto client = ClientAs(b_);
  fv1::DiscoverShareableApisRequest req;
  *req.mutable_header() = client->NewHeader();
  fv1::DiscoverShareableApisResponse resp;
  grpc::ClientContext ctx;
  ASSERT_TRUE(client->stub()->DiscoverShareableApis(&ctx, req, &resp).ok());
  ASSERT_EQ(resp.service_api_description_json_size(), 1);
  EXPECT_EQ(local_.last_peer, "ccf-b");
  req.set_api_name("other");
  grpc::ClientContext ctx2;
  ASSERT_TRUE(client->stub()->DiscoverShareableApis(&ctx2, req, &resp).ok());
  EXPECT_EQ(resp.service_api_description_json_size(), 0);
}

TEST_F(BusTest, OriginNamingAnotherCcfIsPermissionDenied) {
  auto client = ClientAs(b_);
  fv1::HelloRequest req;
  *req.mutable_header() = client->NewHeader();
  req.mutable_header()->set_origin_ccf_id("ccf-c");
  fv1::HelloResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + kTimeout));
  grpc::Status s = client->stub()->Hello(&ctx, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
}

TEST_F(BusTest, EveryDecisionIsAuditedAsOneJsonLine) {
  auto client = ClientAs(b_);
  ASSERT_TRUE(client->Hello(kTimeout).ok());
  fv1::HelloRequest req;
  *req.mutable_header() = client->NewHeader();
  req.mutable_header()->set_origin_ccf_id("ccf-c");
  fv1::HelloResponse resp;
  grpc::ClientContext ctx;
  client->stub()->Hello(&ctx, req, &resp);
  BusIdentity rogue = domains_.IdentityWith(
      "b.example", "ccf-rogue", domains_.Issue("b.example", "spiffe://b.example/ccf/ccf-rogue"));
  EXPECT_FALSE(ClientAs(rogue)->Hello(kTimeout).ok());

  std::ifstream in(audit_path_);
  std::vector<nlohmann::json> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
  ASSERT_GE(lines.size(), 3u);  // gRPC may retry a refused handshake: one line per attempt
  EXPECT_EQ(lines[0]["operation"], "HELLO");
  EXPECT_EQ(lines[0]["decision"], "allow");
  EXPECT_EQ(lines[0]["peer"], "spiffe://b.example/ccf/ccf-b");
  EXPECT_EQ(lines[1]["decision"], "deny");
  EXPECT_NE(lines[1]["reason"].get<std::string>().find("does not match"), std::string::npos);
  for (size_t i = 2; i < lines.size(); ++i) {
    EXPECT_EQ(lines[i]["operation"], "TLS_HANDSHAKE");
    EXPECT_EQ(lines[i]["peer"], "spiffe://b.example/ccf/ccf-rogue");
    EXPECT_EQ(lines[i]["decision"], "deny");
  }
}

// CAPIF-6: a peer CCF of the same trust domain. Its TLS stack can build a chain to the shared
// root from its own trust store and send it; the server still finds the leaf (regression: the
// server took the root for the peer's certificate and refused every same-domain peer).
TEST_F(BusTest, PeerOfTheSameTrustDomainIsAccepted) {
  auto client = ClientAs(a2_);
  auto hello = client->Hello(kTimeout);
  ASSERT_TRUE(hello.ok()) << hello.status();
  EXPECT_EQ(hello->response.authenticated_caller(), "spiffe://a.example/ccf/ccf-a2");
}

TEST_F(BusTest, NoticeIsCheckedAfterAuthorizationAndAcknowledged) {
  auto client = ClientAs(b_);
  fv1::OffboardingNotice notice;
  *notice.mutable_header() = client->NewHeader();
  fv1::NoticeAck ack;
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + kTimeout));
    grpc::Status s = client->stub()->NotifyOffboarding(&ctx, notice, &ack);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  }
  notice.set_api_invoker_id("inv-1");
  notice.set_notice_id("n-1");
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + kTimeout));
    grpc::Status s = client->stub()->NotifyOffboarding(&ctx, notice, &ack);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(ack.notice_id(), "n-1");
    EXPECT_EQ(ack.header().request_id(), notice.header().request_id());
  }

  // C's agreement does not allow it: refused before the notice is even looked at.
  auto client_c = ClientAs(c_);
  *notice.mutable_header() = client_c->NewHeader();
  grpc::ClientContext ctx_c;
  ctx_c.set_deadline(absl::ToChronoTime(absl::Now() + kTimeout));
  grpc::Status s = client_c->stub()->NotifyOffboarding(&ctx_c, notice, &ack);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
}

TEST_F(BusTest, HandshakeRefusesCertificatesThatAreNotConfiguredPeers) {
  struct Case {
    const char* what;
    std::string signing_domain;
    std::string uri;
  } cases[] = {
      {"unknown CA", "x.example", "spiffe://b.example/ccf/ccf-b"},
      {"known domain, unconfigured id", "b.example", "spiffe://b.example/ccf/ccf-rogue"},
      {"B's CA naming trust domain C", "b.example", "spiffe://c.example/ccf/ccf-c"},
  };
  for (const Case& c : cases) {
    std::string td = SpiffeId::Parse(c.uri)->trust_domain().value();
    std::string id = SpiffeId::Parse(c.uri)->id();
    BusIdentity rogue = domains_.IdentityWith(td, id, domains_.Issue(c.signing_domain, c.uri));
    auto hello = ClientAs(rogue)->Hello(kTimeout);
    EXPECT_EQ(hello.status().code(), absl::StatusCode::kUnavailable)
        << c.what << ": " << hello.status();
  }
}

TEST_F(BusTest, ClientRefusesServerWithUnexpectedIdentity) {
  // B expects ccf-z at A's endpoint: A's certificate does not match, so no call goes through.
  auto client = PeerClient::Create(b_, domains_.PeerFor("a.example", "ccf-z", endpoint_),
                                   Clock::Real());
  auto hello = client->Hello(kTimeout);
  EXPECT_EQ(hello.status().code(), absl::StatusCode::kUnavailable) << hello.status();
  EXPECT_EQ(client->presented_identity(), "spiffe://a.example/ccf/ccf-a");
}

TEST_F(BusTest, PlaintextIsRefused) {
  auto channel = grpc::CreateChannel(endpoint_, grpc::InsecureChannelCredentials());
  auto stub = fv1::Interconnect::NewStub(channel);
  fv1::HelloRequest req;
  req.mutable_header()->set_origin_ccf_id("ccf-b");
  req.mutable_header()->set_request_id("r1");
  fv1::HelloResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + kTimeout));
  grpc::Status s = stub->Hello(&ctx, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
}

// Issue 10, problems 6 and 7: shared APIs come from a per-peer cache, served stale while the
// peer is down; a peer never reached is reported unreachable instead of silently sharing nothing.
TEST_F(BusTest, SharedApiCacheServesStaleWhileThePeerIsDown) {
  auto client = ClientAs(b_);
  FakeClock clock(absl::Now());
  SharedApiCache cache({{CcfId("ccf-a"), client.get()}}, clock,
                       {absl::Seconds(5), absl::Seconds(30), absl::Seconds(5)});
  SharedApiSnapshot first = cache.Get("");
  ASSERT_EQ(first.apis.size(), 1u);
  EXPECT_EQ(first.apis[0]["ccfId"], "ccf-a");
  EXPECT_TRUE(first.stale.empty());
  EXPECT_TRUE(first.unreachable.empty());
  EXPECT_TRUE(cache.Get("other").apis.empty());  // filtered here, from the same answer
  local_.last_peer.clear();
  EXPECT_EQ(cache.Get("location-query").apis.size(), 1u);
  EXPECT_EQ(local_.last_peer, "");  // fresh: the peer was not asked again

  server_->Shutdown(absl::Seconds(1));
  clock.Advance(absl::Seconds(31));
  SharedApiSnapshot stale = cache.Get("");
  ASSERT_EQ(stale.apis.size(), 1u);  // answered at once from the last answer
  EXPECT_EQ(stale.stale, std::vector<std::string>{"ccf-a"});
  EXPECT_TRUE(stale.unreachable.empty());
  // ... and says so to the operator: the age of what it kept, one stale answer, the failed fetch.
  cache.Get("");  // the refresh started by the stale answer has failed by now
  std::vector<SharedApiCache::PeerStatus> status = cache.Status();
  ASSERT_EQ(status.size(), 1u);
  EXPECT_EQ(status[0].peer, "ccf-a");
  EXPECT_TRUE(status[0].fetched);
  EXPECT_EQ(status[0].age, absl::Seconds(31));
  EXPECT_EQ(status[0].stale_answers, 2u);
  EXPECT_EQ(status[0].missing_answers, 0u);
}

TEST_F(BusTest, SharedApiCacheNamesAPeerItNeverReached) {
  server_->Shutdown(absl::Seconds(1));
  auto client = ClientAs(b_);
  FakeClock clock(absl::Now());
  SharedApiCache cache({{CcfId("ccf-a"), client.get()}}, clock,
                       {absl::Seconds(2), absl::Seconds(30), absl::Seconds(5)});
  SharedApiSnapshot s = cache.Get("");
  EXPECT_TRUE(s.apis.empty());
  EXPECT_EQ(s.unreachable, std::vector<std::string>{"ccf-a"});
  // Within retry_after it is not asked again (the answer is known to be "down").
  SharedApiSnapshot again = cache.Get("");
  EXPECT_EQ(again.unreachable, std::vector<std::string>{"ccf-a"});
  std::vector<SharedApiCache::PeerStatus> status = cache.Status();
  ASSERT_EQ(status.size(), 1u);
  EXPECT_FALSE(status[0].fetched);
  EXPECT_TRUE(status[0].failing);
  EXPECT_EQ(status[0].missing_answers, 2u);
}

// Issue 10 (metrics): the calls this CCF makes are counted by peer, operation and status, for
// the blocking stubs and the asynchronous ones (the shared-API fetch) alike.
TEST_F(BusTest, CallsToAPeerAreCountedOnTheCallingSide) {
  RequestMetrics made;
  auto client = PeerClient::Create(b_, domains_.PeerFor("a.example", "ccf-a", endpoint_),
                                   Clock::Real(), absl::Seconds(10), &made);
  ASSERT_TRUE(client->Hello(kTimeout).ok());
  FakeClock clock(absl::Now());
  SharedApiCache cache({{CcfId("ccf-a"), client.get()}}, clock,
                       {absl::Seconds(5), absl::Seconds(30), absl::Seconds(5)});
  ASSERT_EQ(cache.Get("").apis.size(), 1u);
  server_->Shutdown(absl::Seconds(1));
  EXPECT_FALSE(client->Hello(absl::Milliseconds(300)).ok());
  std::map<std::string, uint64_t> counts;
  for (const RequestMetrics::Series& s : made.Snapshot()) {
    EXPECT_EQ(s.labels[0], "ccf-a");
    counts[absl::StrCat(s.labels[1], " ", s.labels[2])] += s.count;
  }
  uint64_t total = 0;
  for (const auto& [key, n] : counts) total += n;
  EXPECT_EQ(total, 3u);
  EXPECT_EQ(counts["Hello OK"], 1u);
  EXPECT_EQ(counts["DiscoverShareableApis OK"], 1u);
  EXPECT_EQ(counts["Hello UNAVAILABLE"] + counts["Hello DEADLINE_EXCEEDED"], 1u);
}

// Issue 10, problem 2 (bus): a request whose string fields are not UTF-8, sent as raw bytes (a
// hostile peer does not use our stubs).
TEST_F(BusTest, InvalidUtf8InARequestIsInvalidArgument) {
  auto channel = grpc::CreateChannel(
      endpoint_, MakeBusChannelCredentials(b_, domains_.PeerFor("a.example", "ccf-a", endpoint_),
                                           Clock::Real()));
  grpc::GenericStub stub(channel);
  fv1::DiscoverShareableApisRequest req;
  req.mutable_header()->set_origin_ccf_id("ccf-b");
  req.mutable_header()->set_request_id("r-1");
  req.set_api_name("abc");
  std::string wire = req.SerializeAsString();
  size_t at = wire.find("abc");
  ASSERT_NE(at, std::string::npos);
  wire[at] = '\xff';  // the api_name is no longer UTF-8
  grpc::Slice slice(wire);
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + kTimeout));
  grpc::CompletionQueue cq;
  auto call = stub.PrepareUnaryCall(&ctx, "/capif.federation.v1.Interconnect/DiscoverShareableApis",
                                    request, &cq);
  call->StartCall();
  grpc::Status status;
  call->Finish(&response, &status, reinterpret_cast<void*>(1));
  void* tag = nullptr;
  bool ok = false;
  ASSERT_TRUE(cq.Next(&tag, &ok));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  EXPECT_NE(status.error_message().find("api_name"), std::string::npos) << status.error_message();
  // The bus still serves.
  EXPECT_TRUE(ClientAs(b_)->Hello(kTimeout).ok());
}

// gRPC 1.51 stops listening for good after one accept4() EMFILE (fixed upstream in 1.57). The
// hook below sees gRPC's own log line, so the test knows the accept has failed.
std::atomic<bool> accept_failed{false};
void WatchGrpcLog(gpr_log_func_args* args) {
  if (strstr(args->message, "accept4") != nullptr) accept_failed = true;
  fprintf(stderr, "grpc %s:%d] %s\n", args->file, args->line, args->message);
}

// Issue 10, problem 5: after the process ran out of file descriptors the bus accepts again.
TEST_F(BusTest, AcceptsAgainAfterRunningOutOfFileDescriptors) {
  ASSERT_TRUE(ClientAs(b_)->Hello(kTimeout).ok());
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  int probe = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(probe, 0);
  rlimit low = saved;
  low.rlim_cur = std::min<rlim_t>(saved.rlim_cur, 1024);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  std::vector<int> fillers;
  for (int fd; (fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;) fillers.push_back(fd);
  ASSERT_EQ(errno, EMFILE);
  accept_failed = false;
  gpr_set_log_function(WatchGrpcLog);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(server_->port());
  ASSERT_EQ(connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  absl::Time until = absl::Now() + kTimeout;
  while (!accept_failed && absl::Now() < until) absl::SleepFor(absl::Milliseconds(5));
  for (int fd : fillers) close(fd);
  close(probe);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &saved), 0);
  ASSERT_TRUE(accept_failed) << "gRPC never tried to accept";
  // What the watchdog does every listener_check: the probe finds nobody accepting, the server
  // is rebuilt on the same port, and peers reach it again.
  auto rebuilt = server_->EnsureListening(absl::Milliseconds(500));
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.status();
  EXPECT_TRUE(*rebuilt);
  EXPECT_EQ(server_->restarts(), 1);
  EXPECT_EQ(endpoint_, absl::StrCat("127.0.0.1:", server_->port()));
  EXPECT_TRUE(ClientAs(b_)->Hello(kTimeout).ok());
  // A listener that accepts is left alone.
  auto again = server_->EnsureListening(absl::Seconds(2));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(*again);
  EXPECT_EQ(server_->restarts(), 1);
}

// A TLS handshake with the bus as peer `self` would do it, but TLS 1.2 with only `tls12_ciphers`
// (empty: any version, default suites). True when the bus accepted the connection.
bool HandshakeAs(const BusIdentity& self, int port, const std::string& tls12_ciphers) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (!tls12_ciphers.empty()) {
    SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
    if (SSL_CTX_set_cipher_list(ctx, tls12_ciphers.c_str()) != 1) {
      SSL_CTX_free(ctx);
      return false;
    }
  }
  BIO* chain = BIO_new_mem_buf(self.certificate_chain_pem.data(),
                               static_cast<int>(self.certificate_chain_pem.size()));
  X509* leaf = PEM_read_bio_X509(chain, nullptr, nullptr, nullptr);
  SSL_CTX_use_certificate(ctx, leaf);
  X509_free(leaf);
  while (X509* extra = PEM_read_bio_X509(chain, nullptr, nullptr, nullptr)) {
    SSL_CTX_add_extra_chain_cert(ctx, extra);  // takes ownership
  }
  BIO_free(chain);
  std::string key_pem(self.private_key_pem.Reveal(InsecureSecretAccess()));
  BIO* key_bio = BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(key_bio, nullptr, nullptr, nullptr);
  SSL_CTX_use_PrivateKey(ctx, key);
  EVP_PKEY_free(key);
  BIO_free(key_bio);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  static const unsigned char kH2[] = {2, 'h', '2'};
  SSL_CTX_set_alpn_protos(ctx, kH2, sizeof kH2);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = false;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    SSL* ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    // The bus checks the peer certificate once the TLS handshake is done; an accepted peer then
    // gets the server's HTTP/2 SETTINGS, a refused one a closed connection.
    char byte;
    ok = SSL_connect(ssl) == 1 && SSL_read(ssl, &byte, 1) > 0;
    SSL_free(ssl);
  }
  ERR_clear_error();
  close(fd);
  SSL_CTX_free(ctx);
  return ok;
}

// Issue 10 (TLS profile, TS 33.310 Annex E): the bus offers TLS 1.3 and TLS 1.2 with AEAD suites
// only, never CBC or SHA-1 MACs.
TEST_F(BusTest, OnlyAeadSuitesOverTls12) {
  int port = server_->port();
  EXPECT_TRUE(HandshakeAs(b_, port, ""));  // TLS 1.3
  EXPECT_TRUE(HandshakeAs(b_, port, "ECDHE-ECDSA-AES128-GCM-SHA256"));
  EXPECT_TRUE(HandshakeAs(b_, port, "ECDHE-ECDSA-AES256-GCM-SHA384"));
  EXPECT_FALSE(HandshakeAs(b_, port, "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:AES128-SHA"));
  EXPECT_FALSE(HandshakeAs(b_, port, "ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA384"));
  // The client is a real one: a certificate that is not a configured peer fails either way.
  BusIdentity rogue = domains_.Identity("b.example", "ccf-rogue");
  EXPECT_FALSE(HandshakeAs(rogue, port, ""));
  EXPECT_FALSE(HandshakeAs(rogue, port, "ECDHE-ECDSA-AES128-GCM-SHA256"));
}

// Local state whose ownership answer waits until released: a call that stays in flight.
class BlockingLocalCcf final : public StubLocalCcf {
 public:
  absl::StatusOr<bool> OwnsInvoker(const std::string&) override {
    if (calls.fetch_add(1) == 0) entered.Notify();
    release.WaitForNotificationWithTimeout(kTimeout);
    return false;
  }
  std::atomic<int> calls{0};
  absl::Notification entered, release;
};

// Issue 10 (bus limits): a peer with max_calls_per_peer calls in flight gets RESOURCE_EXHAUSTED
// for one more, at once; another peer is still served, and the first is again once done.
TEST_F(BusTest, CallsBeyondThePeerLimitAreResourceExhausted) {
  BlockingLocalCcf blocking;
  BusServer::Options options;
  options.max_calls_per_peer = 1;
  auto directory = PeerDirectory::Create(
      {domains_.PeerFor("b.example", "ccf-b", "unused:1", {fv1::OPERATION_QUERY_INVOKER_OWNERSHIP}),
       domains_.PeerFor("c.example", "ccf-c", "unused:2", {fv1::OPERATION_QUERY_INVOKER_OWNERSHIP})});
  ASSERT_TRUE(directory.ok());
  auto server = BusServer::Start(a_, *directory, "127.0.0.1:0", Clock::Real(), &blocking, nullptr,
                                 options);
  ASSERT_TRUE(server.ok()) << server.status();
  Peer a = domains_.PeerFor("a.example", "ccf-a", absl::StrCat("127.0.0.1:", (*server)->port()));
  auto b = PeerClient::Create(b_, a, Clock::Real());
  auto c = PeerClient::Create(c_, a, Clock::Real());
  auto ask = [](PeerClient& client) {
    fv1::OwnershipQuery q;
    *q.mutable_header() = client.NewHeader();
    q.set_api_invoker_id("inv-1");
    fv1::OwnershipAnswer answer;
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + kTimeout));
    return client.stub()->QueryInvokerOwnership(&ctx, q, &answer);
  };
  std::thread first([&] { EXPECT_TRUE(ask(*b).ok()); });
  ASSERT_TRUE(blocking.entered.WaitForNotificationWithTimeout(kTimeout));
  grpc::Status refused = ask(*b);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << refused.error_message();
  EXPECT_NE(refused.error_message().find("at most 1"), std::string::npos);
  // The bus client reports a busy peer as unavailable (503 with Retry-After on the northbound).
  EXPECT_EQ(PeerCallError("ccf-a", refused).code(), absl::StatusCode::kUnavailable);
  blocking.release.Notify();  // C's call and B's first call both complete
  EXPECT_TRUE(ask(*c).ok());
  first.join();
  EXPECT_TRUE(ask(*b).ok());
}

// The per-peer limit of calls in flight: beyond it RESOURCE_EXHAUSTED, released when done.
TEST(PeerCallLimitsTest, AdmitsUpToTheLimitPerPeer) {
  PeerCallLimits limits(2);
  EXPECT_TRUE(limits.Admit("ccf-b"));
  EXPECT_TRUE(limits.Admit("ccf-b"));
  EXPECT_FALSE(limits.Admit("ccf-b"));
  EXPECT_TRUE(limits.Admit("ccf-c"));  // another peer has its own count
  limits.Release("ccf-b");
  EXPECT_TRUE(limits.Admit("ccf-b"));
}

TEST_F(BusTest, ShutdownIsIdempotentAndStopsServing) {
  server_->Shutdown(absl::Seconds(1));
  server_->Shutdown(absl::Seconds(1));
  EXPECT_FALSE(ClientAs(b_)->Hello(absl::Seconds(2)).ok());
}

}  // namespace
}  // namespace capif
