#include "ccf/store/event_subscriptions.h"

#include <algorithm>
#include <atomic>
#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "ccf/store/sql_stores.h"
#include "common/secret_bytes.h"
#include "common/status_macros.h"

namespace capif {

using nlohmann::json;

namespace {

std::optional<SubscriberKind> KindOf(const std::string& name) {
  for (SubscriberKind k : {SubscriberKind::kInvoker, SubscriberKind::kAef, SubscriberKind::kApf,
                           SubscriberKind::kAmf}) {
    if (name == SubscriberKindName(k)) return k;
  }
  return std::nullopt;
}

std::string FilterJson(const CapifEventFilter& f) {
  json j = json::object();
  if (!f.api_ids.empty()) j["apiIds"] = f.api_ids;
  if (!f.api_invoker_ids.empty()) j["apiInvokerIds"] = f.api_invoker_ids;
  if (!f.aef_ids.empty()) j["aefIds"] = f.aef_ids;
  return j.dump();
}

// Written by FilterJson: never fails on what this file stored.
CapifEventFilter FilterFromJson(const std::string& text) {
  CapifEventFilter f;
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return f;
  auto list = [&](const char* key, std::vector<std::string>* out) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_array()) return;
    for (const json& v : *it) {
      if (v.is_string()) out->push_back(v.get<std::string>());
    }
  };
  list("apiIds", &f.api_ids);
  list("apiInvokerIds", &f.api_invoker_ids);
  list("aefIds", &f.aef_ids);
  return f;
}

bool Shares(const std::vector<std::string>& wanted, const std::vector<std::string>& have) {
  return std::any_of(wanted.begin(), wanted.end(), [&](const std::string& w) {
    return std::find(have.begin(), have.end(), w) != have.end();
  });
}

// Lists the event type carries: those of `e` that are not empty, or that its type always has.
bool Accepts(const CapifEventFilter& f, const CapifEventOccurrence& e) {
  auto check = [&](const std::vector<std::string>& wanted, const std::vector<std::string>& have) {
    return wanted.empty() || have.empty() || Shares(wanted, have);
  };
  return check(f.api_ids, e.api_ids) && check(f.api_invoker_ids, e.api_invoker_ids) &&
         check(f.aef_ids, e.aef_ids);
}

bool IsInvokerEvent(const std::string& event) { return event.rfind("API_INVOKER_", 0) == 0; }

absl::Status WriteIn(SqlDatabase::Tx& tx, const EventSubscriptionRecord& r) {
  RETURN_IF_ERROR(tx.Execute(
      "INSERT INTO event_subscriptions(subscription_id, subscriber_id, subscriber_kind, body, "
      "notification_destination, expires_at_ms, reports_left, created_at) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
      {r.subscription_id, r.subscriber_id, SubscriberKindName(r.subscriber_kind), r.body,
       r.notification_destination,
       r.expires == absl::InfiniteFuture() ? int64_t{0} : absl::ToUnixMillis(r.expires),
       r.reports_left ? *r.reports_left : int64_t{-1}, absl::ToUnixSeconds(r.created)}));
  for (size_t i = 0; i < r.events.size(); ++i) {
    SqlValue filter = SqlNull{};
    if (i < r.filters.size() && r.filters[i]) filter = FilterJson(*r.filters[i]);
    RETURN_IF_ERROR(tx.Execute(
        "INSERT INTO event_subscription_events(subscription_id, position, event, filter_json) "
        "VALUES (?, ?, ?, ?)",
        {r.subscription_id, static_cast<int64_t>(i), r.events[i], filter}));
  }
  return absl::OkStatus();
}

absl::Status RemoveIn(SqlDatabase::Tx& tx, const std::string& subscription_id) {
  RETURN_IF_ERROR(tx.Execute("DELETE FROM event_subscription_events WHERE subscription_id = ?",
                             {subscription_id}));
  return tx.Execute("DELETE FROM event_subscriptions WHERE subscription_id = ?", {subscription_id});
}

