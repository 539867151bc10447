#include "net/https_server.h"

#include <httplib.h>

#include <gtest/gtest.h>

#include "common/certificate_authority.h"
#include "common/clock.h"

namespace capif {
namespace {

using nlohmann::json;

struct Credential {
  X509Cert cert;
  EvpKey key;
};

Credential Issue(const CertificateAuthority& ca, const std::string& uri) {
  EvpKey key = *EvpKey::GenerateEcP256();
  X509Cert cert = *ca.IssueUncheckedForTesting(
      {*SpiffeId::Parse(uri), &key, {"localhost"}, {"127.0.0.1"}, absl::Hours(1)}, Clock::Real());
  return {std::move(cert), std::move(key)};
}

class HttpsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    NorthboundTls tls{*server_cred_.cert.ToPem(), *server_cred_.key.PrivateKeyPem(),
                      *TrustBundle::FromPem(*ca_.certificate().ToPem())};
    auto server = HttpsServer::Create(tls, {"127.0.0.1", 0, 1024});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    server_->Route("GET", "/whoami", [](const RestRequest& r) -> absl::StatusOr<RestResponse> {
      return RestResponse::Json(200, {{"caller", r.caller ? r.caller->ToString() : ""},
                                      {"tls", r.ssl != nullptr}});
    });
    server_->Route("POST", "/things/([^/]+)",
                   [](const RestRequest& r) -> absl::StatusOr<RestResponse> {
                     auto body = ParseJsonBody(r);
                     if (!body.ok()) return body.status();
                     if (!body->contains("name")) return InvalidParamError("name", "is required");
                     return RestResponse::Json(201, {{"id", r.path_params[0]}});
                   });
    server_->Route("GET", "/boom", [](const RestRequest&) -> absl::StatusOr<RestResponse> {
      throw std::runtime_error("secret internals");
    });
    ASSERT_TRUE(server_->Start().ok());
  }

  std::unique_ptr<httplib::SSLClient> Client(const Credential* cred) {
    auto c = cred ? std::make_unique<httplib::SSLClient>("127.0.0.1", server_->port(),
                                                        cred->cert.get(), cred->key.get())
                  : std::make_unique<httplib::SSLClient>("127.0.0.1", server_->port());
    X509_STORE* store = X509_STORE_new();
    X509_STORE_add_cert(store, ca_.certificate().get());
    c->set_ca_cert_store(store);
    c->enable_server_certificate_verification(true);
    return c;
  }

  CertificateAuthority ca_ =
      *CertificateAuthority::CreateRoot(TrustDomain("a.example"), Clock::Real(), absl::Hours(2));
  CertificateAuthority other_ca_ =
      *CertificateAuthority::CreateRoot(TrustDomain("x.example"), Clock::Real(), absl::Hours(2));
  Credential server_cred_ = Issue(ca_, "spiffe://a.example/ccf/ccf-a");
  Credential invoker_ = Issue(ca_, "spiffe://a.example/invoker/inv-1");
  std::unique_ptr<HttpsServer> server_;
};

TEST_F(HttpsServerTest, CallerComesFromTheClientCertificate) {
  auto res = Client(&invoker_)->Get("/whoami");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(json::parse(res->body)["caller"], "spiffe://a.example/invoker/inv-1");
  // Same connection, second request: the cached identity is used.
  auto c = Client(&invoker_);
  c->set_keep_alive(true);
  EXPECT_EQ(json::parse(c->Get("/whoami")->body)["caller"], "spiffe://a.example/invoker/inv-1");
  EXPECT_EQ(json::parse(c->Get("/whoami")->body)["caller"], "spiffe://a.example/invoker/inv-1");
}

TEST_F(HttpsServerTest, NoClientCertificateMeansNoCaller) {
  auto res = Client(nullptr)->Get("/whoami");
  ASSERT_TRUE(res);
  EXPECT_EQ(json::parse(res->body)["caller"], "");
  EXPECT_EQ(json::parse(res->body)["tls"], true);
}

TEST_F(HttpsServerTest, ForeignClientCertificateFailsTheHandshake) {
  Credential foreign = Issue(other_ca_, "spiffe://a.example/invoker/inv-1");
  auto res = Client(&foreign)->Get("/whoami");
  EXPECT_FALSE(res && res->status == 200);
}

TEST_F(HttpsServerTest, ErrorsAreProblemDetails) {
  auto c = Client(&invoker_);
  auto not_found = c->Get("/nowhere");
  ASSERT_TRUE(not_found);
  EXPECT_EQ(not_found->status, 404);
  EXPECT_EQ(not_found->get_header_value("Content-Type"), "application/problem+json");
  EXPECT_EQ(json::parse(not_found->body)["status"], 404);

  auto missing = c->Post("/things/t1", R"({"colour":"red"})", "application/json");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 400);
  json p = json::parse(missing->body);
  EXPECT_EQ(p["invalidParams"][0]["param"], "name");
  EXPECT_EQ(p["cause"], "INVALID_PARAMETER");

  auto malformed = c->Post("/things/t1", R"({"name":1,"name":2})", "application/json");
  EXPECT_EQ(malformed->status, 400);
  EXPECT_EQ(json::parse(malformed->body)["cause"], "INVALID_MSG_FORMAT");

  auto wrong_type = c->Post("/things/t1", "name=x", "application/x-www-form-urlencoded");
  EXPECT_EQ(wrong_type->status, 415);
  EXPECT_EQ(json::parse(wrong_type->body)["status"], 415);

  auto too_big = c->Post("/things/t1", std::string(4096, ' ') + "{}", "application/json");
  ASSERT_TRUE(too_big);
  EXPECT_EQ(too_big->status, 413);
  EXPECT_EQ(json::parse(too_big->body)["status"], 413);

  auto boom = c->Get("/boom");
  EXPECT_EQ(boom->status, 500);
  EXPECT_EQ(json::parse(boom->body)["detail"], "internal error");  // internals stay in the log

  auto ok = c->Post("/things/t1", R"({"name":"n"})", "application/json; charset=utf-8");
  EXPECT_EQ(ok->status, 201);
  EXPECT_EQ(json::parse(ok->body)["id"], "t1");
}

TEST_F(HttpsServerTest, PortInUseIsUnavailable) {
  NorthboundTls tls{*server_cred_.cert.ToPem(), *server_cred_.key.PrivateKeyPem(),
                    *TrustBundle::FromPem(*ca_.certificate().ToPem())};
  auto second = HttpsServer::Create(tls, {"127.0.0.1", server_->port(), 1024});
  ASSERT_TRUE(second.ok());
  EXPECT_EQ((*second)->Start().code(), absl::StatusCode::kUnavailable);
}

TEST(HttpsServerCreateTest, MismatchedKeyIsRefused) {
  auto ca = *CertificateAuthority::CreateRoot(TrustDomain("a.example"), Clock::Real(),
                                              absl::Hours(1));
  Credential c = Issue(ca, "spiffe://a.example/ccf/ccf-a");
  NorthboundTls tls{*c.cert.ToPem(), *EvpKey::GenerateEcP256()->PrivateKeyPem(),
                    *TrustBundle::FromPem(*ca.certificate().ToPem())};
  EXPECT_EQ(HttpsServer::Create(tls, {}).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace capif
