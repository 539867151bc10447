#include "ccf/daemon/ccf_config.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/certificate_authority.h"
#include "common/file_io.h"

namespace capif {
namespace {

namespace fv1 = capif::federation::v1;

// Writes <dir>/<name>/{cert.pem,key.pem,ca.pem} for `uri`, signed by the CA of `ca_domain`.
void WriteCredential(const std::string& dir, const std::string& name,
                     const CertificateAuthority& ca, const std::string& uri) {
  EvpKey key = *EvpKey::GenerateEcP256();
  LeafRequest req{*SpiffeId::Parse(uri), &key, {}, {"127.0.0.1"}, absl::Hours(24)};
  X509Cert cert = *ca.IssueUncheckedForTesting(req, Clock::Real());
  ASSERT_TRUE(MakeDirectories(dir + "/" + name).ok());
  ASSERT_TRUE(WriteFileAtomic(dir + "/" + name + "/cert.pem", *cert.ToPem()).ok());
  ASSERT_TRUE(WriteFileAtomic(dir + "/" + name + "/key.pem",
                              key.PrivateKeyPem()->Reveal(InsecureSecretAccess()), 0600)
                  .ok());
  ASSERT_TRUE(WriteFileAtomic(dir + "/" + name + "/ca.pem", *ca.certificate().ToPem()).ok());
}

constexpr char kValid[] = R"({
  "ccf_id": "ccf-a",
  "trust_domain": "a.example",
  "bus": {
    "listen": "127.0.0.1:0",
    "certificate": "ccf-a/cert.pem",
    "private_key": "ccf-a/key.pem",
    "trust_bundle": "ccf-a/ca.pem",
    "bundle_sequence": 7
  },
  "peers": [
    {"ccf_id": "ccf-b", "trust_domain": "b.example", "endpoint": "127.0.0.1:7402",
     "trust_bundle": "ccf-b/ca.pem", "relation": "CAPIF-6e",
     "agreement": {"operations": ["NOTIFY_OFFBOARDING", "LOOKUP_SECURITY_INFO"],
                   "shared_apis": ["location-api"]}},
    {"ccf_id": "ccf-a2", "trust_domain": "a.example", "endpoint": "localhost:7403",
     "trust_bundle": "ccf-a/ca.pem", "relation": "CAPIF-6"}
  ]
})";

class CcfConfigTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(std::string(std::getenv("TEST_TMPDIR")) + "/cfg");
    auto ca_a = *CertificateAuthority::CreateRoot(TrustDomain("a.example"), Clock::Real(),
                                                  absl::Hours(48));
    auto ca_b = *CertificateAuthority::CreateRoot(TrustDomain("b.example"), Clock::Real(),
                                                  absl::Hours(48));
    WriteCredential(*dir_, "ccf-a", ca_a, "spiffe://a.example/ccf/ccf-a");
    ASSERT_TRUE(MakeDirectories(*dir_ + "/a-ca").ok());
    ASSERT_TRUE(WriteFileAtomic(*dir_ + "/a-ca/ca.pem", *ca_a.certificate().ToPem()).ok());
    ASSERT_TRUE(WriteFileAtomic(*dir_ + "/a-ca/ca.key",
                                ca_a.key().PrivateKeyPem()->Reveal(InsecureSecretAccess()), 0600)
                    .ok());
    WriteCredential(*dir_, "ccf-b", ca_b, "spiffe://b.example/ccf/ccf-b");
  }

  // The error for kValid with `from` replaced by `to`.
  std::string ErrorWith(const std::string& from, const std::string& to) {
    std::string text = absl::StrReplaceAll(kValid, {{from, to}});
    EXPECT_NE(text, kValid) << "replacement did not apply: " << from;
    auto config = ParseCcfConfig(text, *dir_);
    EXPECT_FALSE(config.ok());
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(config.status().message());
  }

  static std::string* dir_;
};

std::string* CcfConfigTest::dir_ = nullptr;

