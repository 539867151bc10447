#include "ccf/store/invocation_logs.h"

#include <nlohmann/json.hpp>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "ccf/store/sql_stores.h"
#include "common/status_macros.h"

namespace capif {

using nlohmann::json;

namespace {

bool IsSuccess(const std::string& result) {
  int code = 0;
  return absl::SimpleAtoi(result, &code) && code >= 200 && code < 300;
}

// The SERVICE_API_INVOCATION_* event of `entries` (all of one class).
CapifEventOccurrence InvocationEvent(const char* event, const InvocationLogRecord& r,
                                     const std::vector<const InvocationLogEntry*>& entries) {
  CapifEventOccurrence e;
  e.event = event;
  e.api_invoker_ids = {r.api_invoker_id};
  e.aef_ids = {r.aef_id};
  json logs = json::array();
  std::set<std::string> apis;
  for (const InvocationLogEntry* entry : entries) {
    logs.push_back(json::parse(entry->json, nullptr, /*allow_exceptions=*/false));
    apis.insert(entry->api_id);
  }
  e.api_ids.assign(apis.begin(), apis.end());
  e.detail = {{"invocationLogs", json::array({{{"aefId", r.aef_id},
                                               {"apiInvokerId", r.api_invoker_id},
                                               {"logs", std::move(logs)}}})}};
  return e;
}

}  // namespace

absl::Status SqlInvocationLogs::Insert(const InvocationLogRecord& r, absl::Time now) {
  return db_->Transaction([&](SqlDatabase::Tx& tx) -> absl::Status {
    RETURN_IF_ERROR(tx.Execute("DELETE FROM invocation_logs WHERE received_at < ?",
                               {absl::ToUnixSeconds(now - retention_)}));
    for (size_t i = 0; i < r.entries.size(); ++i) {
      const InvocationLogEntry& e = r.entries[i];
      RETURN_IF_ERROR(tx.Execute(
          "INSERT INTO invocation_logs(log_id, position, aef_id, api_invoker_id, api_id, "
          "api_name, api_version, resource_name, protocol, operation, result, "
          "invocation_time_ms, src_interface, dest_interface, entry_json, received_at) "
          "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
          {r.log_id, static_cast<int64_t>(i), r.aef_id, r.api_invoker_id, e.api_id, e.api_name,
           e.api_version, e.resource_name, e.protocol, OptText(e.operation), e.result,
           e.invocation_time ? SqlValue(absl::ToUnixMillis(*e.invocation_time)) : SqlNull{},
           OptText(e.src_interface), OptText(e.dest_interface), e.json, absl::ToUnixSeconds(now)}));
    }
    if (events_ == nullptr) return absl::OkStatus();
    std::vector<const InvocationLogEntry*> ok, failed;
    for (const InvocationLogEntry& e : r.entries) (IsSuccess(e.result) ? ok : failed).push_back(&e);
    if (!ok.empty())
      RETURN_IF_ERROR(events_->RecordIn(tx, InvocationEvent(kEventInvocationSuccess, r, ok)));
    if (!failed.empty()) {
      RETURN_IF_ERROR(events_->RecordIn(tx, InvocationEvent(kEventInvocationFailure, r, failed)));
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<FoundInvocationLog>> SqlInvocationLogs::Find(
    const InvocationLogQuery& q) {
  std::vector<FoundInvocationLog> out;
  if (q.aef_ids.empty()) return out;
  std::vector<std::string> where;
  std::vector<SqlValue> args;
  std::vector<std::string> marks(q.aef_ids.size(), "?");
  where.push_back(absl::StrCat("aef_id IN (", absl::StrJoin(marks, ", "), ")"));
  for (const std::string& a : q.aef_ids) args.push_back(a);
  auto equal = [&](const char* column, const std::optional<std::string>& v) {
    if (!v) return;
    where.push_back(absl::StrCat(column, " = ?"));
    args.push_back(*v);
  };
  equal("api_invoker_id", q.api_invoker_id);
  equal("api_id", q.api_id);
  equal("api_name", q.api_name);
  equal("api_version", q.api_version);
  equal("protocol", q.protocol);
  equal("operation", q.operation);
  equal("result", q.result);
  equal("resource_name", q.resource_name);
  equal("src_interface", q.src_interface);
  equal("dest_interface", q.dest_interface);
  if (q.from) {
    where.push_back("invocation_time_ms >= ?");
    args.push_back(absl::ToUnixMillis(*q.from));
  }
  if (q.to) {
    where.push_back("invocation_time_ms <= ?");
    args.push_back(absl::ToUnixMillis(*q.to));
  }
  args.push_back(static_cast<int64_t>(q.limit));
  ASSIGN_OR_RETURN(
      std::vector<SqlRow> rows,
      db_->Query(
          absl::StrCat(
              "SELECT aef_id, api_invoker_id, entry_json FROM invocation_logs "
              "WHERE ",
              absl::StrJoin(where, " AND "),
              " ORDER BY COALESCE(invocation_time_ms, received_at * 1000), received_at, log_id, "
              "position "
              "LIMIT ?"),
          args));
  for (const SqlRow& row : rows) {
    out.push_back({SqlText(row[0]), SqlText(row[1]), SqlText(row[2])});
  }
  return out;
}

}  // namespace capif
