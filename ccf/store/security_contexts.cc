#include "ccf/store/security_contexts.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "ccf/store/sql_stores.h"
#include "common/status_macros.h"

namespace capif {

std::set<std::string> RevokeApis(std::vector<SecurityEntry>& entries,
                                 const std::function<bool(const SecurityEntry&)>& selects,
                                 const std::function<bool(const std::string&)>& revokes,
                                 bool* changed) {
  std::set<std::string> removed;
  std::vector<SecurityEntry> kept;
  *changed = false;
  for (SecurityEntry& e : entries) {
    if (selects(e)) {
      size_t before = e.api_ids.size();
      std::vector<std::string> left;
      for (std::string& a : e.api_ids) {
        if (revokes(a)) {
          removed.insert(a);
        } else {
          left.push_back(std::move(a));
        }
      }
      e.api_ids = std::move(left);
      if (e.api_ids.size() != before) *changed = true;
      if (e.api_ids.empty()) {
        *changed = true;
        continue;
      }
      if (e.api_id && revokes(*e.api_id)) e.api_id.reset();
      if (e.api_ids.size() == 1) e.api_id = e.api_ids[0];
    }
    kept.push_back(std::move(e));
  }
  entries = std::move(kept);
  return removed;
}

namespace {

// Where a sealed AEFPSK belongs: it opens only in the entry it was sealed for.
std::string PskAad(const std::string& invoker, const SecurityEntry& e) {
  return absl::StrCat("aefpsk/", invoker, "/", e.aef_id, "/", ToUnixMicrosOrZero(e.authorized_at));
}

// An entry's API ids joined by ',' in their order: the one aggregate the dialects spell
// differently.
constexpr char kEntryApiIdsSqlite[] =
    "(SELECT group_concat(api_id, ',') FROM (SELECT x.api_id FROM security_entry_apis x "
    "  WHERE x.api_invoker_id = e.api_invoker_id AND x.position = e.position "
    "  ORDER BY x.ordinal)), ";
constexpr char kEntryApiIdsPostgres[] =
    "(SELECT string_agg(x.api_id, ',' ORDER BY x.ordinal) FROM security_entry_apis x "
    "  WHERE x.api_invoker_id = e.api_invoker_id AND x.position = e.position), ";

std::string EntryColumns(SqlDatabase::Dialect dialect) {
  return absl::StrCat(
      "SELECT e.api_invoker_id, e.aef_id, e.by_interface, e.if_ipv4, e.if_ipv6, e.if_fqdn, "
      "e.if_port, e.if_api_prefix, e.api_id, e.pref_methods, e.sel_method, ",
      dialect == SqlDatabase::Dialect::kPostgres ? kEntryApiIdsPostgres : kEntryApiIdsSqlite,
      "e.remote_ccf_id, e.remote_api_name, e.psk_sealed, e.psk_expires_us, e.authorized_us "
      "FROM security_entries e ");
}

absl::StatusOr<InvokerEntry> EntryOfRow(const SqlRow& row, const KeyEncryptionKey& kek) {
  InvokerEntry out;
  out.api_invoker_id = SqlText(row[0]);
  SecurityEntry& e = out.entry;
  e.aef_id = SqlText(row[1]);
  if (SqlInt(row[2]) != 0) {
    e.interface_details = InterfaceAddress{TextOrNull(row[3]), TextOrNull(row[4]),
                                           TextOrNull(row[5]), IntOrNull(row[6]),
                                           TextOrNull(row[7])};
  }
  e.api_id = TextOrNull(row[8]);
  e.pref_methods = absl::StrSplit(SqlText(row[9]), ',', absl::SkipEmpty());
  e.selected_method = SqlText(row[10]);
  e.api_ids = absl::StrSplit(SqlText(row[11]), ',', absl::SkipEmpty());
  e.remote_ccf_id = SqlText(row[12]);
  e.remote_api_name = SqlText(row[13]);
  e.psk_expires = FromUnixMicrosOrPast(SqlInt(row[15]));
  e.authorized_at = FromUnixMicrosOrPast(SqlInt(row[16]));
  std::string sealed = SqlBytes(row[14]);
  if (!sealed.empty()) {
    auto psk = kek.Open(sealed, PskAad(out.api_invoker_id, e));
    if (!psk.ok()) {
      return absl::DataLossError(absl::StrCat("the AEFPSK of invoker ", out.api_invoker_id,
                                              " for ", e.aef_id,
                                              " does not open with this key-encryption key"));
    }
    e.aef_psk = *std::move(psk);
  }
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<SqlSecurityContexts>> SqlSecurityContexts::Create(
    std::shared_ptr<SqlDatabase> db, KeyEncryptionKey kek) {
  if (db == nullptr) return absl::InvalidArgumentError("no database");
  return std::unique_ptr<SqlSecurityContexts>(
      new SqlSecurityContexts(std::move(db), std::move(kek)));
}

absl::StatusOr<std::optional<StoredSecurityContext>> SqlSecurityContexts::Get(
    const std::string& api_invoker_id) {
  std::optional<StoredSecurityContext> out;
  RETURN_IF_ERROR(db_->ReadTransaction([&](SqlDatabase::Tx& tx) -> absl::Status {
    ASSIGN_OR_RETURN(std::vector<SqlRow> rows,
                     tx.Query("SELECT notification_destination, supported_features, "
                              "request_test_notification, websocket_uri, request_websocket_uri, "
                              "created_us, version FROM security_contexts WHERE api_invoker_id = ?",
                              {api_invoker_id}));
    if (rows.empty()) return absl::OkStatus();
    const SqlRow& r = rows[0];
    StoredSecurityContext c;
    c.api_invoker_id = api_invoker_id;
    c.notification_destination = SqlText(r[0]);
    c.supported_features = TextOrNull(r[1]);
    c.request_test_notification = BoolOrNull(r[2]);
    c.websocket_uri = TextOrNull(r[3]);
    c.request_websocket_uri = BoolOrNull(r[4]);
    c.created = FromUnixMicrosOrPast(SqlInt(r[5]));
    c.version = SqlInt(r[6]);
    ASSIGN_OR_RETURN(std::vector<SqlRow> entries,
                     tx.Query(absl::StrCat(EntryColumns(db_->dialect()),
                                           "WHERE e.api_invoker_id = ? ORDER BY e.position"),
                              {api_invoker_id}));
    for (const SqlRow& row : entries) {
      ASSIGN_OR_RETURN(InvokerEntry e, EntryOfRow(row, kek_));
      c.entries.push_back(std::move(e.entry));
    }
    out = std::move(c);
    return absl::OkStatus();
  }));
  return out;
}

namespace {

// Compare-and-swap: Aborted unless the stored version is `expected` (0: no context stored).
absl::StatusOr<int64_t> CheckVersion(SqlDatabase::Tx& tx, const std::string& invoker,
                                     int64_t expected) {
  ASSIGN_OR_RETURN(std::vector<SqlRow> rows,
                   tx.Query("SELECT version FROM security_contexts WHERE api_invoker_id = ?",
                            {invoker}));
  int64_t stored = rows.empty() ? 0 : SqlInt(rows[0][0]);
  if (stored != expected) {
    return absl::AbortedError("the security context changed meanwhile");
  }
  return stored;
}

}  // namespace

absl::StatusOr<int64_t> SqlSecurityContexts::Write(const StoredSecurityContext& c,
                                                   int64_t expected_version,
                                                   const std::vector<OutboundNotice>& notices) {
  // Seal outside the transaction: it holds the database lock.
  std::vector<std::string> sealed;
  for (const SecurityEntry& e : c.entries) {
    if (e.aef_psk.empty()) {
      sealed.emplace_back();
      continue;
    }
    ASSIGN_OR_RETURN(std::string s, kek_.Seal(e.aef_psk, PskAad(c.api_invoker_id, e)));
    sealed.push_back(std::move(s));
  }
  int64_t version = 0;
  RETURN_IF_ERROR(db_->Transaction([&](SqlDatabase::Tx& tx) -> absl::Status {
    ASSIGN_OR_RETURN(int64_t stored, CheckVersion(tx, c.api_invoker_id, expected_version));
    version = stored + 1;
    RETURN_IF_ERROR(DeleteSecurityContextIn(tx, c.api_invoker_id));
    RETURN_IF_ERROR(tx.Execute(
        "INSERT INTO security_contexts(api_invoker_id, notification_destination, "
        "supported_features, request_test_notification, websocket_uri, request_websocket_uri, "
        "created_us, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        {c.api_invoker_id, c.notification_destination, OptText(c.supported_features),
         OptBool(c.request_test_notification), OptText(c.websocket_uri),
         OptBool(c.request_websocket_uri), ToUnixMicrosOrZero(c.created), version}));
    for (size_t i = 0; i < c.entries.size(); ++i) {
      const SecurityEntry& e = c.entries[i];
      const InterfaceAddress none;
      const InterfaceAddress& a = e.interface_details ? *e.interface_details : none;
      RETURN_IF_ERROR(tx.Execute(
          "INSERT INTO security_entries(api_invoker_id, position, aef_id, by_interface, if_ipv4, "
          "if_ipv6, if_fqdn, if_port, if_api_prefix, api_id, pref_methods, sel_method, "
          "remote_ccf_id, remote_api_name, psk_sealed, psk_expires_us, authorized_us) "
          "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
          {c.api_invoker_id, static_cast<int64_t>(i), e.aef_id,
           int64_t{e.interface_details ? 1 : 0}, OptText(a.ipv4_addr), OptText(a.ipv6_addr),
           OptText(a.fqdn), OptInt(a.port), OptText(a.api_prefix), OptText(e.api_id),
           absl::StrJoin(e.pref_methods, ","), e.selected_method, e.remote_ccf_id,
           e.remote_api_name, SqlBlob{sealed[i]}, ToUnixMicrosOrZero(e.psk_expires),
           ToUnixMicrosOrZero(e.authorized_at)}));
      for (size_t k = 0; k < e.api_ids.size(); ++k) {
        RETURN_IF_ERROR(tx.Execute(
            "INSERT INTO security_entry_apis(api_invoker_id, position, ordinal, api_id) "
            "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            {c.api_invoker_id, static_cast<int64_t>(i), static_cast<int64_t>(k), e.api_ids[k]}));
      }
    }
    return EnqueueNoticesIn(tx, notices);
  }));
  return version;
}

absl::Status SqlSecurityContexts::Delete(const std::string& api_invoker_id,
                                         int64_t expected_version,
                                         const std::vector<OutboundNotice>& notices) {
  return db_->Transaction([&](SqlDatabase::Tx& tx) -> absl::Status {
    ASSIGN_OR_RETURN(std::vector<SqlRow> rows,
                     tx.Query("SELECT version FROM security_contexts WHERE api_invoker_id = ?",
                              {api_invoker_id}));
    if (rows.empty()) return absl::NotFoundError("no security context");
    if (SqlInt(rows[0][0]) != expected_version) {
      return absl::AbortedError("the security context changed meanwhile");
    }
    RETURN_IF_ERROR(DeleteSecurityContextIn(tx, api_invoker_id));
    return EnqueueNoticesIn(tx, notices);
  });
}

absl::StatusOr<std::vector<InvokerEntry>> SqlSecurityContexts::EntriesWhere(
    const std::string& where, const std::string& value) {
  ASSIGN_OR_RETURN(std::vector<SqlRow> rows,
                   db_->Query(absl::StrCat(EntryColumns(db_->dialect()), where,
                                           " ORDER BY e.api_invoker_id, e.position"),
                              {value}));
  std::vector<InvokerEntry> out;
  for (const SqlRow& row : rows) {
    ASSIGN_OR_RETURN(InvokerEntry e, EntryOfRow(row, kek_));
    out.push_back(std::move(e));
  }
  return out;
}

absl::StatusOr<std::vector<InvokerEntry>> SqlSecurityContexts::EntriesOfAef(
    const std::string& aef_id) {
  return EntriesWhere("WHERE e.aef_id = ?", aef_id);
}

absl::StatusOr<std::vector<InvokerEntry>> SqlSecurityContexts::EntriesOfApi(
    const std::string& api_id) {
  return EntriesWhere(
      "JOIN security_entry_apis a ON a.api_invoker_id = e.api_invoker_id AND "
      "a.position = e.position WHERE a.api_id = ?",
      api_id);
}

}  // namespace capif
