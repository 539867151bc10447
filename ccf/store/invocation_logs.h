// Service API invocation logs AEFs post to this CCF (TS 29.222 CAPIF_Logging_API_Invocation_API)
// and the AMF queries (CAPIF_Auditing_API), one row per log entry with the members the auditing
// filters use as columns, and the entry as the AEF sent it.
//
//   SqlInvocationLogs logs(db, &events);
//   RETURN_IF_ERROR(logs.Insert(record, now));   // + SERVICE_API_INVOCATION_* events
//   ASSIGN_OR_RETURN(auto found, logs.Find(query));
//
// Retention: entries received more than `retention` ago are removed at each Insert. Errors:
// Unavailable (busy), Internal. Thread-safe.
#ifndef CAPIF_CCF_STORE_INVOCATION_LOGS_H_
#define CAPIF_CCF_STORE_INVOCATION_LOGS_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "ccf/store/event_subscriptions.h"
#include "common/sql_database.h"

namespace capif {

inline constexpr char kEventInvocationSuccess[] = "SERVICE_API_INVOCATION_SUCCESS";
inline constexpr char kEventInvocationFailure[] = "SERVICE_API_INVOCATION_FAILURE";

// One TS 29.222 Log.
struct InvocationLogEntry {
  std::string api_id, api_name, api_version, resource_name, protocol;
  std::optional<std::string> operation;
  std::string result;
  std::optional<absl::Time> invocation_time;
  // Canonical JSON of srcInterface / destInterface (for the auditing filters), if given.
  std::optional<std::string> src_interface, dest_interface;
  std::string json;  // the Log as the AEF sent it
};

// One posted InvocationLog.
struct InvocationLogRecord {
  std::string log_id;
  std::string aef_id;
  std::string api_invoker_id;
  std::vector<InvocationLogEntry> entries;
};

// The CAPIF_Auditing_API filters; unset ones match anything.
struct InvocationLogQuery {
  std::vector<std::string> aef_ids;  // required: the AEFs the asker may see
  std::optional<std::string> api_invoker_id, api_id, api_name, api_version, protocol, operation,
      result, resource_name, src_interface, dest_interface;
  std::optional<absl::Time> from, to;  // on invocationTime (entries without one do not match)
  int limit = 1000;
};

// A log entry found, with whose it is.
struct FoundInvocationLog {
  std::string aef_id;
  std::string api_invoker_id;
  std::string entry_json;
};

class SqlInvocationLogs {
 public:
  // With `events`, each Insert is a SERVICE_API_INVOCATION_SUCCESS (results 2xx) and/or
  // _FAILURE (the others) event with its entries, in the same transaction.
  SqlInvocationLogs(std::shared_ptr<SqlDatabase> db, const EventLog* events,
                    absl::Duration retention = absl::Hours(24 * 30))
      : db_(std::move(db)), events_(events), retention_(retention) {}

  absl::Status Insert(const InvocationLogRecord& record, absl::Time now);
  // Matching entries in invocation order (then arrival), at most query.limit.
  absl::StatusOr<std::vector<FoundInvocationLog>> Find(const InvocationLogQuery& query);

 private:
  std::shared_ptr<SqlDatabase> db_;
  const EventLog* const events_;
  const absl::Duration retention_;
};

}  // namespace capif

#endif  // CAPIF_CCF_STORE_INVOCATION_LOGS_H_
