#include "ccf/api/legacy_documents.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "ccf/api/invoker_management_api.h"
#include "ccf/api/publish_service_api.h"
#include "common/log.h"
#include "common/strict_json.h"
#include "common/status_macros.h"

namespace capif {
namespace {

using nlohmann::json;

absl::Status RemoveDocuments(SqlDatabase& db, const std::string& kind,
                             const std::vector<std::string>& ids) {
  return db.Transaction([&](SqlDatabase::Tx& tx) -> absl::Status {
    for (const std::string& id : ids) {
      RETURN_IF_ERROR(tx.Execute("DELETE FROM resources WHERE kind = ? AND id = ?", {kind, id}));
    }
    return absl::OkStatus();
  });
}

void Kept(const std::string& what, const std::string& id, absl::string_view why) {
  LogWarning("store", absl::StrCat("stored ", what, " ", id, " kept as it was: ", why));
}

// A domain document and its functions' documents, as a typed domain.
absl::StatusOr<int> ConvertProviders(SqlDatabase& db, ProviderRegistry& providers) {
  int converted = 0;
  ASSIGN_OR_RETURN(std::vector<SqlRow> domains,
                   db.Query("SELECT id, json FROM resources WHERE kind = 'provider-domain'"));
  for (const SqlRow& row : domains) {
    const std::string id = SqlText(row[0]);
    json doc = json::parse(SqlText(row[1]), nullptr, false);
    if (!doc.is_object()) {
      Kept("API provider domain", id, "unreadable");
      continue;
    }
    ProviderDomain d{id, StringMember(doc, "apiProvDomInfo"), StringMember(doc, "suppFeat"), {}};
    ASSIGN_OR_RETURN(std::vector<SqlRow> funcs,
                     db.Query("SELECT id, json FROM resources WHERE kind = 'provider-function' "
                              "AND owner = ? ORDER BY id",
                              {id}));
    std::vector<std::string> function_ids;
    bool readable = true;
    for (const SqlRow& f : funcs) {
      json fd = json::parse(SqlText(f[1]), nullptr, false);
      std::optional<ProviderRole> role =
          fd.is_object() ? ProviderRoleOfName(fd.value("apiProvFuncRole", "")) : std::nullopt;
      if (!role || !fd.contains("regInfo") || !fd["regInfo"].is_object()) {
        readable = false;
        break;
      }
      const json& reg = fd["regInfo"];
      d.functions.push_back({SqlText(f[0]), id, *role, StringMember(fd, "apiProvFuncInfo"),
                             reg.value("apiProvPubKey", ""), reg.value("apiProvCert", "")});
      function_ids.push_back(SqlText(f[0]));
    }
    if (!readable) {
      Kept("API provider domain", id, "a function is unreadable");
      continue;
    }
    ASSIGN_OR_RETURN(std::optional<ProviderDomain> existing, providers.Get(id));
    if (!existing) RETURN_IF_ERROR(providers.Insert(d));
    RETURN_IF_ERROR(RemoveDocuments(db, "provider-function", function_ids));
    RETURN_IF_ERROR(RemoveDocuments(db, "provider-domain", {id}));
    converted += 1 + static_cast<int>(function_ids.size());
  }
  return converted;
}

absl::StatusOr<int> ConvertServiceApis(SqlDatabase& db, ServiceApiRepository& apis) {
  int converted = 0;
  ASSIGN_OR_RETURN(std::vector<SqlRow> rows,
                   db.Query("SELECT id, owner, json FROM resources WHERE kind = 'service-api'"));
  for (const SqlRow& row : rows) {
    const std::string id = SqlText(row[0]);
    json doc = json::parse(SqlText(row[2]), nullptr, false);
    if (!doc.is_object() || !ValidateServiceApiDescription(doc).ok()) {
      Kept("service API", id, "unreadable");
      continue;
    }
    doc["apiId"] = id;
    ASSIGN_OR_RETURN(std::optional<ServiceApiRecord> existing, apis.Get(id));
    if (!existing) {
      absl::Status s = apis.Insert(ServiceApiRecordOf(doc, SqlText(row[1])));
      if (absl::IsFailedPrecondition(s)) {
        Kept("service API", id, s.message());
        continue;
      }
      RETURN_IF_ERROR(s);
    }
    RETURN_IF_ERROR(RemoveDocuments(db, "service-api", {id}));
    ++converted;
  }
  return converted;
}

absl::StatusOr<int> ConvertEnrolments(SqlDatabase& db, InvokerStore& invokers) {
  int converted = 0;
  ASSIGN_OR_RETURN(std::vector<SqlRow> rows,
                   db.Query("SELECT api_invoker_id, enrolment_json FROM invokers "
                            "WHERE enrolment_json != ''"));
  for (const SqlRow& row : rows) {
    const std::string id = SqlText(row[0]);
    json doc = json::parse(SqlText(row[1]), nullptr, false);
    ASSIGN_OR_RETURN(std::optional<InvokerRecord> record, invokers.Get(ApiInvokerId(id)));
    if (!record) continue;
    absl::Status valid = doc.is_object() ? ValidateEnrolment(doc, &*record)
                                         : absl::InvalidArgumentError("not an object");
    if (!valid.ok()) {
      Kept("enrolment of invoker", id, valid.message());
      continue;
    }
    RETURN_IF_ERROR(invokers.Update(*record));  // clears enrolment_json
    ++converted;
  }
  return converted;
}

}  // namespace

absl::StatusOr<int> ConvertLegacyDocuments(const std::shared_ptr<SqlDatabase>& db,
                                           ProviderRegistry& providers,
                                           ServiceApiRepository& service_apis,
                                           InvokerStore& invokers) {
  // Providers first: a service API is converted only under a registered APF.
  ASSIGN_OR_RETURN(int domains, ConvertProviders(*db, providers));
  ASSIGN_OR_RETURN(int apis, ConvertServiceApis(*db, service_apis));
  ASSIGN_OR_RETURN(int enrolments, ConvertEnrolments(*db, invokers));
  int converted = domains + apis + enrolments;
  if (converted > 0) {
    LogInfo("store", absl::StrCat("converted ", converted, " stored TS 29.222 documents (",
                                  domains, " of providers, ", apis, " service APIs, ", enrolments,
                                  " invoker enrolments) to typed records"));
  }
  return converted;
}

}  // namespace capif
