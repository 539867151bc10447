// CAPIF event subscriptions (TS 29.222 CAPIF_Events_API) and the events they are told of.
//
// A subscription is kept as the EventSubscription the subscriber sent (returned to it as it is)
// plus the columns events are matched on: each subscribed event, with its filter, indexed by
// event name. When the CCF changes something an event reports, the store making the change calls
// EventLog::RecordIn in the same transaction: every matching subscription gets its
// EventNotification in the durable outbox (kNoticeCapifEvent), so a committed change always has
// its notifications and a rolled-back one never does. The outbox delivers them
// (ccf/notices/event_notifier.h).
//
//   SqlEventSubscriptions subs(db);
//   EventLog events(clock);
//   SqlServiceApis apis(db, &events);   // publishing now notifies subscribers
//
// Matching: a subscription matches an event it lists whose filter (eventFilters[i] for
// events[i]) accepts it; a filter accepts an event when each id list it has (apiIds,
// apiInvokerIds, aefIds) shares an id with the event's, lists the event type does not carry
// being ignored. A subscriber that is an API invoker only hears of itself in API_INVOKER_*
// events. Subscriptions past eventReq.monDur end (removed when next matched); eventReq
// maxReportNbr ends one after that many notifications.
//
// Errors: AlreadyExists, NotFound, Unavailable (busy), Internal. Thread-safe.
#ifndef CAPIF_CCF_STORE_EVENT_SUBSCRIPTIONS_H_
#define CAPIF_CCF_STORE_EVENT_SUBSCRIPTIONS_H_

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "ccf/store/stores.h"
#include "common/clock.h"
#include "common/sql_database.h"

namespace capif {

// Payload: {"url": notificationDestination, "notification": EventNotification} (JSON); the
// destination is the subscription id (per-subscription backoff).
inline constexpr char kNoticeCapifEvent[] = "capif-event";

// TS 29.222 CAPIFEvent values this CCF produces.
inline constexpr char kEventServiceApiAvailable[] = "SERVICE_API_AVAILABLE";
inline constexpr char kEventServiceApiUnavailable[] = "SERVICE_API_UNAVAILABLE";
inline constexpr char kEventServiceApiUpdate[] = "SERVICE_API_UPDATE";
inline constexpr char kEventInvokerOnboarded[] = "API_INVOKER_ONBOARDED";
inline constexpr char kEventInvokerOffboarded[] = "API_INVOKER_OFFBOARDED";
inline constexpr char kEventInvokerUpdated[] = "API_INVOKER_UPDATED";

// A CAPIFEventFilter; an empty list is one the filter does not have.
struct CapifEventFilter {
  std::vector<std::string> api_ids;
  std::vector<std::string> api_invoker_ids;
  std::vector<std::string> aef_ids;
};

enum class SubscriberKind { kInvoker, kAef, kApf, kAmf };

struct EventSubscriptionRecord {
  std::string subscription_id;
  std::string subscriber_id;
  SubscriberKind subscriber_kind = SubscriberKind::kInvoker;
  std::string body;  // the EventSubscription as accepted (JSON), returned as it is
  std::vector<std::string> events;
  std::vector<std::optional<CapifEventFilter>> filters;  // one per event (nullopt: none)
  std::string notification_destination;
  absl::Time expires = absl::InfiniteFuture();  // eventReq.monDur
  std::optional<int64_t> reports_left;          // eventReq.maxReportNbr, counting down
  absl::Time created;
};

class EventSubscriptionRepository {
 public:
  virtual ~EventSubscriptionRepository() = default;
  virtual absl::Status Insert(const EventSubscriptionRecord& record) = 0;
  // The subscription of `subscriber_id` (nullopt: absent, or another subscriber's).
  virtual absl::StatusOr<std::optional<EventSubscriptionRecord>> Get(
      const std::string& subscriber_id, const std::string& subscription_id) = 0;
  // Replaces the subscription (same id and subscriber; NotFound otherwise).
  virtual absl::Status Replace(const EventSubscriptionRecord& record) = 0;
  // Removes it and its notifications not delivered yet. NotFound if absent.
  virtual absl::Status Delete(const std::string& subscriber_id,
                              const std::string& subscription_id) = 0;
  virtual absl::StatusOr<std::vector<EventSubscriptionRecord>> OfSubscriber(
      const std::string& subscriber_id) = 0;
};

class SqlEventSubscriptions final : public EventSubscriptionRepository {
 public:
  explicit SqlEventSubscriptions(std::shared_ptr<SqlDatabase> db) : db_(std::move(db)) {}
  absl::Status Insert(const EventSubscriptionRecord& record) override;
  absl::StatusOr<std::optional<EventSubscriptionRecord>> Get(
      const std::string& subscriber_id, const std::string& subscription_id) override;
  absl::Status Replace(const EventSubscriptionRecord& record) override;
  absl::Status Delete(const std::string& subscriber_id,
                      const std::string& subscription_id) override;
  absl::StatusOr<std::vector<EventSubscriptionRecord>> OfSubscriber(
      const std::string& subscriber_id) override;

 private:
  std::shared_ptr<SqlDatabase> db_;
};

// Something that happened, as subscriptions are matched against it.
struct CapifEventOccurrence {
  std::string event;  // a CAPIFEvent value
  // What it is about (for filters); each also given in the detail where the spec has it.
  std::vector<std::string> api_ids;
  std::vector<std::string> api_invoker_ids;
  std::vector<std::string> aef_ids;
  // The CAPIFEventDetail (null: none). For an invoker subscriber of an API_INVOKER_* event,
  // apiInvokerIds is narrowed to the subscriber.
  nlohmann::json detail;
};

// The standard details: {"apiIds": [...]} and {"apiInvokerIds": [...]}.
CapifEventOccurrence ServiceApiEvent(const std::string& event, const std::string& api_id,
                                     std::vector<std::string> aef_ids);
CapifEventOccurrence InvokerEvent(const std::string& event, const std::string& api_invoker_id);

class EventLog {
 public:
  explicit EventLog(const Clock& clock) : clock_(clock) {}
  // Inside a transaction on the CCF database: an outbox notice for each subscription that
  // matches `e`, with the EventNotification it is sent.
  absl::Status RecordIn(SqlDatabase::Tx& tx, const CapifEventOccurrence& e) const;

 private:
  const Clock& clock_;
};

// Inside a transaction: removes every subscription of `subscriber_id` (an offboarded invoker,
// a deregistered function). Their undelivered notifications are still delivered.
absl::Status DeleteSubscriptionsOfIn(SqlDatabase::Tx& tx, const std::string& subscriber_id);

const char* SubscriberKindName(SubscriberKind kind);

}  // namespace capif

#endif  // CAPIF_CCF_STORE_EVENT_SUBSCRIPTIONS_H_