// kValid with a northbound whose section ends with `limits` (JSON members, may be empty).
std::string WithNorthbound(const std::string& limits) {
  return absl::StrReplaceAll(
      kValid, {{R"("peers": [)",
                absl::StrCat(R"("northbound": {"listen": "127.0.0.1:0", "certificate": )",
                             R"("ccf-a/cert.pem", "private_key": "ccf-a/key.pem")", limits,
                             R"(}, "ca": {"certificate": "a-ca/ca.pem", "private_key": )",
                             R"("a-ca/ca.key"}, "data_dir": "data", "peers": [)")}});
}

TEST_F(CcfConfigTest, NorthboundLimitsDefaultToTheServersAndCanBeSet) {
  auto defaults = ParseCcfConfig(WithNorthbound(""), *dir_);
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  ASSERT_TRUE(defaults->northbound.has_value());
  const HttpsServer::Options server_defaults;
  const HttpsServer::Options& d = defaults->northbound->server;
  EXPECT_EQ(d.max_connections, server_defaults.max_connections);
  EXPECT_EQ(d.header_timeout, server_defaults.header_timeout);
  EXPECT_EQ(d.idle_timeout, server_defaults.idle_timeout);
  EXPECT_EQ(d.max_body_bytes, server_defaults.max_body_bytes);
  EXPECT_EQ(d.worker_threads, server_defaults.worker_threads);

  auto set = ParseCcfConfig(
      WithNorthbound(R"(, "max_connections": 10, "handshake_timeout_ms": 200,
                     "header_timeout_ms": 300, "body_timeout_ms": 400, "idle_timeout_ms": 500,
                     "max_header_bytes": 2048, "max_header_count": 9, "worker_threads": 2,
                     "max_queued_requests": 0, "max_body_bytes": 4096)"),
      *dir_);
  ASSERT_TRUE(set.ok()) << set.status();
  const HttpsServer::Options& o = set->northbound->server;
  EXPECT_EQ(o.max_connections, 10u);
  EXPECT_EQ(o.handshake_timeout, absl::Milliseconds(200));
  EXPECT_EQ(o.header_timeout, absl::Milliseconds(300));
  EXPECT_EQ(o.body_timeout, absl::Milliseconds(400));
  EXPECT_EQ(o.idle_timeout, absl::Milliseconds(500));
  EXPECT_EQ(o.max_header_bytes, 2048u);
  EXPECT_EQ(o.max_header_count, 9u);
  EXPECT_EQ(o.worker_threads, 2);
  EXPECT_EQ(o.max_queued_requests, 0u);
  EXPECT_EQ(o.max_body_bytes, 4096u);

  for (const auto& [limit, error] : std::vector<std::pair<std::string, std::string>>{
           {R"(, "header_timeout_ms": 5)", "northbound.header_timeout_ms: must be at least 100"},
           {R"(, "worker_threads": 0)", "northbound.worker_threads: must be at least 1"},
           {R"(, "max_body_bytes": 10)", "northbound.max_body_bytes: must be at least 1024"},
           {R"(, "max_connections": -1)", "northbound.max_connections"}}) {
    auto bad = ParseCcfConfig(WithNorthbound(limit), *dir_);
    ASSERT_FALSE(bad.ok()) << limit;
    EXPECT_NE(bad.status().message().find(error), std::string::npos) << bad.status();
  }
}

