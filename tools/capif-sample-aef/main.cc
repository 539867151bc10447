// capif-sample-aef: a toy location API protected by sdk/aef (TLS-PSK, TLS-PKI or OAuth, as the
// CCF selected for each invoker), for demos and interop tests.
//
//   capif-sample-aef --ccf https://127.0.0.1:8441 --ca ca.pem --cert aef.pem --key aef.key
//       --aef-id aef-… [--listen 127.0.0.1:0] [--api-name location-query] [--api-id api-…]
//
// Serves GET /<api-name>/v1/position?ue=<id> -> {"ue", "position": {"lat", "lon"}, "servedTo",
// "securityMethod"}, and the AEF Security API. With --api-id (the apiId its APF published the
// API under), every request served is posted to the CCF as an invocation log (TS 29.222
// Logging API, sdk/aef/invocation_logger.h, once a second). Prints
// "capif-sample-aef <aef-id> listening on https://host:port" once serving; stops on
// SIGTERM/SIGINT (exit 0). Bad arguments exit 2.
#include <signal.h>

#include <iostream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/file_io.h"
#include "common/log.h"
#include "sdk/aef/aef_server.h"
#include "sdk/aef/invocation_logger.h"

namespace {

constexpr char kUsage[] =
    "usage: capif-sample-aef --ccf URL --ca FILE --cert FILE --key FILE --aef-id ID "
    "[--listen HOST:PORT] [--api-name NAME] [--api-id ID]\n";

int Run(int argc, char** argv) {
  std::string ccf, ca, cert, key, aef_id, listen = "127.0.0.1:0", api = "location-query", api_id;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](std::string* out) {
      if (i + 1 >= argc) return false;
      *out = argv[++i];
      return true;
    };
    bool ok = (a == "--ccf" && value(&ccf)) || (a == "--ca" && value(&ca)) ||
              (a == "--cert" && value(&cert)) || (a == "--key" && value(&key)) ||
              (a == "--aef-id" && value(&aef_id)) || (a == "--listen" && value(&listen)) ||
              (a == "--api-name" && value(&api)) || (a == "--api-id" && value(&api_id));
    if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if (!ok) {
      std::cerr << "capif-sample-aef: unexpected argument '" << a << "'\n" << kUsage;
      return 2;
    }
  }
  size_t colon = listen.rfind(':');
  int port = 0;
  if (ccf.empty() || ca.empty() || cert.empty() || key.empty() || aef_id.empty() ||
      colon == std::string::npos || !absl::SimpleAtoi(listen.substr(colon + 1), &port) ||
      port < 0 || port > 65535) {
    std::cerr << "capif-sample-aef: --ccf, --ca, --cert, --key and --aef-id are required; "
                 "--listen is HOST:PORT\n"
              << kUsage;
    return 2;
  }
  auto ca_pem = capif::ReadFile(ca);
  auto cert_pem = capif::ReadFile(cert);
  auto key_pem = capif::ReadFile(key);
  if (!ca_pem.ok() || !cert_pem.ok() || !key_pem.ok()) {
    std::cerr << "capif-sample-aef: cannot read --ca, --cert or --key\n";
    return 2;
  }
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  std::unique_ptr<capif::InvocationLogger> logger;
  if (!api_id.empty()) {
    logger = std::make_unique<capif::InvocationLogger>(capif::InvocationLogger::Options{
        ccf, *ca_pem, *cert_pem, capif::SecretBytes(*key_pem), aef_id});
  }
  capif::AefOptions o;
  o.aef_id = aef_id;
  o.ccf_api_root = ccf;
  o.ca_pem = *ca_pem;
  o.certificate_pem = *cert_pem;
  o.private_key_pem = capif::SecretBytes(*key_pem);
  o.api_name = api;
  const std::string host = listen.substr(0, colon);
  o.host = host;
  o.port = port;
  auto server = capif::AefServer::Create(std::move(o));
  if (!server.ok()) {
    std::cerr << "capif-sample-aef: " << server.status().message() << "\n";
    return 2;
  }
  auto position = [](const capif::RestRequest& r,
                     const capif::AefCaller& caller) -> absl::StatusOr<capif::RestResponse> {
    std::string ue = r.Query("ue").value_or("");
    if (ue.empty() || ue.size() > 64) {
      return capif::RestError(400, "query parameter ue (1-64 characters) is required",
                              "INVALID_QUERY_PARAM");
    }
    // A deterministic toy position per UE.
    size_t h = std::hash<std::string>()(ue);
    double lat = 48.0 + static_cast<double>(h % 1000) / 1000.0;
    double lon = 11.0 + static_cast<double>((h / 1000) % 1000) / 1000.0;
    return capif::RestResponse::Json(200, {{"ue", ue},
                                           {"position", {{"lat", lat}, {"lon", lon}}},
                                           {"servedTo", caller.invoker_id},
                                           {"securityMethod", caller.method}});
  };
  (*server)->Route(
      "GET", absl::StrCat("/", api, "/v1/position"),
      [&, position](const capif::RestRequest& r,
                    const capif::AefCaller& caller) -> absl::StatusOr<capif::RestResponse> {
        absl::Time start = absl::Now();
        absl::StatusOr<capif::RestResponse> res = position(r, caller);
        if (logger != nullptr) {
          int status = res.ok() ? res->status : capif::ProblemFromStatus(res.status()).first;
          logger->Record(
              caller.invoker_id,
              {{"apiId", api_id},
               {"apiName", api},
               {"apiVersion", "v1"},
               {"resourceName", "position"},
               {"protocol", "HTTP_1_1"},
               {"operation", "GET"},
               {"result", std::to_string(status)},
               {"invocationTime", absl::FormatTime(absl::RFC3339_full, start, absl::UTCTimeZone())},
               {"invocationLatency", absl::ToInt64Milliseconds(absl::Now() - start)}});
        }
        return res;
      });
  absl::Status started = (*server)->Start();
  if (!started.ok()) {
    std::cerr << "capif-sample-aef: " << started.message() << "\n";
    return 1;
  }
  std::cout << "capif-sample-aef " << aef_id << " listening on https://" << host << ":"
            << (*server)->port() << std::endl;
  int signo = 0;
  sigwait(&stop, &signo);
  (*server)->Stop();
  logger.reset();  // a last post of what is buffered
  capif::LogInfo("aef", "stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return Run(argc, argv); }
