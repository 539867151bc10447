// Every TS 29.222 request the northbound serves, through the real handlers: one CCF's APIs
// (invoker management, provider management, publish, discover, security and token, events, logging,
// auditing) on SQLite stores under a private temporary directory, routed by the RestRouter the
// HTTPS server uses, from any caller. The TLS layer and the HTTP parser are not here
// (http_request_fuzz covers the head); this is what a handler sees once the server accepted the
// bytes.
//
// The input is readable text, so the seeds are:
//
//   METHOD TARGET                      e.g. "PUT /capif-security/v1/trustedInvokers/{inv}"
//   CALLER                             "-" (no client certificate) or "KIND ID", e.g. "aef {aef}"
//   Header-Name: value                 zero or more
//                                      an empty line
//   BODY                               the rest
//
// Placeholders name what exists in the world, so inputs reach past the "not found" checks:
// {inv} an onboarded invoker, {aef} {apf} {amf} {dom} a registered provider's functions and
// domain, {api} a published API of {apf} at {aef}, {itok} / {ptok} a fresh invoker / provider
// enrollment token, {csr} a CSR in PEM with JSON escapes, {secret} the invoker's onboarding
// secret (form-escaped), {sub} an event subscription of {aef}. The invoker has an OAUTH
// security context at {aef}.
//
// CAPIF_FUZZ_TRACE=1 prints each request's answer (to check what a new seed reaches).
//
// Properties: no exception leaves a handler; no 5xx except 503; every error answer is a
// ProblemDetails (status equal to the HTTP status, title, detail, invalidParams an array of {param,
// reason}) or, on the token endpoint, an AccessTokenErr with an RFC 6749 error code; every JSON
// answer parses; no answer is deferred (there is no peer to wait for).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "ccf/api/invoker_management_api.h"
#include "ccf/testing/ccf_world.h"
#include "common/testing/test_paths.h"
#include "common/x509_cert.h"
#include "fuzz/fuzz_check.h"
#include "net/http_input.h"
#include "net/rest_router.h"

namespace http = boost::beast::http;
using nlohmann::json;

namespace {

std::string JsonEscaped(const std::string& s) {
  std::string quoted = json(s).dump();
  return quoted.substr(1, quoted.size() - 2);
}

class World {
 public:
  World() : dir_(absl::StrCat("ts29222_handler_fuzz.", getpid())) {
    std::filesystem::remove_all(capif::TestTmpDir(dir_));
    world_ = std::make_unique<capif::CcfWorld>(dir_);
    world_->invoker_api.RegisterRoutes(router_);
    world_->provider_api.RegisterRoutes(router_);
    world_->publish_api.RegisterRoutes(router_);
    world_->discover_api.RegisterRoutes(router_);
    world_->security_api->RegisterRoutes(router_);
    world_->events_api.RegisterRoutes(router_);
    world_->logging_api.RegisterRoutes(router_);
    csr_ = JsonEscaped(*capif::CreateCsrPem(world_->key));
    Populate();
  }
  ~World() { std::filesystem::remove_all(capif::TestTmpDir(dir_)); }

  // Registers a provider, publishes one API, onboards one invoker and gives it an OAUTH
  // security context at the AEF, for the placeholders.
  void Populate() {
    provider_ = world_->RegisterProvider();
    json api = world_->Publish(provider_.apf_id,
                               capif::CcfWorld::SampleApi("fuzz-api", provider_.aef_id));
    api_id_ = api["apiId"];
    invoker_ = world_->OnboardInvoker();
    capif::RestRequest create = world_->As(
        "invoker", invoker_.id,
        {{"notificationDestination", "https://invoker.example/cb"},
         {"securityInfo", {{{"aefId", provider_.aef_id}, {"prefSecurityMethods", {"OAUTH"}}}}}});
    create.path_params = {invoker_.id};
    FUZZ_CHECK(world_->security_api->Create(create).ok(), "a security context");
    capif::RestRequest subscribe =
        world_->As("aef", provider_.aef_id,
                   {{"events", {"SERVICE_API_UPDATE", "API_INVOKER_ONBOARDED"}},
                    {"notificationDestination", "https://aef.example/events"}});
    subscribe.path_params = {provider_.aef_id};
    auto sub = world_->events_api.Subscribe(subscribe);
    FUZZ_CHECK(sub.ok() && sub->status == 201, "an event subscription");
    for (const auto& [name, value] : sub->headers) {
      if (name == "Location") subscription_id_ = value.substr(value.rfind('/') + 1);
    }
  }