TEST_F(CcfConfigTest, LoadsValidConfiguration) {
  ASSERT_TRUE(WriteFileAtomic(*dir_ + "/ccf-a.json", kValid).ok());
  auto config = LoadCcfConfig(*dir_ + "/ccf-a.json");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->bus_identity.identity().ToString(), "spiffe://a.example/ccf/ccf-a");
  EXPECT_EQ(config->bus_identity.bundle_sequence, 7u);
  EXPECT_EQ(config->bus_identity.bundle_refresh_hint_seconds, 3600u);
  EXPECT_EQ(config->listen_address, "127.0.0.1:0");
  ASSERT_EQ(config->peers.size(), 2u);
  const Peer& b = config->peers[0];
  EXPECT_EQ(b.identity().ToString(), "spiffe://b.example/ccf/ccf-b");
  EXPECT_EQ(b.relation, PeerRelation::kCapif6e);
  EXPECT_TRUE(b.agreement.Allows(fv1::OPERATION_NOTIFY_OFFBOARDING));
  EXPECT_FALSE(b.agreement.Allows(fv1::OPERATION_FORWARD_TOKEN_REQUEST));
  EXPECT_EQ(b.agreement.shared_apis, std::vector<std::string>{"location-api"});
  EXPECT_FALSE(b.agreement.home_issues_tokens);  // #24 method 3 unless agreed otherwise
  EXPECT_EQ(config->notice_retry_initial, absl::Milliseconds(500));
  EXPECT_EQ(config->notice_retry_max, absl::Seconds(30));
  EXPECT_EQ(config->notice_dead_letter_after, absl::Hours(24 * 7));
  EXPECT_EQ(config->bus_server.max_calls_per_peer, 64);
  EXPECT_EQ(config->bus_server.handshake_timeout, absl::Seconds(10));
  EXPECT_EQ(config->bus_server.listener_check, absl::Seconds(10));
  EXPECT_EQ(config->ownership_fanouts_per_second, 20);
  // No agreement: only the basics.
  const Peer& a2 = config->peers[1];
  EXPECT_EQ(a2.relation, PeerRelation::kCapif6);
  EXPECT_TRUE(a2.agreement.Allows(fv1::OPERATION_HELLO));
  EXPECT_FALSE(a2.agreement.Allows(fv1::OPERATION_NOTIFY_OFFBOARDING));
  EXPECT_EQ(config->security.method_priority, (std::vector<std::string>{"PSK", "PKI", "OAUTH"}));
  EXPECT_FALSE(config->northbound.has_value());
}

TEST_F(CcfConfigTest, APeerMayListSeveralEndpoints) {
  auto config = ParseCcfConfig(
      absl::StrReplaceAll(kValid, {{R"("endpoint": "127.0.0.1:7402")",
                                    R"("endpoints": ["127.0.0.1:7402", "ccf-b2.example:7402"])"}}),
      *dir_);
  ASSERT_TRUE(config.ok()) << config.status();
  const Peer& b = config->peers[0];
  EXPECT_EQ(b.endpoint, "127.0.0.1:7402");
  EXPECT_EQ(b.other_endpoints, std::vector<std::string>{"ccf-b2.example:7402"});
  EXPECT_EQ(b.endpoints(), (std::vector<std::string>{"127.0.0.1:7402", "ccf-b2.example:7402"}));
  EXPECT_TRUE(config->peers[1].other_endpoints.empty());
  for (const auto& [endpoints, error] : std::vector<std::pair<std::string, std::string>>{
           {R"("endpoints": [])", "peers[0].endpoints: must be an array of 1 to 16"},
           {R"("endpoints": "127.0.0.1:1")", "peers[0].endpoints: must be an array"},
           {R"("endpoints": ["127.0.0.1:1", "x"])", "peers[0].endpoints[1]: must be host:port"},
           {R"("endpoints": ["127.0.0.1:1", "127.0.0.1:1"])",
            "peers[0].endpoints[1]: is listed twice"},
           {R"("endpoint": "127.0.0.1:7402", "endpoints": ["127.0.0.1:1"])",
            "peers[0].endpoints: cannot be given with \"endpoint\""}}) {
    auto bad = ParseCcfConfig(
        absl::StrReplaceAll(kValid, {{R"("endpoint": "127.0.0.1:7402")", endpoints}}), *dir_);
    ASSERT_FALSE(bad.ok()) << endpoints;
    EXPECT_NE(bad.status().message().find(error), std::string::npos) << bad.status();
  }
}

// WithNorthbound(""), with `storage` (a JSON value) as the storage section.
std::string WithStorage(const std::string& storage) {
  return absl::StrReplaceAll(WithNorthbound(""),
                             {{R"("data_dir": "data",)",
                               absl::StrCat(R"("data_dir": "data", "storage": )", storage, ",")}});
}

