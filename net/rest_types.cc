#include "net/rest_types.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/strict_json.h"

namespace capif {
namespace {

constexpr char kHttpStatusPayload[] = "capif-fed/http-status";
constexpr char kCausePayload[] = "capif-fed/cause";
constexpr char kInvalidParamsPayload[] = "capif-fed/invalid-params";

absl::StatusCode CodeFor(int http) {
  switch (http) {
    case 400:
    case 411:
    case 414:
    case 415:
    case 431:
      return absl::StatusCode::kInvalidArgument;
    case 401:
      return absl::StatusCode::kUnauthenticated;
    case 403:
      return absl::StatusCode::kPermissionDenied;
    case 404:
      return absl::StatusCode::kNotFound;
    case 409:
      return absl::StatusCode::kAlreadyExists;
    case 413:
      return absl::StatusCode::kResourceExhausted;
    case 501:
      return absl::StatusCode::kUnimplemented;
    case 503:
      return absl::StatusCode::kUnavailable;
    default:
      return absl::StatusCode::kInternal;
  }
}

int HttpFor(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kFailedPrecondition:
      return 409;
    case absl::StatusCode::kResourceExhausted:
      return 413;
    case absl::StatusCode::kUnimplemented:
      return 501;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    default:
      return 500;
  }
}

const char* TitleFor(int http) {
  switch (http) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Internal Server Error";
  }
}

}  // namespace

std::string RestRequest::Header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? "" : it->second;
}

std::optional<std::string> RestRequest::Query(const std::string& name) const {
  auto it = query.find(name);
  if (it == query.end()) return std::nullopt;
  return it->second;
}

RestResponse RestResponse::Json(int status, const nlohmann::json& body) {
  RestResponse r;
  r.status = status;
  // A value copied from hostile input may be invalid UTF-8: replace it rather than throw.
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

RestResponse RestResponse::Deferred(std::function<void(RestResponder)> start) {
  RestResponse r;
  r.deferred = std::move(start);
  return r;
}

RestResponse RestResponse::NoContent() {
  RestResponse r;
  r.status = 204;
  r.content_type.clear();
  return r;
}

absl::Status RestError(int http_status, absl::string_view detail, absl::string_view cause,
                       std::vector<InvalidParam> invalid_params) {
  absl::Status s(CodeFor(http_status), detail);
  s.SetPayload(kHttpStatusPayload, absl::Cord(absl::StrCat(http_status)));
  if (!cause.empty()) s.SetPayload(kCausePayload, absl::Cord(cause));
  if (!invalid_params.empty()) {
    nlohmann::json params = nlohmann::json::array();
    for (const InvalidParam& p : invalid_params) {
      params.push_back(
          {{"param", p.query ? p.param : AttributePointer(p.param)}, {"reason", p.reason}});
    }
    s.SetPayload(kInvalidParamsPayload,
                 absl::Cord(params.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)));
  }
  return s;
}

std::string AttributePointer(absl::string_view path) {
  std::string out;
  bool segment_open = false;  // a member name is being written
  for (char c : path) {
    if (c == '.' || c == '[') {
      segment_open = false;
      continue;
    }
    if (c == ']') continue;
    if (!segment_open) {
      out += '/';
      segment_open = true;
    }
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

absl::Status InvalidParamError(absl::string_view param, absl::string_view reason) {
  return RestError(400, absl::StrCat(param, ": ", reason), "INVALID_PARAMETER",
                   {{std::string(param), std::string(reason)}});
}

absl::Status InvalidQueryParamError(absl::string_view name, absl::string_view reason) {
  return RestError(400, absl::StrCat("query parameter ", name, ": ", reason), "INVALID_PARAMETER",
                   {{std::string(name), std::string(reason), /*query=*/true}});
}

absl::StatusOr<const nlohmann::json*> RequiredMember(const nlohmann::json& object,
                                                     absl::string_view key,
                                                     absl::string_view prefix, JsonType type,
                                                     bool non_empty) {
  const std::string param = absl::StrCat(prefix, key);
  auto it = object.find(std::string(key));
  if (it == object.end()) return InvalidParamError(param, "is required");
  bool right = false;
  const char* expected = "";
  switch (type) {
    case JsonType::kString:
      right = it->is_string();
      expected = "must be a string";
      break;
    case JsonType::kBoolean:
      right = it->is_boolean();
      expected = "must be a boolean";
      break;
    case JsonType::kObject:
      right = it->is_object();
      expected = "must be an object";
      break;
    case JsonType::kArray:
      right = it->is_array();
      expected = "must be an array";
      break;
  }
  if (!right) return InvalidParamError(param, expected);
  bool empty = it->is_string() ? it->get_ref<const std::string&>().empty() : it->empty();
  if (non_empty && empty) {
    return InvalidParamError(param, "must not be empty");
  }
  return &*it;
}

std::pair<int, nlohmann::json> ProblemFromStatus(const absl::Status& status) {
  int http = HttpFor(status.code());
  if (auto p = status.GetPayload(kHttpStatusPayload)) {
    int pinned = 0;
    if (absl::SimpleAtoi(std::string(*p), &pinned) && pinned >= 400 && pinned < 600) {
      http = pinned;
    }
  }
  nlohmann::json problem = {{"title", TitleFor(http)}, {"status", http}};
  // Internal errors may carry implementation details: they are logged, not returned.
  problem["detail"] = http == 500 ? "internal error" : std::string(status.message());
  if (auto c = status.GetPayload(kCausePayload)) problem["cause"] = std::string(*c);
  if (auto ip = status.GetPayload(kInvalidParamsPayload)) {
    problem["invalidParams"] = nlohmann::json::parse(std::string(*ip), nullptr, false);
  }
  return {http, problem};
}

bool IsPeerOutage(const absl::Status& status) {
  return absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status);
}

RestResponse RetryLaterResponse(const absl::Status& status, int retry_after_seconds) {
  auto [http, problem] = ProblemFromStatus(status);
  RestResponse r = RestResponse::Json(http, problem);
  r.content_type = "application/problem+json";
  r.headers.emplace_back("Retry-After", absl::StrCat(retry_after_seconds));
  return r;
}

namespace {

absl::StatusOr<nlohmann::json> ParseObjectBody(const RestRequest& req,
                                               absl::string_view media_type) {
  std::string type = absl::AsciiStrToLower(req.Header("content-type"));
  std::string media = type.substr(0, type.find(';'));
  absl::StripAsciiWhitespace(&media);
  if (media != media_type) {
    return RestError(415, absl::StrCat("the request body must be ", media_type),
                     "UNSUPPORTED_MEDIA_TYPE");
  }
  auto body = ParseStrictJson(req.body);
  if (!body.ok()) {
    return RestError(400, absl::StrCat("malformed JSON body: ", body.status().message()),
                     "INVALID_MSG_FORMAT");
  }
  if (!body->is_object()) {
    return RestError(400, "the request body must be a JSON object", "INVALID_MSG_FORMAT");
  }
  return body;
}

}  // namespace

absl::StatusOr<nlohmann::json> ParseJsonBody(const RestRequest& req) {
  return ParseObjectBody(req, "application/json");
}

absl::StatusOr<nlohmann::json> ParseMergePatchBody(
    const RestRequest& req, std::initializer_list<absl::string_view> allowed) {
  ASSIGN_OR_RETURN(nlohmann::json patch, ParseObjectBody(req, "application/merge-patch+json"));
  for (const auto& [key, value] : patch.items()) {
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      return InvalidParamError(key, "cannot be changed by PATCH");
    }
  }
  return patch;
}

}  // namespace capif
