#include "ccf/store/legacy_resources.h"

#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "ccf/store/remote_grants.h"
#include "ccf/store/security_contexts.h"
#include "common/log.h"
#include "common/strict_json.h"
#include "common/status_macros.h"

namespace capif {
namespace {

using nlohmann::json;

std::optional<StoredSecurityContext> ContextOf(const std::string& invoker,
                                               const json& doc) {
  if (!doc.is_object() || !doc.contains("securityInfo") || !doc["securityInfo"].is_array()) {
    return std::nullopt;
  }
  StoredSecurityContext c;
  c.api_invoker_id = invoker;
  c.notification_destination = doc.value("notificationDestination", "");
  c.supported_features = StringMember(doc, "supportedFeatures");
  if (doc.contains("requestTestNotification") && doc["requestTestNotification"].is_boolean()) {
    c.request_test_notification = doc["requestTestNotification"].get<bool>();
  }
  if (doc.contains("websockNotifConfig") && doc["websockNotifConfig"].is_object()) {
    const json& w = doc["websockNotifConfig"];
    c.websocket_uri = StringMember(w, "websocketUri");
    if (w.contains("requestWebsocketUri") && w["requestWebsocketUri"].is_boolean()) {
      c.request_websocket_uri = w["requestWebsocketUri"].get<bool>();
    }
  }
  absl::Time since = absl::FromUnixSeconds(doc.value("_since", int64_t{0}));
  c.created = since;
  for (const json& e : doc["securityInfo"]) {
    if (!e.is_object()) continue;
    SecurityEntry s;
    s.aef_id = e.value("aefId", "");
    if (e.contains("interfaceDetails") && e["interfaceDetails"].is_object()) {
      const json& i = e["interfaceDetails"];
      InterfaceAddress a{StringMember(i, "ipv4Addr"), StringMember(i, "ipv6Addr"), StringMember(i, "fqdn"),
                         std::nullopt, StringMember(i, "apiPrefix")};
      if (i.contains("port") && i["port"].is_number_integer()) a.port = i["port"].get<int64_t>();
      s.interface_details = a;
    }
    s.api_id = StringMember(e, "apiId");
    for (const json& m : e.value("prefSecurityMethods", json::array())) {
      if (m.is_string()) s.pref_methods.push_back(m.get<std::string>());
    }
    s.selected_method = e.value("selSecurityMethod", "");
    s.api_ids = absl::StrSplit(e.value("authorizationInfo", ""), ',', absl::SkipEmpty());
    s.remote_ccf_id = e.value("_aefCcfId", "");
    s.remote_api_name = e.value("_apiName", "");
    std::string hex = e.value("_aefPsk", "");
    if (!hex.empty()) s.aef_psk = SecretBytes(absl::HexStringToBytes(hex));
    s.psk_expires = absl::FromUnixSeconds(e.value("_aefPskExpires", int64_t{0}));
    // Whole seconds were all the old format kept: the authorization counts from that second.
    s.authorized_at = since;
    if (s.aef_id.empty() || s.api_ids.empty()) continue;
    c.entries.push_back(std::move(s));
  }
  return c;
}

}  // namespace

absl::StatusOr<int> MigrateLegacyResources(const std::shared_ptr<SqlDatabase>& db,
                                           const KeyEncryptionKey& kek) {
  ASSIGN_OR_RETURN(std::vector<SqlRow> rows,
                   db->Query("SELECT kind, id, json FROM resources WHERE kind IN "
                             "('security-context', 'remote-grant', 'offboarded-invoker')"));
  if (rows.empty()) return 0;
  ASSIGN_OR_RETURN(auto contexts, SqlSecurityContexts::Create(db, kek));
  SqlRemoteGrants grants(db);
  int converted = 0;
  for (const SqlRow& row : rows) {
    std::string kind = SqlText(row[0]), id = SqlText(row[1]);
    json doc = json::parse(SqlText(row[2]), nullptr, false);
    absl::Status s;
    if (kind == "security-context") {
      std::optional<StoredSecurityContext> c = ContextOf(id, doc);
      if (!c) {
        LogWarning("store", absl::StrCat("unreadable stored security context of ", id, " kept"));
        continue;
      }
      auto existing = contexts->Get(id);
      if (existing.ok() && !existing->has_value()) {
        s = contexts->Write(*c, 0, {}).status();
      }
    } else if (kind == "remote-grant" && doc.is_object()) {
      RemoteGrant g{doc.value("homeCcfId", ""), doc.value("apiInvokerId", ""),
                    doc.value("aefId", ""),     doc.value("apiId", ""),
                    doc.value("selSecurityMethod", ""),
                    absl::FromUnixSeconds(doc.value("grantedAt", int64_t{0})), std::nullopt};
      s = grants.Put(g);
    } else if (kind == "offboarded-invoker" && doc.is_object()) {
      OffboardedInvoker t{doc.value("homeCcfId", ""), doc.value("apiInvokerId", ""),
                          doc.value("noticeId", ""), doc.value("occurredAt", int64_t{0}),
                          absl::FromUnixSeconds(doc.value("receivedAt", int64_t{0}))};
      s = grants.Remove({}, t, {});
    } else {
      LogWarning("store", absl::StrCat("unreadable stored ", kind, " ", id, " kept"));
      continue;
    }
    RETURN_IF_ERROR(s);
    RETURN_IF_ERROR(db->Execute("DELETE FROM resources WHERE kind = ? AND id = ?", {kind, id}));
    ++converted;
  }
  LogInfo("store", absl::StrCat("converted ", converted, " stored documents to typed records"));
  return converted;
}

}  // namespace capif