TEST_F(CcfConfigTest, StorageIsSqliteByDefaultOrPostgres) {
  auto defaults = ParseCcfConfig(WithNorthbound(""), *dir_);
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  EXPECT_FALSE(defaults->storage.postgres.has_value());
  auto sqlite = ParseCcfConfig(WithStorage(R"({"sqlite": {}})"), *dir_);
  ASSERT_TRUE(sqlite.ok()) << sqlite.status();
  EXPECT_FALSE(sqlite->storage.postgres.has_value());

  auto pg = ParseCcfConfig(
      WithStorage(R"({"postgres": {"dsn": "host=/run/pg dbname=capif", "pool_size": 3,
                                   "statement_timeout_ms": 2500}})"),
      *dir_);
  ASSERT_TRUE(pg.ok()) << pg.status();
  ASSERT_TRUE(pg->storage.postgres.has_value());
  EXPECT_EQ(pg->storage.postgres->dsn, "host=/run/pg dbname=capif");
  EXPECT_EQ(pg->storage.postgres->pool_size, 3);
  EXPECT_EQ(pg->storage.postgres->statement_timeout, absl::Milliseconds(2500));
  auto pg_defaults = ParseCcfConfig(WithStorage(R"({"postgres": {"dsn": "dbname=capif"}})"),
                                    *dir_);
  ASSERT_TRUE(pg_defaults.ok()) << pg_defaults.status();
  EXPECT_EQ(pg_defaults->storage.postgres->pool_size, PostgresOptions().pool_size);

  for (const auto& [storage, error] : std::vector<std::pair<std::string, std::string>>{
           {R"("postgres")", "storage: must be an object with one member"},
           {R"({"sqlite": {}, "postgres": {"dsn": "x"}})", "storage: must be an object"},
           {R"({"mysql": {}})", "storage.mysql: unknown field"},
           {R"({"sqlite": {"file": "x"}})", "storage.sqlite: must be {}"},
           {R"({"postgres": {}})", "storage.postgres.dsn: is required"},
           {R"({"postgres": {"dsn": ""}})", "storage.postgres.dsn: must be a non-empty string"},
           {R"({"postgres": {"dsn": "x", "pool_size": 0}})",
            "storage.postgres.pool_size: must be at least 1"},
           {R"({"postgres": {"dsn": "x", "password": "p"}})",
            "storage.postgres.password: unknown field"}}) {
    auto bad = ParseCcfConfig(WithStorage(storage), *dir_);
    ASSERT_FALSE(bad.ok()) << storage;
    EXPECT_NE(bad.status().message().find(error), std::string::npos) << bad.status();
  }
  // Storage belongs to the northbound's state.
  auto orphan = ParseCcfConfig(
      absl::StrReplaceAll(kValid, {{R"("peers": [)", R"("storage": {"sqlite": {}}, "peers": [)"}}),
      *dir_);
  ASSERT_FALSE(orphan.ok());
  EXPECT_NE(orphan.status().message().find("northbound: is required"), std::string::npos)
      << orphan.status();
}

