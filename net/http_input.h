// The checks every request's bytes pass before a handler sees them, shared by HttpsServer, the
// token endpoint's form parsing and the HTTP fuzz target (fuzz/http_request_fuzz.cc).
//
//   absl::Status head = CheckRequestHead(parser.get(), limits);   // 414 / 415 / 431 / 501
//   RestRequest r;
//   absl::Status ok = ToRestRequest(parser.get(), std::move(parser.get().body()), &r);  // 400
//
// Every error is a RestError (net/rest_types.h) with its HTTP status and, for malformed input,
// cause INVALID_MSG_FORMAT; its detail never quotes the input. Pure functions: thread-safe.
#ifndef CAPIF_NET_HTTP_INPUT_H_
#define CAPIF_NET_HTTP_INPUT_H_

#include <cstddef>
#include <map>
#include <optional>
#include <string>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "net/rest_types.h"

namespace capif {

// Percent-decoding of a path ('+' kept) or of a query / form component (`plus_is_space`).
// nullopt for a malformed escape ('%' not followed by two hex digits).
std::optional<std::string> PercentDecode(absl::string_view in, bool plus_is_space);
// The inverse, for a query or form component: every byte but A-Z a-z 0-9 - _ . ~ as %XX.
std::string PercentEncode(absl::string_view in);

// The name=value pairs of an application/x-www-form-urlencoded text or a query string, decoded
// (a pair without '=' has an empty value; empty pairs are skipped). 400 INVALID_MSG_FORMAT for a
// malformed escape or a name or value that is not UTF-8 once decoded; `what` ("query",
// "form body") names the part in the detail. `out` may be null: check only.
absl::Status ParseUrlEncoded(absl::string_view text, absl::string_view what,
                             std::multimap<std::string, std::string>* out);

// The same, each name at most once: InvalidArgument "duplicate parameter NAME" otherwise (RFC
// 6749 section 3.2: parameters must not be included more than once).
absl::StatusOr<std::map<std::string, std::string>> ParseUniqueForm(absl::string_view text);

// "Application/JSON; charset=utf-8" -> "application/json".
std::string MediaType(absl::string_view content_type);

// The server's limits (HttpsServer::Options holds their defaults).
struct RequestHeadLimits {
  size_t max_header_count;
  size_t max_target_bytes;
};

// A request head as Beast parsed it: 431 for too many fields, 414 for a target too long, 415 for
// a Content-Encoding other than identity, 501 for a Transfer-Encoding other than one "chunked".
absl::Status CheckRequestHead(const boost::beast::http::request_header<>& head,
                              const RequestHeadLimits& limits);

// Method, decoded path, query, headers (names lower-cased) and body of a whole request into
// `out` (its ssl, caller and path_params are left alone). 400 for a target that is not an
// absolute path, a malformed escape, invalid UTF-8 in the path, the query, a header value or a
// JSON body, or a malformed form body.
absl::Status ToRestRequest(const boost::beast::http::request_header<>& head, std::string body,
                           RestRequest* out);

}  // namespace capif

#endif  // CAPIF_NET_HTTP_INPUT_H_
