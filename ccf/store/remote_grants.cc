#include "ccf/store/remote_grants.h"

#include "absl/strings/str_cat.h"
#include "ccf/store/sql_stores.h"
#include "common/status_macros.h"

namespace capif {
namespace {

constexpr char kGrantColumns[] =
    "SELECT home_ccf_id, api_invoker_id, aef_id, api_id, sel_method, granted_us, lease_until_us "
    "FROM remote_grants ";

std::vector<RemoteGrant> GrantsOf(const std::vector<SqlRow>& rows) {
  std::vector<RemoteGrant> out;
  for (const SqlRow& r : rows) {
    RemoteGrant g;
    g.home_ccf_id = SqlText(r[0]);
    g.api_invoker_id = SqlText(r[1]);
    g.aef_id = SqlText(r[2]);
    g.api_id = SqlText(r[3]);
    g.selected_method = SqlText(r[4]);
    g.granted_at = FromUnixMicrosOrPast(SqlInt(r[5]));
    if (!std::holds_alternative<SqlNull>(r[6])) g.lease_until = absl::FromUnixMicros(SqlInt(r[6]));
    out.push_back(std::move(g));
  }
  return out;
}

absl::Status DeleteGrantIn(SqlDatabase::Tx& tx, const RemoteGrant& g) {
  return tx.Execute(
      "DELETE FROM remote_grants WHERE home_ccf_id = ? AND api_invoker_id = ? AND aef_id = ? "
      "AND api_id = ?",
      {g.home_ccf_id, g.api_invoker_id, g.aef_id, g.api_id});
}

}  // namespace

absl::Status SqlRemoteGrants::Put(const RemoteGrant& g,
                                  const std::vector<OutboundNotice>& notices) {
  return db_->Transaction([&](SqlDatabase::Tx& tx) -> absl::Status {
    // Checked in the same transaction: an offboarding notice applied meanwhile wins.
    ASSIGN_OR_RETURN(std::vector<SqlRow> gone,
                     tx.Query("SELECT 1 FROM offboarded_invokers WHERE home_ccf_id = ? AND "
                              "api_invoker_id = ?",
                              {g.home_ccf_id, g.api_invoker_id}));
    if (!gone.empty()) {
      return absl::FailedPreconditionError("the home CCF announced this invoker was offboarded");
    }
    // The home asked again: an earlier revocation by this AEF no longer stands.
    RETURN_IF_ERROR(tx.Execute("DELETE FROM revoked_by_aef WHERE api_invoker_id = ? AND aef_id = ?",
                               {g.api_invoker_id, g.aef_id}));
    RETURN_IF_ERROR(tx.Execute(
      "INSERT INTO remote_grants(home_ccf_id, api_invoker_id, aef_id, api_id, sel_method, "
      "granted_us, lease_until_us) VALUES (?, ?, ?, ?, ?, ?, ?) "
      "ON CONFLICT(api_invoker_id, aef_id, api_id, home_ccf_id) DO UPDATE SET "
      "sel_method = excluded.sel_method, granted_us = excluded.granted_us, "
      "lease_until_us = excluded.lease_until_us",
      {g.home_ccf_id, g.api_invoker_id, g.aef_id, g.api_id, g.selected_method,
       ToUnixMicrosOrZero(g.granted_at),
       g.lease_until ? SqlValue(absl::ToUnixMicros(*g.lease_until)) : SqlValue(SqlNull{})}));
    return EnqueueNoticesIn(tx, notices);
  });
}

absl::StatusOr<std::vector<RemoteGrant>> SqlRemoteGrants::OfInvoker(
    const std::string& api_invoker_id) {
  ASSIGN_OR_RETURN(std::vector<SqlRow> rows,
                   db_->Query(absl::StrCat(kGrantColumns,
                                           "WHERE api_invoker_id = ? ORDER BY aef_id, api_id"),
                              {api_invoker_id}));
  return GrantsOf(rows);
}

absl::StatusOr<std::vector<RemoteGrant>> SqlRemoteGrants::OfAef(const std::string& aef_id) {
  ASSIGN_OR_RETURN(std::vector<SqlRow> rows,
                   db_->Query(absl::StrCat(kGrantColumns,
                                           "WHERE aef_id = ? ORDER BY api_invoker_id, api_id"),
                              {aef_id}));
  return GrantsOf(rows);
}

absl::StatusOr<std::vector<RemoteGrant>> SqlRemoteGrants::All() {
  ASSIGN_OR_RETURN(std::vector<SqlRow> rows,
                   db_->Query(absl::StrCat(kGrantColumns,
                                           "ORDER BY api_invoker_id, aef_id, api_id, "
                                           "home_ccf_id")));
  return GrantsOf(rows);
}

absl::StatusOr<int> SqlRemoteGrants::Confirm(
    const std::string& home_ccf_id, const std::string& api_invoker_id,
    const std::vector<std::pair<std::string, std::string>>& pairs) {
  int confirmed = 0;
  RETURN_IF_ERROR(db_->Transaction([&](SqlDatabase::Tx& tx) -> absl::Status {
    confirmed = 0;
    for (const auto& [aef, api] : pairs) {
      if (api.empty()) {
        RETURN_IF_ERROR(tx.Execute(
            "UPDATE remote_grants SET lease_until_us = NULL WHERE home_ccf_id = ? AND "
            "api_invoker_id = ? AND aef_id = ? AND lease_until_us IS NOT NULL",
            {home_ccf_id, api_invoker_id, aef}));
      } else {
        RETURN_IF_ERROR(tx.Execute(
            "UPDATE remote_grants SET lease_until_us = NULL WHERE home_ccf_id = ? AND "
            "api_invoker_id = ? AND aef_id = ? AND api_id = ? AND lease_until_us IS NOT NULL",
            {home_ccf_id, api_invoker_id, aef, api}));
      }
      confirmed += static_cast<int>(tx.changes());
    }
    return absl::OkStatus();
  }));
  return confirmed;
}

absl::StatusOr<std::vector<RemoteGrant>> SqlRemoteGrants::RemoveUnconfirmed(absl::Time now) {
  std::vector<RemoteGrant> removed;
  RETURN_IF_ERROR(db_->Transaction([&](SqlDatabase::Tx& tx) -> absl::Status {
    ASSIGN_OR_RETURN(std::vector<SqlRow> rows,
                     tx.Query(absl::StrCat(kGrantColumns,
                                           "WHERE lease_until_us IS NOT NULL AND "
                                           "lease_until_us < ? LIMIT 1000"),
                              {absl::ToUnixMicros(now)}));
    removed = GrantsOf(rows);
    for (const RemoteGrant& g : removed) RETURN_IF_ERROR(DeleteGrantIn(tx, g));
    return absl::OkStatus();
  }));
  return removed;
}

absl::Status SqlRemoteGrants::Remove(const std::vector<RemoteGrant>& grants,
                                     const std::optional<OffboardedInvoker>& t,
                                     const std::vector<OutboundNotice>& notices) {
  return db_->Transaction([&](SqlDatabase::Tx& tx) -> absl::Status {
    for (const RemoteGrant& g : grants) RETURN_IF_ERROR(DeleteGrantIn(tx, g));
    if (t) {
      RETURN_IF_ERROR(
          tx.Execute("INSERT INTO offboarded_invokers(home_ccf_id, api_invoker_id, notice_id, "
                     "occurred_at, received_us) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                     {t->home_ccf_id, t->api_invoker_id, t->notice_id, t->occurred_at,
                      ToUnixMicrosOrZero(t->received_at)}));
    }
    return EnqueueNoticesIn(tx, notices);
  });
}

