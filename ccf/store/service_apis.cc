#include "ccf/store/service_apis.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "ccf/store/sql_stores.h"
#include "common/status_macros.h"

namespace capif {
namespace {

// One text that is equal for two interfaces exactly when every member is (absent included).
std::string AddressKey(const InterfaceAddress& a) {
  auto part = [](const std::optional<std::string>& v) {
    return v ? absl::StrCat(v->size(), ":", *v) : std::string("-");
  };
  return absl::StrCat(part(a.ipv4_addr), "|", part(a.ipv6_addr), "|", part(a.fqdn), "|",
                      a.port ? absl::StrCat(*a.port) : "-", "|", part(a.api_prefix));
}

SharedApiFacts FactsOf(const ServiceApiRecord& api) {
  SharedApiFacts f{api.api_id, api.api_name, api.shareable, api.shareable_with, {}};
  for (const ServiceApiAef& a : api.aefs) f.aef_ids.push_back(a.aef_id);
  return f;
}

// The stored API's facts (nullopt: absent).
absl::StatusOr<std::optional<SharedApiFacts>> FactsIn(SqlDatabase::Tx& tx,
                                                      const std::string& api_id) {
  ASSIGN_OR_RETURN(
      std::vector<SqlRow> api,
      tx.Query("SELECT api_name, shareable FROM service_apis WHERE api_id = ?", {api_id}));
  if (api.empty()) return std::optional<SharedApiFacts>();
  SharedApiFacts f{api_id, SqlText(api[0][0]), SqlInt(api[0][1]) != 0, {}, {}};
  ASSIGN_OR_RETURN(
      std::vector<SqlRow> shares,
      tx.Query("SELECT prov_dom FROM service_api_shares WHERE api_id = ? ORDER BY ordinal",
               {api_id}));
  for (const SqlRow& row : shares) f.shareable_with.push_back(SqlText(row[0]));
  ASSIGN_OR_RETURN(
      std::vector<SqlRow> aefs,
      tx.Query("SELECT aef_id FROM service_api_aefs WHERE api_id = ? ORDER BY position", {api_id}));
  for (const SqlRow& row : aefs) f.aef_ids.push_back(SqlText(row[0]));
  return std::optional<SharedApiFacts>(std::move(f));
}

// Removes the API; with `events`, a SERVICE_API_UNAVAILABLE event (also to the peers it was
// shared with).
absl::Status DeleteApiIn(SqlDatabase::Tx& tx, const std::string& api_id, const EventLog* events) {
  if (events != nullptr) {
    ASSIGN_OR_RETURN(std::optional<SharedApiFacts> before, FactsIn(tx, api_id));
    if (before) RETURN_IF_ERROR(events->RecordServiceApiChangeIn(tx, &*before, nullptr));
  }
  for (const char* table :
       {"service_api_interfaces", "service_api_aefs", "service_api_shares", "service_apis"}) {
    RETURN_IF_ERROR(
        tx.Execute(absl::StrCat("DELETE FROM ", table, " WHERE api_id = ?"), {api_id}));
  }
  return absl::OkStatus();
}

// FailedPrecondition unless `apf_id` is a registered APF and every AEF of `api` is an AEF of the
// same API provider domain.
absl::Status CheckPublisherIn(SqlDatabase::Tx& tx, const ServiceApiRecord& api) {
  auto function = [&](const std::string& id) {
    return tx.Query("SELECT dom_id, role FROM provider_functions WHERE func_id = ?", {id});
  };
  ASSIGN_OR_RETURN(std::vector<SqlRow> apf, function(api.apf_id));
  if (apf.empty() || SqlText(apf[0][1]) != "APF") {
    return absl::FailedPreconditionError("the APF is not registered");
  }
  const std::string domain = SqlText(apf[0][0]);
  for (const ServiceApiAef& aef : api.aefs) {
    ASSIGN_OR_RETURN(std::vector<SqlRow> row, function(aef.aef_id));
    if (row.empty() || SqlText(row[0][1]) != "AEF" || SqlText(row[0][0]) != domain) {
      return absl::FailedPreconditionError(
          absl::StrCat(aef.aef_id, " is not a registered AEF of the APF's domain"));
    }
  }
  return absl::OkStatus();
}

absl::Status InsertApiIn(SqlDatabase::Tx& tx, const ServiceApiRecord& api) {
  RETURN_IF_ERROR(tx.Execute(
      "INSERT INTO service_apis(api_id, apf_id, api_name, shareable, description) "
      "VALUES (?, ?, ?, ?, ?)",
      {api.api_id, api.apf_id, api.api_name, int64_t{api.shareable ? 1 : 0}, api.description}));
  for (size_t i = 0; i < api.shareable_with.size(); ++i) {
    RETURN_IF_ERROR(tx.Execute(
        "INSERT INTO service_api_shares(api_id, ordinal, prov_dom) VALUES (?, ?, ?)",
        {api.api_id, static_cast<int64_t>(i), api.shareable_with[i]}));
  }
  for (size_t p = 0; p < api.aefs.size(); ++p) {
    const ServiceApiAef& aef = api.aefs[p];
    RETURN_IF_ERROR(tx.Execute(
        "INSERT INTO service_api_aefs(api_id, position, aef_id) VALUES (?, ?, ?)",
        {api.api_id, static_cast<int64_t>(p), aef.aef_id}));
    for (size_t k = 0; k < aef.interfaces.size(); ++k) {
      const InterfaceAddress& a = aef.interfaces[k];
      RETURN_IF_ERROR(tx.Execute(
          "INSERT INTO service_api_interfaces(api_id, position, ordinal, aef_id, if_ipv4, "
          "if_ipv6, if_fqdn, if_port, if_api_prefix, address_key) "
          "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
          {api.api_id, static_cast<int64_t>(p), static_cast<int64_t>(k), aef.aef_id,
           OptText(a.ipv4_addr), OptText(a.ipv6_addr), OptText(a.fqdn), OptInt(a.port),
           OptText(a.api_prefix), AddressKey(a)}));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status DeleteServiceApisOfApfIn(SqlDatabase::Tx& tx, const std::string& apf_id,
                                      const EventLog* events) {
  ASSIGN_OR_RETURN(std::vector<SqlRow> rows,
                   tx.Query("SELECT api_id FROM service_apis WHERE apf_id = ?", {apf_id}));
  for (const SqlRow& row : rows) RETURN_IF_ERROR(DeleteApiIn(tx, SqlText(row[0]), events));
  return absl::OkStatus();
}

absl::Status SqlServiceApis::Write(const ServiceApiRecord& api, bool replace) {
  return db_->Transaction([&](SqlDatabase::Tx& tx) -> absl::Status {
    ASSIGN_OR_RETURN(std::vector<SqlRow> existing,
                     tx.Query("SELECT apf_id FROM service_apis WHERE api_id = ?", {api.api_id}));
    if (replace && (existing.empty() || SqlText(existing[0][0]) != api.apf_id)) {
      return absl::NotFoundError("no such service API of this APF");
    }
    if (!replace && !existing.empty()) return absl::AlreadyExistsError("the apiId exists");
    RETURN_IF_ERROR(CheckPublisherIn(tx, api));
    std::optional<SharedApiFacts> before;
    if (replace && events_ != nullptr) {
      ASSIGN_OR_RETURN(before, FactsIn(tx, api.api_id));
    }
    if (replace) RETURN_IF_ERROR(DeleteApiIn(tx, api.api_id, nullptr));
    RETURN_IF_ERROR(InsertApiIn(tx, api));
    if (events_ == nullptr) return absl::OkStatus();
    SharedApiFacts after = FactsOf(api);
    return events_->RecordServiceApiChangeIn(tx, before ? &*before : nullptr, &after);
  });
}

absl::Status SqlServiceApis::Insert(const ServiceApiRecord& api) { return Write(api, false); }
absl::Status SqlServiceApis::Replace(const ServiceApiRecord& api) { return Write(api, true); }

absl::Status SqlServiceApis::Delete(const std::string& api_id, const std::string& apf_id) {
  return db_->Transaction([&](SqlDatabase::Tx& tx) -> absl::Status {
    ASSIGN_OR_RETURN(std::vector<SqlRow> existing,
                     tx.Query("SELECT 1 FROM service_apis WHERE api_id = ? AND apf_id = ?",
                              {api_id, apf_id}));
    if (existing.empty()) return absl::NotFoundError("no such service API of this APF");
    return DeleteApiIn(tx, api_id, events_);
  });
}

absl::StatusOr<std::vector<ServiceApiRecord>> SqlServiceApis::Where(
    const std::string& where, const std::vector<SqlValue>& args) {
  std::vector<ServiceApiRecord> out;
  absl::Status s = db_->ReadTransaction([&](SqlDatabase::Tx& tx) -> absl::Status {
    out.clear();
    const std::string selected = absl::StrCat("(SELECT api_id FROM service_apis a ", where, ")");
    ASSIGN_OR_RETURN(
        std::vector<SqlRow> apis,
        tx.Query(absl::StrCat("SELECT api_id, apf_id, api_name, shareable, description FROM "
                              "service_apis a ", where, " ORDER BY api_id"),
                 args));
    std::map<std::string, size_t> index;
    for (const SqlRow& row : apis) {
      ServiceApiRecord r;
      r.api_id = SqlText(row[0]);
      r.apf_id = SqlText(row[1]);
      r.api_name = SqlText(row[2]);
      r.shareable = SqlInt(row[3]) != 0;
      r.description = SqlText(row[4]);
      index[r.api_id] = out.size();
      out.push_back(std::move(r));
    }
    if (out.empty()) return absl::OkStatus();
    ASSIGN_OR_RETURN(std::vector<SqlRow> shares,
                     tx.Query(absl::StrCat("SELECT api_id, prov_dom FROM service_api_shares "
                                           "WHERE api_id IN ", selected, " ORDER BY api_id, ordinal"),
                              args));
    for (const SqlRow& row : shares) {
      out[index[SqlText(row[0])]].shareable_with.push_back(SqlText(row[1]));
    }
    ASSIGN_OR_RETURN(std::vector<SqlRow> aefs,
                     tx.Query(absl::StrCat("SELECT api_id, aef_id FROM service_api_aefs WHERE "
                                           "api_id IN ", selected, " ORDER BY api_id, position"),
                              args));
    for (const SqlRow& row : aefs) {
      out[index[SqlText(row[0])]].aefs.push_back({SqlText(row[1]), {}});
    }
    ASSIGN_OR_RETURN(
        std::vector<SqlRow> ifs,
        tx.Query(absl::StrCat("SELECT api_id, position, if_ipv4, if_ipv6, if_fqdn, if_port, "
                              "if_api_prefix FROM service_api_interfaces WHERE api_id IN ",
                              selected, " ORDER BY api_id, position, ordinal"),
                 args));
    for (const SqlRow& row : ifs) {
      ServiceApiRecord& r = out[index[SqlText(row[0])]];
      size_t position = static_cast<size_t>(SqlInt(row[1]));
      if (position >= r.aefs.size()) return absl::InternalError("an interface of no AEF profile");
      r.aefs[position].interfaces.push_back({TextOrNull(row[2]), TextOrNull(row[3]),
                                             TextOrNull(row[4]), IntOrNull(row[5]),
                                             TextOrNull(row[6])});
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::optional<ServiceApiRecord>> SqlServiceApis::Get(const std::string& api_id) {
  ASSIGN_OR_RETURN(std::vector<ServiceApiRecord> found, Where("WHERE a.api_id = ?", {api_id}));
  if (found.empty()) return std::optional<ServiceApiRecord>();
  return std::optional<ServiceApiRecord>(std::move(found[0]));
}

absl::StatusOr<std::vector<ServiceApiRecord>> SqlServiceApis::OfApf(const std::string& apf_id) {
  return Where("WHERE a.apf_id = ?", {apf_id});
}

absl::StatusOr<std::vector<ServiceApiRecord>> SqlServiceApis::Named(const std::string& api_name) {
  if (api_name.empty()) return Where("", {});
  return Where("WHERE a.api_name = ?", {api_name});
}

absl::StatusOr<std::vector<ServiceApiRecord>> SqlServiceApis::WithAef(const std::string& aef_id) {
  return Where("WHERE a.api_id IN (SELECT api_id FROM service_api_aefs WHERE aef_id = ?)",
               {aef_id});
}

absl::StatusOr<std::vector<ServiceApiRecord>> SqlServiceApis::WithInterface(
    const InterfaceAddress& address) {
  return Where(
      "WHERE a.api_id IN (SELECT api_id FROM service_api_interfaces WHERE address_key = ?)",
      {AddressKey(address)});
}

absl::StatusOr<std::set<std::string>> SqlServiceApis::Names(
    const std::vector<std::string>& api_ids) {
  std::set<std::string> names;
  for (const std::string& id : api_ids) {
    ASSIGN_OR_RETURN(std::vector<SqlRow> rows,
                     db_->Query("SELECT api_name FROM service_apis WHERE api_id = ?", {id}));
    if (!rows.empty()) names.insert(SqlText(rows[0][0]));
  }
  return names;
}

}  // namespace capif
