#include "net/http_input.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/utf8.h"

namespace capif {

namespace http = boost::beast::http;

namespace {

int HexValue(char h) {
  return absl::ascii_isdigit(h) ? h - '0' : absl::ascii_tolower(h) - 'a' + 10;
}

absl::Status Malformed(absl::string_view detail) {
  return RestError(400, detail, "INVALID_MSG_FORMAT");
}

}  // namespace

std::string PercentEncode(absl::string_view in) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : in) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::optional<std::string> PercentDecode(absl::string_view in, bool plus_is_space) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size() || !absl::ascii_isxdigit(in[i + 1]) ||
          !absl::ascii_isxdigit(in[i + 2])) {
        return std::nullopt;
      }
      out.push_back(static_cast<char>(HexValue(in[i + 1]) * 16 + HexValue(in[i + 2])));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

absl::Status ParseUrlEncoded(absl::string_view text, absl::string_view what,
                             std::multimap<std::string, std::string>* out) {
  for (absl::string_view pair : absl::StrSplit(text, '&', absl::SkipEmpty())) {
    size_t eq = pair.find('=');
    auto name = PercentDecode(pair.substr(0, eq), true);
    auto value = PercentDecode(eq == absl::string_view::npos ? "" : pair.substr(eq + 1), true);
    if (!name || !value) return Malformed(absl::StrCat("malformed percent-encoding in the ", what));
    if (!IsValidUtf8(*name) || !IsValidUtf8(*value)) {
      return Malformed(absl::StrCat("the ", what, " is not valid UTF-8"));
    }
    if (out != nullptr) out->emplace(*std::move(name), *std::move(value));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::map<std::string, std::string>> ParseUniqueForm(absl::string_view text) {
  std::multimap<std::string, std::string> pairs;
  absl::Status parsed = ParseUrlEncoded(text, "form body", &pairs);
  if (!parsed.ok()) return parsed;
  std::map<std::string, std::string> form;
  for (auto& [name, value] : pairs) {
    if (!form.emplace(name, std::move(value)).second) {
      // The name is UTF-8 (checked above); cut on a character boundary for the detail.
      size_t cut = std::min<size_t>(name.size(), 32);
      while (cut > 0 && cut < name.size() && (static_cast<unsigned char>(name[cut]) & 0xC0) == 0x80) {
        --cut;
      }
      return absl::InvalidArgumentError(absl::StrCat("duplicate parameter ", name.substr(0, cut)));
    }
  }
  return form;
}

std::string MediaType(absl::string_view content_type) {
  std::string media = absl::AsciiStrToLower(content_type.substr(0, content_type.find(';')));
  absl::StripAsciiWhitespace(&media);
  return media;
}

absl::Status CheckRequestHead(const http::request_header<>& head, const RequestHeadLimits& limits) {
  size_t fields = 0;
  for (auto it = head.begin(); it != head.end(); ++it) ++fields;
  if (fields > limits.max_header_count) return RestError(431, "too many header fields");
  if (head.target().size() > limits.max_target_bytes) {
    return RestError(414, "the request target is too long");
  }
  for (auto it = head.find(http::field::content_encoding);
       it != head.end() && it->name() == http::field::content_encoding; ++it) {
    for (absl::string_view coding : absl::StrSplit(
             absl::string_view(it->value().data(), it->value().size()), ',')) {
      coding = absl::StripAsciiWhitespace(coding);
      if (!coding.empty() && !absl::EqualsIgnoreCase(coding, "identity")) {
        return RestError(415, "Content-Encoding is not supported: send identity");
      }
    }
  }
  if (head.count(http::field::transfer_encoding) > 0) {
    std::string te(head[http::field::transfer_encoding]);
    absl::StripAsciiWhitespace(&te);
    if (!absl::EqualsIgnoreCase(te, "chunked") || head.count(http::field::transfer_encoding) > 1) {
      return RestError(501, "only the chunked transfer coding is supported");
    }
  }
  return absl::OkStatus();
}

absl::Status ToRestRequest(const http::request_header<>& message, std::string body,
                           RestRequest* out) {
  RestRequest& r = *out;
  r.method = std::string(message.method_string());
  absl::string_view target(message.target().data(), message.target().size());
  size_t q = target.find('?');
  auto path = PercentDecode(target.substr(0, q), false);
  if (!path || path->empty() || (*path)[0] != '/') return Malformed("malformed request target");
  if (!IsValidUtf8(*path)) return Malformed("the request path is not valid UTF-8");
  r.path = *std::move(path);
  if (q != absl::string_view::npos) {
    absl::Status query = ParseUrlEncoded(target.substr(q + 1), "query", &r.query);
    if (!query.ok()) return query;
  }
  for (const auto& f : message) {
    std::string value(f.value());
    if (!IsValidUtf8(value)) return Malformed("a header value is not valid UTF-8");
    r.headers.emplace(absl::AsciiStrToLower(std::string(f.name_string())), std::move(value));
  }
  r.body = std::move(body);
  std::string media = MediaType(r.Header("content-type"));
  if ((media == "application/json" || absl::EndsWith(media, "+json")) && !IsValidUtf8(r.body)) {
    return Malformed("the JSON body is not valid UTF-8");
  }
  if (media == "application/x-www-form-urlencoded") {
    absl::Status form = ParseUrlEncoded(r.body, "form body", nullptr);
    if (!form.ok()) return form;
  }
  return absl::OkStatus();
}

}  // namespace capif