  std::string Expand(const std::string& text) {
    std::vector<std::pair<std::string, std::string>> subs = {
        {"{inv}", invoker_.id},
        {"{aef}", provider_.aef_id},
        {"{apf}", provider_.apf_id},
        {"{amf}", provider_.amf_id},
        {"{dom}", provider_.domain_id},
        {"{api}", api_id_},
        {"{csr}", csr_},
        {"{secret}", capif::PercentEncode(invoker_.onboarding_secret)},
        {"{sub}", subscription_id_}};
    if (text.find("{itok}") != std::string::npos) subs.emplace_back("{itok}", Token(true));
    if (text.find("{ptok}") != std::string::npos) subs.emplace_back("{ptok}", Token(false));
    return absl::StrReplaceAll(text, subs);
  }

  const capif::RestRouter& router() const { return router_; }

 private:
  std::string Token(bool invoker) {
    auto token = capif::IssueEnrollmentToken(
        world_->tokens,
        invoker ? capif::EnrollmentPurpose::kInvoker : capif::EnrollmentPurpose::kProvider,
        world_->clock.Now(), absl::Hours(1));
    FUZZ_CHECK(token.ok(), "an enrollment token");
    return *token;
  }

  std::string subscription_id_;
  std::string dir_;
  std::unique_ptr<capif::CcfWorld> world_;
  capif::RestRouter router_;
  std::string csr_;
  capif::CcfWorld::Provider provider_;
  std::string api_id_;
  capif::CcfWorld::Invoker invoker_;
};

World& TheWorld() {
  static World* world = new World();
  static bool cleanup = (std::atexit([] { delete world; }), true);
  (void)cleanup;
  return *world;
}

bool IsTokenEndpoint(const std::string& path) {
  return path.rfind("/capif-security/v1/securities/", 0) == 0 &&
         path.size() > 6 && path.compare(path.size() - 6, 6, "/token") == 0;
}

void CheckProblemDetails(int status, const capif::RestResponse& r) {
  json body = json::parse(r.body, nullptr, false);
  FUZZ_CHECK(body.is_object(), "an error answer is a JSON object");
  FUZZ_CHECK(r.content_type == "application/problem+json", "problem+json");
  FUZZ_CHECK(body.contains("status") && body["status"].is_number_integer() &&
                 body["status"].get<int>() == status,
             "ProblemDetails.status is the HTTP status");
  FUZZ_CHECK(body.contains("title") && body["title"].is_string(), "ProblemDetails.title");
  FUZZ_CHECK(!body.contains("detail") || body["detail"].is_string(), "ProblemDetails.detail");
  FUZZ_CHECK(!body.contains("cause") || body["cause"].is_string(), "ProblemDetails.cause");
  if (body.contains("invalidParams")) {
    FUZZ_CHECK(body["invalidParams"].is_array(), "invalidParams is an array");
    for (const json& p : body["invalidParams"]) {
      FUZZ_CHECK(p.is_object() && p.contains("param") && p["param"].is_string() &&
                     (!p.contains("reason") || p["reason"].is_string()),
                 "InvalidParam {param, reason}");
    }
  }
}

void CheckAccessTokenErr(const capif::RestResponse& r) {
  static const std::set<std::string> kErrors = {
      "invalid_request", "invalid_client",         "invalid_grant",
      "unauthorized_client", "unsupported_grant_type", "invalid_scope"};
  json body = json::parse(r.body, nullptr, false);
  FUZZ_CHECK(body.is_object() && body.contains("error") && body["error"].is_string(),
             "AccessTokenErr.error");
  FUZZ_CHECK(kErrors.count(body["error"].get<std::string>()) == 1,
             "AccessTokenErr.error is an RFC 6749 code");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  World& world = TheWorld();
  std::string text = world.Expand(std::string(reinterpret_cast<const char*>(data), size));

  // The request line, the caller, the headers, then the body.
  size_t head_end = text.find("\n\n");
  std::string head = text.substr(0, head_end);
  std::string body = head_end == std::string::npos ? "" : text.substr(head_end + 2);
  std::vector<std::string> lines = absl::StrSplit(head, '\n');
  std::vector<std::string> request_line = absl::StrSplit(lines[0], absl::MaxSplits(' ', 1));
  if (request_line.size() != 2 || request_line[0].empty() || request_line[1].empty()) return 0;

  http::request<http::string_body> msg;
  msg.version(11);
  try {
    msg.method_string(request_line[0]);
    msg.target(request_line[1]);
    for (size_t i = 2; i < lines.size(); ++i) {
      std::vector<std::string> kv = absl::StrSplit(lines[i], absl::MaxSplits(':', 1));
      if (kv.size() != 2 || kv[0].empty()) return 0;
      msg.insert(kv[0], std::string(absl::StripLeadingAsciiWhitespace(kv[1])));
    }
  } catch (const std::exception&) {
    return 0;  // not a request Beast's parser would have produced
  }
  capif::RestRequest req;
  if (!capif::ToRestRequest(msg, body, &req).ok()) return 0;  // 400 from the server
  if (lines.size() >= 2 && lines[1] != "-") {
    std::vector<std::string> caller = absl::StrSplit(lines[1], absl::MaxSplits(' ', 1));
    if (caller.size() == 2) {
      auto id = capif::SpiffeId::Parse(absl::StrCat("spiffe://a.example/", caller[0], "/", caller[1]));
      if (id.ok()) req.caller = *id;
    }
  }

  absl::StatusOr<const capif::RestRoute*> route =
      world.router().Match(req.method, req.path, &req.path_params);
  if (!route.ok()) {
    FUZZ_CHECK(capif::ProblemFromStatus(route.status()).first == 400, "a path too hard is 400");
    return 0;
  }
  if (*route == nullptr) return 0;  // 404 / 405 from the server

  absl::StatusOr<capif::RestResponse> out;
  try {
    out = (*route)->handler(req);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s %s threw: %s\n", req.method.c_str(), req.path.c_str(), e.what());
    FUZZ_CHECK(false, "no exception leaves a handler");
  }
  capif::RestResponse answer;
  if (out.ok()) {
    FUZZ_CHECK(!out->deferred, "no peer, no deferred answer");
    answer = *std::move(out);
  } else {
    // What the server sends for an error status (net/https_server.cc ProblemReply).
    auto problem = capif::ProblemFromStatus(out.status());
    answer = capif::RestResponse::Json(problem.first, problem.second);
    answer.content_type = "application/problem+json";
  }
  int status = answer.status;
  if (std::getenv("CAPIF_FUZZ_TRACE") != nullptr) {  // for writing seeds: what each one reached
    std::fprintf(stderr, "%s %s -> %d %.200s\n", req.method.c_str(), req.path.c_str(), status,
                 answer.body.c_str());
  }
  if (status >= 500 && status != 503) {
    std::fprintf(stderr, "%s %s answered %d: %s\n", req.method.c_str(), req.path.c_str(), status,
                 out.ok() ? answer.body.c_str() : out.status().ToString().c_str());
    FUZZ_CHECK(false, "no server error for a client's input");
  }
  if (status >= 400) {
    if (IsTokenEndpoint(req.path) && answer.content_type == "application/json") {
      CheckAccessTokenErr(answer);
    } else {
      CheckProblemDetails(status, answer);
    }
  } else if (answer.content_type == "application/json" && !answer.body.empty()) {
    FUZZ_CHECK(!json::parse(answer.body, nullptr, false).is_discarded(), "a JSON answer parses");
  }

  // A successful change may have removed what the placeholders name: make them exist again.
  bool changed = status < 300 && (req.method == "DELETE" || req.method == "PUT" ||
                                  req.path.find("/delete") != std::string::npos);
  if (changed) world.Populate();
  return 0;
}
