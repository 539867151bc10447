#include "ccf/store/provider_registry.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "ccf/store/service_apis.h"
#include "ccf/store/sql_stores.h"
#include "common/status_macros.h"

namespace capif {

absl::string_view ProviderRoleName(ProviderRole role) {
  switch (role) {
    case ProviderRole::kAef:
      return "AEF";
    case ProviderRole::kApf:
      return "APF";
    case ProviderRole::kAmf:
      return "AMF";
  }
  return "";
}

std::optional<ProviderRole> ProviderRoleOfName(absl::string_view name) {
  for (ProviderRole r : {ProviderRole::kAef, ProviderRole::kApf, ProviderRole::kAmf}) {
    if (ProviderRoleName(r) == name) return r;
  }
  return std::nullopt;
}

namespace {

constexpr char kFunctionColumns[] =
    "SELECT func_id, dom_id, role, info, public_key_pem, certificate_pem FROM provider_functions ";

ProviderFunction FunctionOfRow(const SqlRow& row) {
  ProviderFunction f;
  f.id = SqlText(row[0]);
  f.domain_id = SqlText(row[1]);
  f.role = ProviderRoleOfName(SqlText(row[2])).value_or(ProviderRole::kAef);
  f.info = TextOrNull(row[3]);
  f.public_key_pem = SqlText(row[4]);
  f.certificate_pem = SqlText(row[5]);
  return f;
}

absl::Status DeleteFunctionIn(SqlDatabase::Tx& tx, const std::string& id, const EventLog* events) {
  RETURN_IF_ERROR(DeleteServiceApisOfApfIn(tx, id, events));
  RETURN_IF_ERROR(DeleteSubscriptionsOfIn(tx, id));
  return tx.Execute("DELETE FROM provider_functions WHERE func_id = ?", {id});
}

// Writes the domain row and its functions; functions of the domain not in `d` are deleted.
absl::Status WriteDomainIn(SqlDatabase::Tx& tx, const ProviderDomain& d, const EventLog* events) {
  RETURN_IF_ERROR(tx.Execute(
      "INSERT INTO provider_domains(dom_id, info, supported_features) VALUES (?, ?, ?) "
      "ON CONFLICT(dom_id) DO UPDATE SET info = excluded.info, "
      "supported_features = excluded.supported_features",
      {d.id, OptText(d.info), OptText(d.supported_features)}));
  std::set<std::string> kept;
  for (const ProviderFunction& f : d.functions) kept.insert(f.id);
  ASSIGN_OR_RETURN(std::vector<SqlRow> current,
                   tx.Query("SELECT func_id FROM provider_functions WHERE dom_id = ?", {d.id}));
  for (const SqlRow& row : current) {
    if (kept.count(SqlText(row[0])) == 0)
      RETURN_IF_ERROR(DeleteFunctionIn(tx, SqlText(row[0]), events));
  }
  for (size_t i = 0; i < d.functions.size(); ++i) {
    const ProviderFunction& f = d.functions[i];
    ASSIGN_OR_RETURN(std::vector<SqlRow> owner,
                     tx.Query("SELECT dom_id, role FROM provider_functions WHERE func_id = ?",
                              {f.id}));
    if (!owner.empty() && SqlText(owner[0][0]) != d.id) {
      return absl::NotFoundError(absl::StrCat(f.id, " is a function of another domain"));
    }
    if (!owner.empty() && SqlText(owner[0][1]) != ProviderRoleName(f.role)) {
      // A function keeps its role; a new role is a new function (with a new id).
      return absl::InvalidArgumentError(absl::StrCat(f.id, " cannot change its role"));
    }
    RETURN_IF_ERROR(tx.Execute(
        "INSERT INTO provider_functions(func_id, dom_id, position, role, info, public_key_pem, "
        "certificate_pem) VALUES (?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT(func_id) DO UPDATE SET position = excluded.position, info = excluded.info, "
        "public_key_pem = excluded.public_key_pem, certificate_pem = excluded.certificate_pem",
        {f.id, d.id, static_cast<int64_t>(i), std::string(ProviderRoleName(f.role)),
         OptText(f.info), f.public_key_pem, f.certificate_pem}));
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> DomainExistsIn(SqlDatabase::Tx& tx, const std::string& id) {
  ASSIGN_OR_RETURN(std::vector<SqlRow> rows,
                   tx.Query("SELECT 1 FROM provider_domains WHERE dom_id = ?", {id}));
  return !rows.empty();
}

}  // namespace

absl::Status SqlProviderRegistry::Insert(const ProviderDomain& d) {
  return db_->Transaction([&](SqlDatabase::Tx& tx) -> absl::Status {
    ASSIGN_OR_RETURN(bool exists, DomainExistsIn(tx, d.id));
    if (exists) return absl::AlreadyExistsError("the domain id exists");
    for (const ProviderFunction& f : d.functions) {
      ASSIGN_OR_RETURN(std::vector<SqlRow> rows,
                       tx.Query("SELECT 1 FROM provider_functions WHERE func_id = ?", {f.id}));
      if (!rows.empty()) return absl::AlreadyExistsError("a function id exists");
    }
    return WriteDomainIn(tx, d, events_);
  });
}

absl::Status SqlProviderRegistry::Replace(const ProviderDomain& d) {
  return db_->Transaction([&](SqlDatabase::Tx& tx) -> absl::Status {
    ASSIGN_OR_RETURN(bool exists, DomainExistsIn(tx, d.id));
    if (!exists) return absl::NotFoundError("no such API provider domain");
    return WriteDomainIn(tx, d, events_);
  });
}

absl::StatusOr<std::optional<ProviderDomain>> SqlProviderRegistry::Get(
    const std::string& domain_id) {
  std::optional<ProviderDomain> out;
  RETURN_IF_ERROR(db_->ReadTransaction([&](SqlDatabase::Tx& tx) -> absl::Status {
    out.reset();
    ASSIGN_OR_RETURN(std::vector<SqlRow> rows,
                     tx.Query("SELECT info, supported_features FROM provider_domains "
                              "WHERE dom_id = ?",
                              {domain_id}));
    if (rows.empty()) return absl::OkStatus();
    out = ProviderDomain{domain_id, TextOrNull(rows[0][0]), TextOrNull(rows[0][1]), {}};
    ASSIGN_OR_RETURN(std::vector<SqlRow> funcs,
                     tx.Query(absl::StrCat(kFunctionColumns, "WHERE dom_id = ? ORDER BY position"),
                              {domain_id}));
    for (const SqlRow& row : funcs) out->functions.push_back(FunctionOfRow(row));
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::optional<ProviderFunction>> SqlProviderRegistry::GetFunction(
    const std::string& function_id) {
  ASSIGN_OR_RETURN(std::vector<SqlRow> rows,
                   db_->Query(absl::StrCat(kFunctionColumns, "WHERE func_id = ?"), {function_id}));
  if (rows.empty()) return std::optional<ProviderFunction>();
  return std::optional<ProviderFunction>(FunctionOfRow(rows[0]));
}

absl::Status SqlProviderRegistry::Delete(const std::string& domain_id) {
  return db_->Transaction([&](SqlDatabase::Tx& tx) -> absl::Status {
    ASSIGN_OR_RETURN(bool exists, DomainExistsIn(tx, domain_id));
    if (!exists) return absl::NotFoundError("no such API provider domain");
    ASSIGN_OR_RETURN(std::vector<SqlRow> funcs,
                     tx.Query("SELECT func_id FROM provider_functions WHERE dom_id = ?",
                              {domain_id}));
    for (const SqlRow& row : funcs) RETURN_IF_ERROR(DeleteFunctionIn(tx, SqlText(row[0]), events_));
    return tx.Execute("DELETE FROM provider_domains WHERE dom_id = ?", {domain_id});
  });
}

}  // namespace capif