absl::StatusOr<bool> SqlRemoteGrants::IsOffboarded(const std::string& home_ccf_id,
                                                   const std::string& api_invoker_id) {
  ASSIGN_OR_RETURN(std::vector<SqlRow> rows,
                   db_->Query("SELECT 1 FROM offboarded_invokers WHERE home_ccf_id = ? AND "
                              "api_invoker_id = ?",
                              {home_ccf_id, api_invoker_id}));
  return !rows.empty();
}

absl::Status SqlRemoteGrants::RemoveRevokedByAef(const std::vector<RemoteGrant>& grants,
                                                 const std::string& api_invoker_id,
                                                 const std::string& aef_id, absl::Time when,
                                                 const std::vector<OutboundNotice>& notices) {
  return db_->Transaction([&](SqlDatabase::Tx& tx) -> absl::Status {
    for (const RemoteGrant& g : grants) RETURN_IF_ERROR(DeleteGrantIn(tx, g));
    RETURN_IF_ERROR(tx.Execute(
        "INSERT INTO revoked_by_aef(api_invoker_id, aef_id, revoked_us) VALUES (?, ?, ?) "
        "ON CONFLICT(api_invoker_id, aef_id) DO UPDATE SET revoked_us = excluded.revoked_us",
        {api_invoker_id, aef_id, ToUnixMicrosOrZero(when)}));
    return EnqueueNoticesIn(tx, notices);
  });
}

absl::StatusOr<bool> SqlRemoteGrants::RevokedByAef(const std::string& api_invoker_id,
                                                   const std::string& aef_id) {
  ASSIGN_OR_RETURN(std::vector<SqlRow> rows,
                   db_->Query("SELECT 1 FROM revoked_by_aef WHERE api_invoker_id = ? AND "
                              "aef_id = ?",
                              {api_invoker_id, aef_id}));
  return !rows.empty();
}

}  // namespace capif
