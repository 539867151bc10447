#include "ccf/api/events_api.h"

#include <algorithm>
#include <array>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "ccf/api/certification.h"
#include "ccf/api/provider_management_api.h"
#include "ccf/store/invocation_logs.h"
#include "common/log.h"
#include "common/status_macros.h"

namespace capif {

using nlohmann::json;

namespace {

constexpr size_t kMaxEvents = 32;
constexpr size_t kMaxFilterIds = 1000;
constexpr size_t kMaxUriBytes = 2048;

// The events this CCF reports, and whether an API invoker may subscribe to each.
struct ReportedEvent {
  const char* name;
  bool for_invokers;
};
constexpr std::array<ReportedEvent, 11> kReported = {{
    {kEventServiceApiAvailable, true},
    {kEventServiceApiUnavailable, true},
    {kEventServiceApiUpdate, true},
    {kEventInvokerOnboarded, false},
    {kEventInvokerOffboarded, true},
    {kEventInvokerUpdated, true},
    {kEventInvokerAuthorizationRevoked, true},
    {kEventInvocationSuccess, false},
    {kEventInvocationFailure, false},
    {kEventAclUpdate, false},
    {kEventAclUnavailable, false},
}};

// An https URI: bounded, with a host, without spaces or control characters.
bool IsHttpsUri(const std::string& uri) {
  if (uri.size() > kMaxUriBytes || !absl::StartsWith(uri, "https://")) return false;
  if (uri.size() == 8 || uri[8] == '/' || uri[8] == ':' || uri[8] == '?' || uri[8] == '#') {
    return false;
  }
  return std::none_of(uri.begin(), uri.end(),
                      [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; });
}

absl::StatusOr<std::vector<std::string>> IdList(const json& filter, const char* key,
                                                const std::string& at) {
  std::vector<std::string> out;
  auto it = filter.find(key);
  if (it == filter.end()) return out;
  const std::string where = absl::StrCat(at, ".", key);
  if (!it->is_array() || it->empty()) return InvalidParamError(where, "must be a non-empty array");
  if (it->size() > kMaxFilterIds) {
    return InvalidParamError(where, absl::StrCat("must have at most ", kMaxFilterIds, " ids"));
  }
  for (size_t i = 0; i < it->size(); ++i) {
    const json& v = (*it)[i];
    if (!v.is_string() || v.get_ref<const std::string&>().empty()) {
      return InvalidParamError(absl::StrCat(where, "[", i, "]"), "must be a non-empty string");
    }
    out.push_back(v.get<std::string>());
  }
  return out;
}

absl::StatusOr<CapifEventFilter> FilterOf(const json& filter, const std::string& at) {
  if (!filter.is_object()) return InvalidParamError(at, "must be an object");
  for (const auto& [key, value] : filter.items()) {
    if (key != "apiIds" && key != "apiInvokerIds" && key != "aefIds") {
      return InvalidParamError(absl::StrCat(at, ".", key), "is not a CAPIFEventFilter attribute");
    }
  }
  CapifEventFilter f;
  ASSIGN_OR_RETURN(f.api_ids, IdList(filter, "apiIds", at));
  ASSIGN_OR_RETURN(f.api_invoker_ids, IdList(filter, "apiInvokerIds", at));
  ASSIGN_OR_RETURN(f.aef_ids, IdList(filter, "aefIds", at));
  return f;
}

// eventReq (TS 29.523 ReportingInformation): only what this CCF honours.
absl::Status ApplyEventReq(const json& req, EventSubscriptionRecord* r, absl::Time now) {
  if (!req.is_object()) return InvalidParamError("eventReq", "must be an object");
  for (const auto& [key, value] : req.items()) {
    const std::string at = "eventReq." + key;
    if (key == "immRep") {
      if (!value.is_boolean()) return InvalidParamError(at, "must be a boolean");
      if (value.get<bool>()) return InvalidParamError(at, "immediate reporting is not supported");
    } else if (key == "notifMethod") {
      if (!value.is_string()) return InvalidParamError(at, "must be a string");
      if (value != "ON_EVENT_DETECTION") {
        return InvalidParamError(at, "only ON_EVENT_DETECTION is supported");
      }
    } else if (key == "maxReportNbr") {
      if (!value.is_number_unsigned() || value.get<uint64_t>() < 1) {
        return InvalidParamError(at, "must be an integer of at least 1");
      }
      r->reports_left = static_cast<int64_t>(std::min<uint64_t>(value.get<uint64_t>(), 1u << 30));
    } else if (key == "monDur") {
      absl::Time until;
      std::string err;
      if (!value.is_string() ||
          !absl::ParseTime(absl::RFC3339_full, value.get<std::string>(), &until, &err)) {
        return InvalidParamError(at, "must be an RFC 3339 date-time");
      }
      if (until <= now) return InvalidParamError(at, "must be in the future");
      r->expires = until;
    } else {
      return InvalidParamError(at, "is not supported by this CCF");
    }
  }
  return absl::OkStatus();
}

absl::Status NotFound() {
  return RestError(404, "no such subscription of this subscriber", "RESOURCE_NOT_FOUND");
}

}  // namespace

absl::StatusOr<EventSubscriptionRecord> EventSubscriptionOf(json& body, SubscriberKind kind,
                                                            absl::Time now) {
  EventSubscriptionRecord r;
  r.subscriber_kind = kind;
  ASSIGN_OR_RETURN(const json* events, RequiredMember(body, "events", "", JsonType::kArray, true));
  if (events->size() > kMaxEvents) {
    return InvalidParamError("events", absl::StrCat("must have at most ", kMaxEvents, " events"));
  }
  for (size_t i = 0; i < events->size(); ++i) {
    const json& e = (*events)[i];
    const std::string at = absl::StrCat("events[", i, "]");
    if (!e.is_string()) return InvalidParamError(at, "must be a string");
    auto known = std::find_if(kReported.begin(), kReported.end(),
                              [&](const ReportedEvent& k) { return e == k.name; });
    if (known == kReported.end()) {
      return InvalidParamError(at, "is not an event this CCF reports");
    }
    if (kind == SubscriberKind::kInvoker && !known->for_invokers) {
      return RestError(403, absl::StrCat("an API invoker may not subscribe to ", known->name),
                       "OPERATION_NOT_ALLOWED", {{at, "not for API invokers"}});
    }
    r.events.push_back(known->name);
  }
  r.filters.assign(r.events.size(), std::nullopt);
  if (auto f = body.find("eventFilters"); f != body.end()) {
    if (!f->is_array() || f->empty()) {
      return InvalidParamError("eventFilters", "must be a non-empty array");
    }
    if (f->size() != r.events.size()) {
      return InvalidParamError("eventFilters", "must have one filter per event, in its order");
    }
    for (size_t i = 0; i < f->size(); ++i) {
      ASSIGN_OR_RETURN(CapifEventFilter filter,
                       FilterOf((*f)[i], absl::StrCat("eventFilters[", i, "]")));
      r.filters[i] = std::move(filter);
    }
  }
  ASSIGN_OR_RETURN(const json* dest,
                   RequiredMember(body, "notificationDestination", "", JsonType::kString, true));
  if (!IsHttpsUri(dest->get<std::string>())) {
    return InvalidParamError("notificationDestination",
                             "must be an https URI of at most 2048 bytes");
  }
  r.notification_destination = dest->get<std::string>();
  if (auto q = body.find("eventReq"); q != body.end()) RETURN_IF_ERROR(ApplyEventReq(*q, &r, now));
  std::optional<bool> test;
  RETURN_IF_ERROR(OptionalMember(body, "requestTestNotification", "", &test));
  if (test.value_or(false)) {
    return InvalidParamError("requestTestNotification", "test notifications are not supported");
  }
  if (auto w = body.find("websockNotifConfig"); w != body.end()) {
    if (!w->is_object()) return InvalidParamError("websockNotifConfig", "must be an object");
    std::optional<bool> ask;
    RETURN_IF_ERROR(OptionalMember(*w, "requestWebsocketUri", "websockNotifConfig.", &ask));
    if (ask.value_or(false) || w->contains("websocketUri")) {
      return InvalidParamError("websockNotifConfig", "WebSocket delivery is not supported");
    }
  }
  std::optional<std::string> features;
  RETURN_IF_ERROR(OptionalMember(body, "supportedFeatures", "", &features));
  if (features) body["supportedFeatures"] = "0";  // none of the optional features
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

void EventsApi::RegisterRoutes(RestRouter& server) {
  const std::string base = std::string(kEventsRoot) + "/([^/]+)/subscriptions";
  server.Route("POST", base, [this](const RestRequest& r) { return Subscribe(r); });
  server.Route("PUT", base + "/([^/]+)", [this](const RestRequest& r) { return Replace(r); });
  server.Route("PATCH", base + "/([^/]+)", [this](const RestRequest& r) { return Patch(r); });
  server.Route("DELETE", base + "/([^/]+)",
               [this](const RestRequest& r) { return Unsubscribe(r); });
}

absl::StatusOr<SubscriberKind> EventsApi::RequireSubscriber(const RestRequest& req) {
  const std::string subscriber = req.path_params.empty() ? "" : req.path_params[0];
  if (!req.caller) return RestError(401, "a client certificate of the subscriber is required");
  if (req.caller->trust_domain() != config_.ca->trust_domain() || req.caller->id() != subscriber ||
      req.caller->kind() == SpiffeId::Kind::kCcf) {
    LogWarning("security", absl::StrCat(req.caller->ToString(), " tried to subscribe as ",
                                        absl::CEscape(subscriber.substr(0, 64))));
    return RestError(403, "only the subscriber named in the path may use it",
                     "OPERATION_NOT_ALLOWED");
  }
  switch (req.caller->kind()) {
    case SpiffeId::Kind::kInvoker: {
      ASSIGN_OR_RETURN(std::optional<InvokerRecord> inv,
                       config_.invokers->Get(ApiInvokerId(subscriber)));
      if (!inv) return RestError(403, "the API invoker is not onboarded", "OPERATION_NOT_ALLOWED");
      return SubscriberKind::kInvoker;
    }
    case SpiffeId::Kind::kAef:
    case SpiffeId::Kind::kApf:
    case SpiffeId::Kind::kAmf: {
      SpiffeId::Kind k = req.caller->kind();
      ProviderRole role = k == SpiffeId::Kind::kAef   ? ProviderRole::kAef
                          : k == SpiffeId::Kind::kApf ? ProviderRole::kApf
                                                      : ProviderRole::kAmf;
      if (!FindProviderFunction(*config_.providers, subscriber, role).ok()) {
        return RestError(403, "the API provider function is not registered",
                         "OPERATION_NOT_ALLOWED");
      }
      return k == SpiffeId::Kind::kAef   ? SubscriberKind::kAef
             : k == SpiffeId::Kind::kApf ? SubscriberKind::kApf
                                         : SubscriberKind::kAmf;
    }
    default:
      return RestError(403, "not a subscriber", "OPERATION_NOT_ALLOWED");
  }
}

absl::StatusOr<RestResponse> EventsApi::Subscribe(const RestRequest& req) {
  ASSIGN_OR_RETURN(SubscriberKind kind, RequireSubscriber(req));
  const std::string& subscriber = req.path_params[0];
  ASSIGN_OR_RETURN(json body, ParseJsonBody(req));
  absl::Time now = config_.clock->Now();
  ASSIGN_OR_RETURN(EventSubscriptionRecord r, EventSubscriptionOf(body, kind, now));
  ASSIGN_OR_RETURN(std::vector<EventSubscriptionRecord> existing,
                   config_.subscriptions->OfSubscriber(subscriber));
  if (existing.size() >= static_cast<size_t>(config_.max_per_subscriber)) {
    return RestError(
        403,
        absl::StrCat("at most ", config_.max_per_subscriber, " event subscriptions per subscriber"),
        "OPERATION_NOT_ALLOWED");
  }
  r.subscription_id = NewResourceId("sub");
  r.subscriber_id = subscriber;
  r.created = now;
  RETURN_IF_ERROR(config_.subscriptions->Insert(r));
  LogInfo("events", absl::StrCat(subscriber, " subscribed ", r.subscription_id));
  RestResponse res = RestResponse::Json(201, body);
  res.headers.emplace_back("Location", absl::StrCat(config_.api_root, kEventsRoot, "/", subscriber,
                                                    "/subscriptions/", r.subscription_id));
  return res;
}

absl::StatusOr<RestResponse> EventsApi::Store(const std::string& subscriber, SubscriberKind kind,
                                              const std::string& id, json body) {
  ASSIGN_OR_RETURN(std::optional<EventSubscriptionRecord> current,
                   config_.subscriptions->Get(subscriber, id));
  if (!current) return NotFound();
  ASSIGN_OR_RETURN(EventSubscriptionRecord r,
                   EventSubscriptionOf(body, kind, config_.clock->Now()));
  r.subscription_id = id;
  r.subscriber_id = subscriber;
  r.created = current->created;
  absl::Status s = config_.subscriptions->Replace(r);
  if (absl::IsNotFound(s)) return NotFound();
  RETURN_IF_ERROR(s);
  return RestResponse::Json(200, body);
}

absl::StatusOr<RestResponse> EventsApi::Replace(const RestRequest& req) {
  ASSIGN_OR_RETURN(SubscriberKind kind, RequireSubscriber(req));
  ASSIGN_OR_RETURN(json body, ParseJsonBody(req));
  return Store(req.path_params[0], kind, req.path_params[1], std::move(body));
}

absl::StatusOr<RestResponse> EventsApi::Patch(const RestRequest& req) {
  ASSIGN_OR_RETURN(SubscriberKind kind, RequireSubscriber(req));
  ASSIGN_OR_RETURN(json patch, ParseMergePatchBody(req, {"events", "eventFilters", "eventReq",
                                                         "notificationDestination"}));
  ASSIGN_OR_RETURN(std::optional<EventSubscriptionRecord> current,
                   config_.subscriptions->Get(req.path_params[0], req.path_params[1]));
  if (!current) return NotFound();
  json body = json::parse(current->body, nullptr, /*allow_exceptions=*/false);
  if (!body.is_object()) return absl::InternalError("a stored subscription does not parse");
  body.merge_patch(patch);  // RFC 7396: members replaced, null removes, arrays whole
  return Store(req.path_params[0], kind, req.path_params[1], std::move(body));
}

absl::StatusOr<RestResponse> EventsApi::Unsubscribe(const RestRequest& req) {
  RETURN_IF_ERROR(RequireSubscriber(req).status());
  absl::Status s = config_.subscriptions->Delete(req.path_params[0], req.path_params[1]);
  if (absl::IsNotFound(s)) return NotFound();
  RETURN_IF_ERROR(s);
  LogInfo("events", absl::StrCat(req.path_params[0], " unsubscribed ", req.path_params[1]));
  return RestResponse::NoContent();
}

}  // namespace capif
