// An HTTP/1.1 request as the northbound reads it (net/https_server): Beast's parser with the
// server's default limits, then the server's own checks (net/http_input). The TLS layer is not
// here: this is what arrives once it is decrypted. Properties: no crash; every refusal is a
// 4xx/5xx the server answers with; an accepted request has an absolute UTF-8 path, UTF-8
// query and header values, and a body within the limit.
#include <cstddef>
#include <cstdint>
#include <string>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>

#include "common/utf8.h"
#include "fuzz/fuzz_check.h"
#include "net/http_input.h"
#include "net/https_server.h"

namespace http = boost::beast::http;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const capif::HttpsServer::Options defaults;
  http::request_parser<http::string_body> parser;
  parser.header_limit(defaults.max_header_bytes);
  parser.body_limit(defaults.max_body_bytes);
  parser.eager(true);
  boost::system::error_code ec;
  size_t used = 0;
  while (!parser.is_done() && used < size) {
    size_t n = parser.put(boost::asio::const_buffer(data + used, size - used), ec);
    FUZZ_CHECK(n <= size - used, "the parser does not read beyond its input");
    used += n;
    if (ec || n == 0) break;
  }
  // A message that is not done yet would wait for more bytes (up to the header deadline).
  if (ec == http::error::need_more) ec = {};
  if (ec) return 0;  // answered 400 / 413 / 431 by the server
  if (!parser.is_header_done()) return 0;
  absl::Status head = capif::CheckRequestHead(
      parser.get(), {defaults.max_header_count, defaults.max_target_bytes});
  if (!head.ok()) {
    int status = capif::ProblemFromStatus(head).first;
    FUZZ_CHECK(status == 414 || status == 415 || status == 431 || status == 501, "head refusals");
    return 0;
  }
  if (!parser.is_done()) return 0;
  FUZZ_CHECK(parser.get().body().size() <= defaults.max_body_bytes, "body within the limit");
  capif::RestRequest r;
  absl::Status ok = capif::ToRestRequest(parser.get(), std::move(parser.get().body()), &r);
  if (!ok.ok()) {
    FUZZ_CHECK(capif::ProblemFromStatus(ok).first == 400, "malformed input is 400");
    return 0;
  }
  FUZZ_CHECK(!r.path.empty() && r.path[0] == '/', "an absolute path");
  FUZZ_CHECK(capif::IsValidUtf8(r.path), "a UTF-8 path");
  for (const auto& [k, v] : r.query) {
    FUZZ_CHECK(capif::IsValidUtf8(k) && capif::IsValidUtf8(v), "a UTF-8 query");
  }
  for (const auto& [k, v] : r.headers) FUZZ_CHECK(capif::IsValidUtf8(v), "UTF-8 header values");
  return 0;
}