absl::StatusOr<std::vector<EventSubscriptionRecord>> ReadIn(SqlDatabase::Tx& tx,
                                                            const std::string& where,
                                                            const std::vector<SqlValue>& args) {
  ASSIGN_OR_RETURN(
      std::vector<SqlRow> rows,
      tx.Query(absl::StrCat("SELECT subscription_id, subscriber_id, subscriber_kind, body, "
                            "notification_destination, expires_at_ms, reports_left, created_at "
                            "FROM event_subscriptions WHERE ",
                            where, " ORDER BY subscription_id"),
               args));
  std::vector<EventSubscriptionRecord> out;
  for (const SqlRow& row : rows) {
    EventSubscriptionRecord r;
    r.subscription_id = SqlText(row[0]);
    r.subscriber_id = SqlText(row[1]);
    std::optional<SubscriberKind> kind = KindOf(SqlText(row[2]));
    if (!kind) return absl::InternalError("a stored subscription has an unknown subscriber kind");
    r.subscriber_kind = *kind;
    r.body = SqlText(row[3]);
    r.notification_destination = SqlText(row[4]);
    int64_t expires = SqlInt(row[5]);
    if (expires != 0) r.expires = absl::FromUnixMillis(expires);
    int64_t left = SqlInt(row[6]);
    if (left >= 0) r.reports_left = left;
    r.created = absl::FromUnixSeconds(SqlInt(row[7]));
    ASSIGN_OR_RETURN(std::vector<SqlRow> events,
                     tx.Query("SELECT event, filter_json FROM event_subscription_events WHERE "
                              "subscription_id = ? ORDER BY position",
                              {r.subscription_id}));
    for (const SqlRow& e : events) {
      r.events.push_back(SqlText(e[0]));
      std::optional<std::string> filter = TextOrNull(e[1]);
      r.filters.push_back(filter ? std::optional<CapifEventFilter>(FilterFromJson(*filter))
                                 : std::nullopt);
    }
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace

const char* SubscriberKindName(SubscriberKind kind) {
  switch (kind) {
    case SubscriberKind::kInvoker:
      return "invoker";
    case SubscriberKind::kAef:
      return "aef";
    case SubscriberKind::kApf:
      return "apf";
    case SubscriberKind::kAmf:
      return "amf";
  }
  return "invoker";
}

absl::Status SqlEventSubscriptions::Insert(const EventSubscriptionRecord& record) {
  return db_->Transaction([&](SqlDatabase::Tx& tx) -> absl::Status {
    ASSIGN_OR_RETURN(std::vector<SqlRow> existing,
                     tx.Query("SELECT 1 FROM event_subscriptions WHERE subscription_id = ?",
                              {record.subscription_id}));
    if (!existing.empty()) return absl::AlreadyExistsError("the subscription id exists");
    return WriteIn(tx, record);
  });
}

absl::StatusOr<std::optional<EventSubscriptionRecord>> SqlEventSubscriptions::Get(
    const std::string& subscriber_id, const std::string& subscription_id) {
  std::vector<EventSubscriptionRecord> found;
  RETURN_IF_ERROR(db_->ReadTransaction([&](SqlDatabase::Tx& tx) -> absl::Status {
    ASSIGN_OR_RETURN(found, ReadIn(tx, "subscription_id = ? AND subscriber_id = ?",
                                   {subscription_id, subscriber_id}));
    return absl::OkStatus();
  }));
  if (found.empty()) return std::optional<EventSubscriptionRecord>();
  return std::optional<EventSubscriptionRecord>(std::move(found[0]));
}

absl::Status SqlEventSubscriptions::Replace(const EventSubscriptionRecord& record) {
  return db_->Transaction([&](SqlDatabase::Tx& tx) -> absl::Status {
    ASSIGN_OR_RETURN(std::vector<SqlRow> existing,
                     tx.Query("SELECT 1 FROM event_subscriptions WHERE subscription_id = ? AND "
                              "subscriber_id = ?",
                              {record.subscription_id, record.subscriber_id}));
    if (existing.empty()) return absl::NotFoundError("no such subscription");
    RETURN_IF_ERROR(RemoveIn(tx, record.subscription_id));
    return WriteIn(tx, record);
  });
}

absl::Status SqlEventSubscriptions::Delete(const std::string& subscriber_id,
                                           const std::string& subscription_id) {
  return db_->Transaction([&](SqlDatabase::Tx& tx) -> absl::Status {
    ASSIGN_OR_RETURN(std::vector<SqlRow> existing,
                     tx.Query("SELECT 1 FROM event_subscriptions WHERE subscription_id = ? AND "
                              "subscriber_id = ?",
                              {subscription_id, subscriber_id}));
    if (existing.empty()) return absl::NotFoundError("no such subscription");
    RETURN_IF_ERROR(tx.Execute("DELETE FROM outbox WHERE destination = ? AND kind = ?",
                               {subscription_id, kNoticeCapifEvent}));
    return RemoveIn(tx, subscription_id);
  });
}

absl::StatusOr<std::vector<EventSubscriptionRecord>> SqlEventSubscriptions::OfSubscriber(
    const std::string& subscriber_id) {
  std::vector<EventSubscriptionRecord> out;
  RETURN_IF_ERROR(db_->ReadTransaction([&](SqlDatabase::Tx& tx) -> absl::Status {
    ASSIGN_OR_RETURN(out, ReadIn(tx, "subscriber_id = ?", {subscriber_id}));
    return absl::OkStatus();
  }));
  return out;
}

absl::Status DeleteSubscriptionsOfIn(SqlDatabase::Tx& tx, const std::string& subscriber_id) {
  ASSIGN_OR_RETURN(
      std::vector<SqlRow> rows,
      tx.Query("SELECT subscription_id FROM event_subscriptions WHERE subscriber_id = ?",
               {subscriber_id}));
  for (const SqlRow& row : rows) RETURN_IF_ERROR(RemoveIn(tx, SqlText(row[0])));
  return absl::OkStatus();
}

CapifEventOccurrence ServiceApiEvent(const std::string& event, const std::string& api_id,
                                     std::vector<std::string> aef_ids) {
  CapifEventOccurrence e;
  e.event = event;
  e.api_ids = {api_id};
  e.aef_ids = std::move(aef_ids);
  e.detail = {{"apiIds", json::array({api_id})}};
  return e;
}

CapifEventOccurrence AclUpdateEvent(const std::string& api_id, const std::string& aef_id,
                                    std::vector<std::string> api_invoker_ids) {
  CapifEventOccurrence e;
  e.event = kEventAclUpdate;
  e.api_ids = {api_id};
  e.aef_ids = {aef_id};
  e.api_invoker_ids = std::move(api_invoker_ids);
  e.detail = {{"accCtrlPolList", {{"apiId", api_id}}}, {"apiInvokerIds", e.api_invoker_ids}};
  return e;
}

CapifEventOccurrence InvokerEvent(const std::string& event, const std::string& api_invoker_id) {
  CapifEventOccurrence e;
  e.event = event;
  e.api_invoker_ids = {api_invoker_id};
  e.detail = {{"apiInvokerIds", json::array({api_invoker_id})}};
  return e;
}

std::string NewOrderedNoticeId(absl::string_view prefix, absl::Time now) {
  // Ids sort as the events happened (capifctl notices lists them in id order within a second):
  // the time, then this process's count for events of the same microsecond.
  static std::atomic<uint64_t> sequence{0};
  return absl::StrCat(
      prefix, "-", absl::Hex(absl::ToUnixMicros(now), absl::kZeroPad16), "-",
      absl::Hex(sequence.fetch_add(1) & 0xffffffff, absl::kZeroPad8), "-",
      absl::BytesToHexString(SecretBytes::Random(8).Reveal(InsecureSecretAccess())));
}

absl::Status EventLog::RecordServiceApiChangeIn(SqlDatabase::Tx& tx, const SharedApiFacts* before,
                                                const SharedApiFacts* after) const {
  const SharedApiFacts* api = after != nullptr ? after : before;
  if (api == nullptr) return absl::OkStatus();
  const char* local = before == nullptr  ? kEventServiceApiAvailable
                      : after == nullptr ? kEventServiceApiUnavailable
                                         : kEventServiceApiUpdate;
  RETURN_IF_ERROR(RecordIn(tx, ServiceApiEvent(local, api->api_id, api->aef_ids)));
  if (after == nullptr) {  // its access control policy goes with it
    RETURN_IF_ERROR(RecordIn(tx, ServiceApiEvent(kEventAclUnavailable, api->api_id, api->aef_ids)));
  }
  if (!sharing_) return absl::OkStatus();
  std::set<std::string> was, is;
  if (before != nullptr) {
    for (std::string& p : sharing_(*before)) was.insert(std::move(p));
  }
  if (after != nullptr) {
    for (std::string& p : sharing_(*after)) is.insert(std::move(p));
  }
  std::set<std::string> peers = was;
  peers.insert(is.begin(), is.end());
  const absl::Time now = clock_.Now();
  std::vector<OutboundNotice> notices;
  for (const std::string& peer : peers) {
    const char* event = !is.count(peer)    ? kEventServiceApiUnavailable
                        : !was.count(peer) ? kEventServiceApiAvailable
                                           : kEventServiceApiUpdate;
    OutboundNotice n;
    n.notice_id = NewOrderedNoticeId("shared", now);
    n.destination = peer;
    n.kind = kNoticeSharedApiChange;
    n.payload = json{{"apiId", api->api_id},
                     {"apiName", api->api_name},
                     {"event", event},
                     {"aefIds", api->aef_ids}}
                    .dump(-1, ' ', false, json::error_handler_t::replace);
    n.created = now;
    notices.push_back(std::move(n));
  }
  return EnqueueNoticesIn(tx, notices);
}

absl::Status RecordPeerApiChange(SqlDatabase& db, const EventLog& log,
                                 const std::string& peer_ccf_id, const std::string& notice_id,
                                 const CapifEventOccurrence& e, absl::Time now) {
  return db.Transaction([&](SqlDatabase::Tx& tx) -> absl::Status {
    RETURN_IF_ERROR(tx.Execute("DELETE FROM received_peer_notices WHERE received_at < ?",
                               {absl::ToUnixSeconds(now - absl::Hours(24 * 30))}));
    RETURN_IF_ERROR(tx.Execute(
        "INSERT INTO received_peer_notices(peer_ccf_id, notice_id, received_at) VALUES (?, ?, ?) "
        "ON CONFLICT DO NOTHING",
        {peer_ccf_id, notice_id, absl::ToUnixSeconds(now)}));
    if (tx.changes() == 0) return absl::OkStatus();  // told already
    return log.RecordIn(tx, e);
  });
}

OutboundNotice EventOccurrenceNotice(const CapifEventOccurrence& e, absl::Time now) {
  OutboundNotice n;
  n.notice_id = NewOrderedNoticeId("occurrence", now);
  n.kind = kNoticeEventOccurrence;
  n.payload = json{
      {"event", e.event},
      {"apiIds", e.api_ids},
      {"apiInvokerIds", e.api_invoker_ids},
      {"aefIds", e.aef_ids},
      {"detail",
       e.detail}}.dump(-1, ' ', false, json::error_handler_t::replace);
  n.created = now;
  return n;
}

bool HasOutboxNotices(const std::vector<OutboundNotice>& notices) {
  return std::any_of(notices.begin(), notices.end(),
                     [](const OutboundNotice& n) { return n.kind != kNoticeEventOccurrence; });
}

absl::StatusOr<CapifEventOccurrence> OccurrenceOfNotice(const OutboundNotice& n) {
  json j = json::parse(n.payload, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.value("event", json()).is_string()) {
    return absl::DataLossError("an event occurrence does not parse");
  }
  CapifEventOccurrence e;
  e.event = j["event"];
  auto list = [&](const char* key, std::vector<std::string>* out) {
    for (const json& v : j.value(key, json::array())) {
      if (v.is_string()) out->push_back(v.get<std::string>());
    }
  };
  list("apiIds", &e.api_ids);
  list("apiInvokerIds", &e.api_invoker_ids);
  list("aefIds", &e.aef_ids);
  e.detail = j.value("detail", json());
  return e;
}

absl::Status EventLog::RecordIn(SqlDatabase::Tx& tx, const CapifEventOccurrence& e) const {
  return RecordEventAtIn(tx, e, clock_.Now());
}

absl::Status RecordEventAtIn(SqlDatabase::Tx& tx, const CapifEventOccurrence& e, absl::Time now) {
  ASSIGN_OR_RETURN(
      std::vector<SqlRow> rows,
      tx.Query("SELECT s.subscription_id, s.subscriber_id, s.subscriber_kind, "
               "s.notification_destination, s.expires_at_ms, s.reports_left, e.filter_json "
               "FROM event_subscription_events e JOIN event_subscriptions s "
               "ON s.subscription_id = e.subscription_id WHERE e.event = ? "
               "ORDER BY s.subscription_id, e.position",
               {e.event}));
  std::set<std::string> done;  // an event listed twice is told once
  std::vector<OutboundNotice> notices;
  for (const SqlRow& row : rows) {
    const std::string id = SqlText(row[0]);
    if (done.count(id) != 0) continue;
    const std::string subscriber = SqlText(row[1]);
    const bool invoker = SqlText(row[2]) == SubscriberKindName(SubscriberKind::kInvoker);
    int64_t expires_ms = SqlInt(row[4]);
    if (expires_ms != 0 && absl::FromUnixMillis(expires_ms) <= now) {
      done.insert(id);
      RETURN_IF_ERROR(RemoveIn(tx, id));  // monDur is over
      continue;
    }
    std::optional<std::string> filter = TextOrNull(row[6]);
    if (filter && !Accepts(FilterFromJson(*filter), e)) continue;
    json detail = e.detail;
    if (invoker && IsInvokerEvent(e.event)) {
      // An invoker hears of itself only.
      if (std::find(e.api_invoker_ids.begin(), e.api_invoker_ids.end(), subscriber) ==
          e.api_invoker_ids.end()) {
        continue;
      }
      if (detail.is_object() && detail.contains("apiInvokerIds")) {
        detail["apiInvokerIds"] = json::array({subscriber});
      }
    }
    done.insert(id);
    json notification = {{"subscriptionId", id}, {"events", e.event}};
    if (!detail.is_null()) notification["eventDetail"] = std::move(detail);
    OutboundNotice n;
    n.notice_id = NewOrderedNoticeId("event", now);
    n.destination = id;
    n.kind = kNoticeCapifEvent;
    n.payload = json{{"url", SqlText(row[3])}, {"notification", std::move(notification)}}.dump(
        -1, ' ', false, json::error_handler_t::replace);
    n.created = now;
    if (!e.api_invoker_ids.empty()) n.api_invoker_id = e.api_invoker_ids[0];
    notices.push_back(std::move(n));
    int64_t left = SqlInt(row[5]);
    if (left == 1) {
      RETURN_IF_ERROR(RemoveIn(tx, id));  // that was the last report maxReportNbr allows
    } else if (left > 1) {
      RETURN_IF_ERROR(
          tx.Execute("UPDATE event_subscriptions SET reports_left = reports_left - 1 WHERE "
                     "subscription_id = ?",
                     {id}));
    }
  }
  return EnqueueNoticesIn(tx, notices);
}

}  // namespace capif
