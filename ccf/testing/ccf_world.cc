#include "ccf/testing/ccf_world.h"

#include <cstdlib>

#include "common/testing/test_paths.h"
#include "common/x509_cert.h"

namespace capif {
namespace {

using nlohmann::json;

template <typename T>
T OrDie(absl::StatusOr<T> v, const char* what) {
  if (!v.ok()) {
    fprintf(stderr, "CcfWorld: %s: %s\n", what, std::string(v.status().message()).c_str());
    std::abort();
  }
  return *std::move(v);
}

}  // namespace

InvokerManagementConfig CcfWorld::InvokerConfig(CcfWorld& w) {
  InvokerManagementConfig c{&w.invokers, &w.tokens, &w.ca, &w.clock, "https://ccf.example"};
  c.contexts = w.contexts.get();
  return c;
}

LocalCcfState::Config CcfWorld::LocalConfig(const std::string& ccf_id) {
  LocalCcfState::Config c;
  c.ccf_id = ccf_id;
  c.invokers = &invokers;
  c.service_apis = &service_apis;
  c.contexts = contexts.get();
  c.grants = &grants;
  c.used_assertions = &used_assertions;
  c.keyring = keyring.get();
  c.clock = &clock;
  c.invoker_root_ca_pem = *ca.certificate().ToPem();
  return c;
}

CcfWorld::CcfWorld(const std::string& name)
    : clock(absl::Now()),  // certificates are checked by OpenSSL against real time too
      ca(OrDie(
          CertificateAuthority::CreateRoot(TrustDomain("a.example"), clock, absl::Hours(24 * 365)),
          "CA")),
      db(OrDie(OpenCcfDatabase(TestTmpDir(name)), "database")),
      events(clock),
      invokers(db, &events),
      tokens(db),
      providers(db, &events),
      service_apis(db, &events),
      kek(OrDie(KeyEncryptionKey::LoadOrCreate(TestTmpDir(name)), "kek")),
      contexts(OrDie(SqlSecurityContexts::Create(db, kek), "contexts")),
      grants(db),
      used_assertions(db),
      invoker_api(InvokerConfig(*this)),
      provider_api({&providers, &tokens, &ca, &clock, "https://ccf.example"}),
      publish_api({&providers, &service_apis, &ca, "https://ccf.example"}),
      discover_api({&service_apis, &invokers, &ca}),
      subscriptions(db),
      events_api({&subscriptions, &invokers, &providers, &ca, &clock, "https://ccf.example"}),
      invocation_logs(db, &events),
      logging_api(
          {&invocation_logs, &providers, &service_apis, &ca, &clock, "https://ccf.example"}),
      key(OrDie(EvpKey::GenerateEcP256(), "key")),
      keyring(OrDie(TokenKeyring::Open(db, kek, clock), "keyring")) {
  security_api = std::make_unique<SecurityApi>(
      SecurityApiConfig{&invokers, &providers, &service_apis, contexts.get(), &grants, keyring.get(), &ca, &clock,
                        "ccf-a", "https://ccf.example"});
}

RestRequest CcfWorld::As(const std::string& kind, const std::string& id, const json& body) const {
  RestRequest r;
  if (!kind.empty()) r.caller = *SpiffeId::Parse("spiffe://a.example/" + kind + "/" + id);
  if (!body.is_null()) {
    r.body = body.dump();
    r.headers.emplace("content-type", "application/json");
  }
  return r;
}

int CcfWorld::HttpStatus(const absl::StatusOr<RestResponse>& r) {
  return r.ok() ? r->status : ProblemFromStatus(r.status()).first;
}

CcfWorld::Provider CcfWorld::RegisterProvider() {
  std::string token =
      OrDie(IssueEnrollmentToken(tokens, EnrollmentPurpose::kProvider, clock.Now(), absl::Hours(1)),
            "token");
  std::string csr = OrDie(CreateCsrPem(key), "csr");
  json body = {{"regSec", token}, {"apiProvFuncs", json::array()}};
  for (const char* role : {"AMF", "APF", "AEF"}) {
    body["apiProvFuncs"].push_back({{"apiProvFuncRole", role}, {"regInfo", {{"apiProvPubKey", csr}}}});
  }
  json reg = json::parse(OrDie(provider_api.Register(As("", "", body)), "register").body);
  Provider p{reg["apiProvDomId"], "", "", ""};
  for (const json& f : reg["apiProvFuncs"]) {
    std::string role = f["apiProvFuncRole"];
    (role == "AMF" ? p.amf_id : role == "APF" ? p.apf_id : p.aef_id) = f["apiProvFuncId"];
  }
  return p;
}

json CcfWorld::SampleApi(const std::string& name, const std::string& aef_id,
                         json security_methods) {
  return {{"apiName", name},
          {"aefProfiles",
           {{{"aefId", aef_id},
             {"versions", {{{"apiVersion", "v1"}}}},
             {"protocol", "HTTP_1_1"},
             {"dataFormat", "JSON"},
             {"securityMethods", security_methods},
             {"interfaceDescriptions",
              {{{"ipv4Addr", "127.0.0.1"}, {"port", 9443}, {"apiPrefix", "/" + name}}}}}}},
          {"shareableInfo", {{"isShareable", false}}}};
}

json CcfWorld::Publish(const std::string& apf_id, const json& api) {
  RestRequest r = As("apf", apf_id, api);
  r.path_params = {apf_id};
  return json::parse(OrDie(publish_api.Publish(r), "publish").body);
}

CcfWorld::Invoker CcfWorld::OnboardInvoker() {
  std::string token =
      OrDie(IssueEnrollmentToken(tokens, EnrollmentPurpose::kInvoker, clock.Now(), absl::Hours(1)),
            "token");
  json body = {{"onboardingInformation", {{"apiInvokerPublicKey", OrDie(CreateCsrPem(key), "csr")}}},
               {"notificationDestination", "https://invoker.example/cb"}};
  RestRequest r = As("", "", body);
  r.headers.emplace("authorization", "Bearer " + token);
  json out = json::parse(OrDie(invoker_api.Onboard(r), "onboard").body);
  return {out["apiInvokerId"], out["onboardingInformation"]["apiInvokerCertificate"],
          out["onboardingInformation"]["onboardingSecret"]};
}

}  // namespace capif
