// TS 29.222 CAPIF_Events_API (clause 8.8), /capif-events/v1:
//
//   POST   /{subscriberId}/subscriptions                   subscribe (201, Location)
//   PUT    /{subscriberId}/subscriptions/{subscriptionId}  replace (200)
//   PATCH  /{subscriberId}/subscriptions/{subscriptionId}  EventSubscriptionPatch (200)
//   DELETE /{subscriberId}/subscriptions/{subscriptionId}  unsubscribe (204)
//
// The subscriber is the caller (mutual TLS): an onboarded API invoker, or a registered AEF, APF
// or AMF of this CCF, whose id is subscriberId. Notifications (EventNotification) are POSTed to
// notificationDestination over HTTPS through the durable outbox (ccf/notices/event_notifier.h);
// which events are told to whom: ccf/store/event_subscriptions.h.
//
// What is checked (400 with invalidParams unless said): events, 1-32 CAPIFEvent values this CCF
// reports (an API invoker may subscribe to SERVICE_API_* and to API_INVOKER_UPDATED /
// _OFFBOARDED / _AUTHORIZATION_REVOKED, about itself; 403 for the others); eventFilters, if any,
// one CAPIFEventFilter per event, in the same order, each with non-empty apiIds / apiInvokerIds /
// aefIds only; notificationDestination, an https URI of at most 2048 bytes; eventReq with only
// notifMethod ON_EVENT_DETECTION, immRep false, maxReportNbr >= 1 and monDur (a future date-time);
// requestTestNotification and websockNotifConfig only when they ask for nothing (neither is
// supported). supportedFeatures is answered "0" (no optional feature). At most
// `max_per_subscriber` subscriptions each (403 beyond).
//
// Errors: 400, 401 no client certificate, 403 another caller or not onboarded/registered, 404 no
// such subscription of that subscriber, 415 (PATCH not merge-patch+json). Thread-safe.
#ifndef CAPIF_CCF_API_EVENTS_API_H_
#define CAPIF_CCF_API_EVENTS_API_H_

#include <nlohmann/json.hpp>
#include <string>

#include "absl/status/statusor.h"
#include "ccf/store/event_subscriptions.h"
#include "ccf/store/provider_registry.h"
#include "ccf/store/stores.h"
#include "common/certificate_authority.h"
#include "common/clock.h"
#include "net/rest_router.h"
#include "net/rest_types.h"

namespace capif {

inline constexpr char kEventsRoot[] = "/capif-events/v1";

struct EventsApiConfig {
  EventSubscriptionRepository* subscriptions;
  InvokerStore* invokers;
  ProviderRegistry* providers;
  const CertificateAuthority* ca;
  const Clock* clock;
  std::string api_root;
  int max_per_subscriber = 100;
};

class EventsApi {
 public:
  explicit EventsApi(EventsApiConfig config) : config_(std::move(config)) {}
  void RegisterRoutes(RestRouter& server);
  absl::StatusOr<RestResponse> Subscribe(const RestRequest& req);
  absl::StatusOr<RestResponse> Replace(const RestRequest& req);
  absl::StatusOr<RestResponse> Patch(const RestRequest& req);
  absl::StatusOr<RestResponse> Unsubscribe(const RestRequest& req);

 private:
  // The caller, if it is subscriberId and may subscribe.
  absl::StatusOr<SubscriberKind> RequireSubscriber(const RestRequest& req);
  absl::StatusOr<RestResponse> Store(const std::string& subscriber, SubscriberKind kind,
                                     const std::string& id, nlohmann::json body);
  EventsApiConfig config_;
};

// Checks an EventSubscription body as described above, for a subscriber of `kind`, and gives
// the record to store (subscription and subscriber ids, created left to the caller); `body` is
// updated to what is answered (supportedFeatures).
absl::StatusOr<EventSubscriptionRecord> EventSubscriptionOf(nlohmann::json& body,
                                                            SubscriberKind kind, absl::Time now);

}  // namespace capif

#endif  // CAPIF_CCF_API_EVENTS_API_H_
