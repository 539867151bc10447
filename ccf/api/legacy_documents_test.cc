// Databases written by ccfd up to schema version 8 keep working: their TS 29.222 documents are
// converted to typed records once, at open.
#include "ccf/api/legacy_documents.h"

#include <gtest/gtest.h>

#include "ccf/store/sql_stores.h"
#include "common/testing/test_paths.h"

namespace capif {
namespace {

absl::Status InsertDocument(SqlDatabase& db, const std::string& kind, const std::string& id,
                            const std::string& owner, const std::string& json) {
  return db.Execute("INSERT INTO resources(kind, id, owner, json) VALUES (?, ?, ?, ?)",
                    {kind, id, owner, json});
}

int64_t Count(SqlDatabase& db, const std::string& sql) { return SqlInt((*db.Query(sql))[0][0]); }

TEST(LegacyDocumentsTest, ProvidersServiceApisAndEnrolmentsBecomeRecords) {
  auto db = *OpenCcfDatabase(TestTmpDir("LegacyDocuments"));
  ASSERT_TRUE(InsertDocument(*db, "provider-domain", "dom-1", "",
                             R"({"apiProvDomId":"dom-1","apiProvDomInfo":"operator A"})")
                  .ok());
  for (const auto& [role, id] : std::vector<std::pair<std::string, std::string>>{
           {"AMF", "amf-1"}, {"APF", "apf-1"}, {"AEF", "aef-1"}}) {
    ASSERT_TRUE(InsertDocument(*db, "provider-function", id, "dom-1",
                               std::string(R"({"apiProvFuncId":")") + id +
                                   R"(","apiProvFuncRole":")" + role +
                                   R"(","regInfo":{"apiProvPubKey":"K","apiProvCert":"C-)" + id +
                                   R"("}})")
                    .ok());
  }
  const std::string api =
      R"({"apiId":"api-1","apiName":"loc","shareableInfo":{"isShareable":true},)"
      R"("aefProfiles":[{"aefId":"aef-1","versions":[{"apiVersion":"v1"}],)"
      R"("interfaceDescriptions":[{"ipv4Addr":"127.0.0.1","port":8443}]}]})";
  ASSERT_TRUE(InsertDocument(*db, "service-api", "api-1", "apf-1", api).ok());
  // An API of an APF that is no longer registered is kept as it was (and logged), not lost.
  ASSERT_TRUE(InsertDocument(*db, "service-api", "api-2", "apf-gone",
                             R"({"apiId":"api-2","apiName":"x","aefProfiles":[{"aefId":"aef-1",)"
                             R"("versions":[{"apiVersion":"v1"}],"domainName":"x.example"}]})")
                  .ok());
  ASSERT_TRUE(db->Execute("INSERT INTO invokers(api_invoker_id, enrolment_json, certificate_pem, "
                          "secret_salt, secret_digest, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                          {"inv-1",
                           R"({"apiInvokerId":"inv-1","onboardingInformation":{)"
                           R"("apiInvokerPublicKey":"PK","apiInvokerCertificate":"IC"},)"
                           R"("notificationDestination":"https://inv.example/n",)"
                           R"("apiInvokerInformation":"demo app","supportedFeatures":"0"})",
                           "IC", SqlBlob{"s"}, SqlBlob{"d"}, int64_t{1700000000}})
                  .ok());

  SqlProviderRegistry providers(db);
  SqlServiceApis apis(db);
  SqlInvokerStore invokers(db);
  auto n = ConvertLegacyDocuments(db, providers, apis, invokers);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 4 + 1 + 1);  // a domain with three functions, one API, one enrolment
  EXPECT_EQ(*ConvertLegacyDocuments(db, providers, apis, invokers), 0);  // done once

  auto domain = providers.Get("dom-1");
  ASSERT_TRUE(domain.ok() && domain->has_value()) << domain.status();
  EXPECT_EQ((*domain)->info, "operator A");
  ASSERT_EQ((*domain)->functions.size(), 3u);
  auto aef = providers.GetFunction("aef-1");
  ASSERT_TRUE(aef.ok() && aef->has_value());
  EXPECT_EQ((*aef)->role, ProviderRole::kAef);
  EXPECT_EQ((*aef)->certificate_pem, "C-aef-1");

  auto converted = apis.Get("api-1");
  ASSERT_TRUE(converted.ok() && converted->has_value());
  EXPECT_EQ((*converted)->apf_id, "apf-1");
  EXPECT_TRUE((*converted)->shareable);
  EXPECT_EQ(apis.WithInterface({"127.0.0.1", std::nullopt, std::nullopt, 8443, std::nullopt})
                ->size(),
            1u);
  EXPECT_FALSE(apis.Get("api-2")->has_value());
  EXPECT_EQ(Count(*db, "SELECT COUNT(*) FROM resources"), 1);  // only api-2 is left

  auto inv = invokers.Get(ApiInvokerId("inv-1"));
  ASSERT_TRUE(inv.ok() && inv->has_value());
  EXPECT_EQ((*inv)->public_key_pem, "PK");
  EXPECT_EQ((*inv)->certificate_pem, "IC");
  EXPECT_EQ((*inv)->notification_destination, "https://inv.example/n");
  EXPECT_EQ((*inv)->api_invoker_information, "demo app");
  EXPECT_EQ(Count(*db, "SELECT COUNT(*) FROM invokers WHERE enrolment_json != ''"), 0);
}

}  // namespace
}  // namespace capif
