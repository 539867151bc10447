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

#include <functional>
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

// Payload: {"apiId", "apiName", "event" (SERVICE_API_*), "aefIds": [...]} (JSON); the destination
// is the peer's CCF id. Delivered as a capif.federation.v1.SharedApiChange.
inline constexpr char kNoticeSharedApiChange[] = "shared-api-change";

// TS 29.222 CAPIFEvent values this CCF produces.
inline constexpr char kEventServiceApiAvailable[] = "SERVICE_API_AVAILABLE";
inline constexpr char kEventServiceApiUnavailable[] = "SERVICE_API_UNAVAILABLE";
inline constexpr char kEventServiceApiUpdate[] = "SERVICE_API_UPDATE";
inline constexpr char kEventInvokerOnboarded[] = "API_INVOKER_ONBOARDED";
inline constexpr char kEventInvokerOffboarded[] = "API_INVOKER_OFFBOARDED";
inline constexpr char kEventInvokerUpdated[] = "API_INVOKER_UPDATED";
inline constexpr char kEventInvokerAuthorizationRevoked[] = "API_INVOKER_AUTHORIZATION_REVOKED";
inline constexpr char kEventAclUpdate[] = "ACCESS_CONTROL_POLICY_UPDATE";
inline constexpr char kEventAclUnavailable[] = "ACCESS_CONTROL_POLICY_UNAVAILABLE";

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
// ACCESS_CONTROL_POLICY_UPDATE: who may invoke `api_id` at `aef_id` changed for these invokers
// (detail: accCtrlPolList with the apiId, and apiInvokerIds; the AEF reads the new policy with
// the Access Control Policy API).
CapifEventOccurrence AclUpdateEvent(const std::string& api_id, const std::string& aef_id,
                                    std::vector<std::string> api_invoker_ids);

// What decides whether a published API is shared with a peer.
struct SharedApiFacts {
  std::string api_id;
  std::string api_name;
  bool shareable = false;
  std::vector<std::string> shareable_with;  // shareableInfo.capifProvDoms
  std::vector<std::string> aef_ids;
};
// The peers (CCF ids) an API is shared with (the agreements and shareableInfo).
using SharingPolicy = std::function<std::vector<std::string>(const SharedApiFacts&)>;

// An event to record with a write that takes outbox notices (e.g. SecurityContextRepository::
// Write): EnqueueNoticesIn turns it, in that transaction, into the notifications of the
// subscriptions it matches at `now` (it is never stored as such).
inline constexpr char kNoticeEventOccurrence[] = "capif-event-occurrence";
OutboundNotice EventOccurrenceNotice(const CapifEventOccurrence& e, absl::Time now);
// Inside a transaction: what EventLog::RecordIn does, at `now`.
absl::Status RecordEventAtIn(SqlDatabase::Tx& tx, const CapifEventOccurrence& e, absl::Time now);
// Whether `notices` has any that go to the outbox as such (not only event occurrences, whose
// notifications the dispatcher's next poll finds).
bool HasOutboxNotices(const std::vector<OutboundNotice>& notices);
// The occurrence an EventOccurrenceNotice carries (DataLoss if it does not parse).
absl::StatusOr<CapifEventOccurrence> OccurrenceOfNotice(const OutboundNotice& n);

class EventLog {
 public:
  // With `sharing`, changes of shared APIs are also announced to the peers that see them.
  explicit EventLog(const Clock& clock, SharingPolicy sharing = nullptr)
      : clock_(clock), sharing_(std::move(sharing)) {}
  // Inside a transaction on the CCF database: an outbox notice for each subscription that
  // matches `e`, with the EventNotification it is sent.
  absl::Status RecordIn(SqlDatabase::Tx& tx, const CapifEventOccurrence& e) const;
  // Inside a transaction: a service API of this CCF appeared (`before` null), changed, or went
  // (`after` null). SERVICE_API_AVAILABLE / _UPDATE / _UNAVAILABLE for this CCF's subscribers,
  // and a kNoticeSharedApiChange to each peer the API is shared with before or after: AVAILABLE
  // to those that see it only now, UNAVAILABLE to those that no longer do.
  absl::Status RecordServiceApiChangeIn(SqlDatabase::Tx& tx, const SharedApiFacts* before,
                                        const SharedApiFacts* after) const;

 private:
  const Clock& clock_;
  const SharingPolicy sharing_;
};

// A peer's SharedApiChange, received (the bus side): SERVICE_API_* for this CCF's subscribers,
// in one transaction with the record of `notice_id` from `peer_ccf_id`, so a repeated delivery
// tells nobody twice (received notice ids are kept 30 days).
absl::Status RecordPeerApiChange(SqlDatabase& db, const EventLog& log,
                                 const std::string& peer_ccf_id, const std::string& notice_id,
                                 const CapifEventOccurrence& e, absl::Time now);

// An outbox notice id that sorts after those made before it: <prefix>-<time>-<sequence>-<random>.
std::string NewOrderedNoticeId(absl::string_view prefix, absl::Time now);

// Inside a transaction: removes every subscription of `subscriber_id` (an offboarded invoker,
// a deregistered function). Their undelivered notifications are still delivered.
absl::Status DeleteSubscriptionsOfIn(SqlDatabase::Tx& tx, const std::string& subscriber_id);

const char* SubscriberKindName(SubscriberKind kind);

}  // namespace capif

#endif  // CAPIF_CCF_STORE_EVENT_SUBSCRIPTIONS_H_
