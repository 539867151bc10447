// Types shared by the northbound REST handlers: the request as a handler sees it, the response it
// returns, and errors that become TS 29.222 ProblemDetails (TS 29.122 CommonData) at the edge.
//
// Handlers return absl::StatusOr<RestResponse>. An error status is turned into a ProblemDetails
// body by the server: the HTTP status comes from the absl code (InvalidArgument 400,
// Unauthenticated 401, PermissionDenied 403, NotFound 404, AlreadyExists/Aborted 409,
// ResourceExhausted 413, Unimplemented 501, Unavailable 503, everything else 500) unless
// RestError() pinned another one (e.g. 415); `cause` and `invalidParams` travel as payloads.
// Internal errors are reported as 500 with a generic detail: their message is only logged.
// Thread-safe (plain data and free functions).
#ifndef CAPIF_NET_REST_TYPES_H_
#define CAPIF_NET_REST_TYPES_H_

#include <openssl/ssl.h>

#include <functional>
#include <initializer_list>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/ids.h"

namespace capif {

struct RestRequest {
  std::string method;
  std::string path;
  std::vector<std::string> path_params;  // regex captures of the route, in order
  std::multimap<std::string, std::string> query;
  std::multimap<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::optional<SpiffeId> caller;  // from the verified client certificate, if any
  const SSL* ssl = nullptr;        // the TLS connection (AEFPSK derivation)

  // The first value of a header (name in lower case), or "".
  std::string Header(const std::string& lower_name) const;
  // The first value of a query parameter, or nullopt.
  std::optional<std::string> Query(const std::string& name) const;
};

struct RestResponse;
// Called once, from any thread, with the answer of a deferred response.
using RestResponder = std::function<void(absl::StatusOr<RestResponse>)>;

struct RestResponse {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  // When set, the answer is not known yet (it waits for a peer): the server frees the handler's
  // worker, then calls `deferred` with a responder that must be called exactly once, from any
  // thread (a responder dropped uncalled answers 500). The other fields are ignored.
  std::function<void(RestResponder)> deferred;

  // Invalid UTF-8 in a string of `body` is replaced (U+FFFD), never thrown.
  static RestResponse Json(int status, const nlohmann::json& body);
  static RestResponse NoContent();
  static RestResponse Deferred(std::function<void(RestResponder)> start);
};

struct InvalidParam {
  // A body attribute by its path, e.g. "securityInfo[0].prefSecurityMethods", answered as the
  // JSON Pointer TS 29.122 asks for ("/securityInfo/0/prefSecurityMethods"); or, with `query`,
  // a query parameter's or header's name, answered as it is.
  std::string param;
  std::string reason;
  bool query = false;
};

// RFC 6901 JSON Pointer of an attribute path: members separated by '.', array indexes in
// brackets ("a.b[2].c" is "/a/b/2/c"; '~' and '/' in a member name are escaped).
std::string AttributePointer(absl::string_view path);

// An error with an explicit HTTP status, TS 29.122 `cause` and optional invalid parameters.
absl::Status RestError(int http_status, absl::string_view detail, absl::string_view cause = "",
                       std::vector<InvalidParam> invalid_params = {});

// InvalidArgument (400) naming one body attribute by its path (see InvalidParam).
absl::Status InvalidParamError(absl::string_view param, absl::string_view reason);
// InvalidArgument (400) naming one query parameter or header.
absl::Status InvalidQueryParamError(absl::string_view name, absl::string_view reason);

enum class JsonType { kString, kBoolean, kObject, kArray };

// The member `key` of `object`, which must be of `type` and, with `non_empty`, not "" or []
// or {}: 400 naming `prefix` + `key` with "is required" when absent, "must be a string" (a
// boolean, an object, an array) when of another type, "must not be empty" when empty.
absl::StatusOr<const nlohmann::json*> RequiredMember(const nlohmann::json& object,
                                                     absl::string_view key,
                                                     absl::string_view prefix, JsonType type,
                                                     bool non_empty = false);

// An optional member of a JSON object, of type T (std::string or bool), into *out (reset when
// absent); a wrong type is a 400 naming `prefix` + `key`.
template <typename T>
absl::Status OptionalMember(const nlohmann::json& object, const char* key, const std::string& prefix,
                            std::optional<T>* out) {
  auto it = object.find(key);
  if (it == object.end()) {
    out->reset();
    return absl::OkStatus();
  }
  bool right = std::is_same_v<T, bool> ? it->is_boolean() : it->is_string();
  if (!right) {
    return InvalidParamError(prefix + key,
                             std::is_same_v<T, bool> ? "must be a boolean" : "must be a string");
  }
  *out = it->get<T>();
  return absl::OkStatus();
}

// The ProblemDetails for an error status, and its HTTP status code.
std::pair<int, nlohmann::json> ProblemFromStatus(const absl::Status& status);

// A peer CCF could not be asked (Unavailable: 503) or did not answer in time
// (DeadlineExceeded: 504): the request may succeed later, it is not a "not found".
bool IsPeerOutage(const absl::Status& status);
// The ProblemDetails answer for `status`, with "Retry-After: <seconds>".
RestResponse RetryLaterResponse(const absl::Status& status, int retry_after_seconds);

// Body must be JSON (415 otherwise) and a JSON object without duplicate members (400).
absl::StatusOr<nlohmann::json> ParseJsonBody(const RestRequest& req);

// A PATCH body: a JSON Merge Patch (RFC 7396, `application/merge-patch+json` as TS 29.222 asks;
// 415 otherwise), a JSON object without duplicate members whose members are all in `allowed`
// (the spec's *Patch schema; 400 naming the first other one).
absl::StatusOr<nlohmann::json> ParseMergePatchBody(
    const RestRequest& req, std::initializer_list<absl::string_view> allowed);

}  // namespace capif

#endif  // CAPIF_NET_REST_TYPES_H_