TEST_F(CcfConfigTest, ErrorsNameTheField) {
  struct Case {
    std::string from, to, field;
  } cases[] = {
      {R"("ccf_id": "ccf-a",)", "", "ccf_id: is required"},
      {R"("ccf_id": "ccf-a")", R"("ccf_id": "ccf a")", "ccf_id: must be"},
      {R"("trust_domain": "a.example",)", R"("trust_domain": "A.Example",)", "trust_domain"},
      {R"("peers": [)", R"("peerz": 1, "peers": [)", "peerz: unknown field"},
      {R"("listen": "127.0.0.1:0")", R"("listen": "127.0.0.1")", "bus.listen"},
      {R"("listen": "127.0.0.1:0")", R"("listen": 80)", "bus.listen"},
      {R"("bundle_sequence": 7)", R"("bundle_sequence": -1)", "bus.bundle_sequence"},
      {R"("certificate": "ccf-a/cert.pem")", R"("certificate": "ccf-b/cert.pem")",
       "bus.certificate: must carry exactly one URI SAN, spiffe://a.example/ccf/ccf-a"},
      {R"("private_key": "ccf-a/key.pem")", R"("private_key": "ccf-b/key.pem")",
       "bus.private_key: does not match"},
      {R"("private_key": "ccf-a/key.pem")", R"("private_key": "ccf-a/cert.pem")",
       "bus.private_key"},
      {R"("trust_bundle": "ccf-a/ca.pem",)", R"("trust_bundle": "ccf-a/cert.pem",)",
       "bus.trust_bundle: trust bundle: certificate"},
      {R"("trust_bundle": "ccf-b/ca.pem")", R"("trust_bundle": "missing.pem")",
       "peers[0].trust_bundle: cannot open"},
      {R"("relation": "CAPIF-6e")", R"("relation": "CAPIF6e")", "peers[0].relation"},
      {R"("endpoint": "127.0.0.1:7402")", R"("endpoint": "127.0.0.1:99999")",
       "peers[0].endpoint"},
      {R"("LOOKUP_SECURITY_INFO")", R"("STEAL_KEYS")", "peers[0].agreement.operations[1]"},
      {R"("shared_apis": ["location-api"])", R"("shared_apis": "location-api")",
       "peers[0].agreement.shared_apis"},
      {R"("shared_apis": ["location-api"])",
       R"("shared_apis": ["location-api"], "cross_domain_tokens": "by-anyone")",
       "peers[0].agreement.cross_domain_tokens: must be"},
      {R"("bundle_sequence": 7)", R"("bundle_sequence": 7, "notice_retry_initial_ms": 5)",
       "bus.notice_retry_initial_ms: must be at least 10"},
      {R"("bundle_sequence": 7)", R"("bundle_sequence": 7, "notice_lease_ms": 5)",
       "bus.notice_lease_ms: must be at least 1000"},
      {R"("bundle_sequence": 7)",
       R"("bundle_sequence": 7, "notice_retry_initial_ms": 500, "notice_retry_max_ms": 100)",
       "bus.notice_retry_max_ms: must be at least"},
      {R"("bundle_sequence": 7)", R"("bundle_sequence": 7, "notice_dead_letter_after_s": 5)",
       "bus.notice_dead_letter_after_s: must be at least 60"},
      {R"("bundle_sequence": 7)", R"("bundle_sequence": 7, "max_calls_per_peer": 0)",
       "bus.max_calls_per_peer: must be at least 1"},
      {R"("bundle_sequence": 7)", R"("bundle_sequence": 7, "listener_check_ms": 10)",
       "bus.listener_check_ms: must be 0 (off) or at least 1000"},
      {R"("bundle_sequence": 7)", R"("bundle_sequence": 7, "ownership_fanouts_per_second": 0)",
       "bus.ownership_fanouts_per_second: must be at least 1"},
      {R"("bundle_sequence": 7)", R"("bundle_sequence": 7, "keepalive_ms": "1m")",
       "bus.keepalive_ms"},
      {R"("ccf_id": "ccf-a2")", R"("ccf_id": "ccf-b")", "peers[1].ccf_id: 'ccf-b' is configured twice"},
      {R"("ccf_id": "ccf-a2")", R"("ccf_id": "ccf-a")", "peers[1]: names this CCF itself"},
      {R"("relation": "CAPIF-6"})", R"("relation": "CAPIF-6", "colour": "red"})",
       "peers[1].colour: unknown field"},
      {R"("peers": [)", R"("peers": [1,)", "peers[0]: must be an object"},
      {"\n}", ",\n}", "not valid JSON"},
      // A number beyond a double made the parser throw an exception the loader did not catch
      // (found by ccf_config_fuzz): a typo must be an error, never an abort.
      {R"("bundle_sequence": 7)", R"("bundle_sequence": 7e999999)", "not valid JSON"},
      {R"("peers": [)", R"("security": {"method_priority": ["PSK", "PSK"]}, "peers": [)",
       "security.method_priority"},
      {R"("peers": [)", R"("security": {"token_validity_seconds": 5}, "peers": [)",
       "security.token_validity_seconds"},
      {R"("peers": [)", R"("security": {"tokens": 5}, "peers": [)", "security.tokens: unknown"},
      {R"("peers": [)", R"("ca": {}, "peers": [)", "northbound: is required"},
  };
  for (const Case& c : cases) {
    std::string error = ErrorWith(c.from, c.to);
    EXPECT_NE(error.find(c.field), std::string::npos)
        << "expected '" << c.field << "' in: " << error;
  }
}

TEST_F(CcfConfigTest, LoadNamesTheFile) {
  auto missing = LoadCcfConfig(*dir_ + "/nope.json");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(WriteFileAtomic(*dir_ + "/broken.json", "[]").ok());
  auto broken = LoadCcfConfig(*dir_ + "/broken.json");
  EXPECT_NE(broken.status().message().find("broken.json"), absl::string_view::npos);
}

}  // namespace
}  // namespace capif
