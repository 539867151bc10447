// TS 29.222 CAPIF_Logging_API_Invocation_API (clause 8.x), /api-invocation-logs/v1, and
// CAPIF_Auditing_API, /logs/v1:
//
//   POST /api-invocation-logs/v1/{aefId}/logs        the AEF stores an InvocationLog (201)
//   GET  /logs/v1/apiInvocationLogs?aef-id&...       the AMF queries them
//
// Logging: the caller is the registered AEF {aefId} (mutual TLS), the body's aefId the same;
// apiInvokerId is any invoker, also one onboarded at a peer CCF (logs stay here: they are not
// forwarded to the invoker's home CCF, docs/northbound.md). Each of the 1-1000 Log entries needs
// apiId (an API published with this AEF in its profiles), apiName, apiVersion, resourceName,
// protocol and result as non-empty strings; operation, uri, fwdInterface strings,
// invocationTime an RFC 3339 date-time, invocationLatency a non-negative integer, srcInterface
// and destInterface objects, when given. Each log is a SERVICE_API_INVOCATION_SUCCESS (result
// 2xx) or _FAILURE event, in the same transaction.
//
// Auditing: the caller is a registered AMF; it sees the logs of its own provider domain's AEFs
// (aef-id naming another AEF is 403). Every filter of the spec: aef-id, api-invoker-id,
// time-range-start / -end (on invocationTime), api-id, api-name, api-version, protocol,
// operation, result, resource-name, src-interface / dest-interface (InterfaceDescription JSON,
// compared member by member); supported-features is accepted and ignored. The answer is an
// InvocationLog when the entries are of one (AEF, invoker), InvocationLogs otherwise, at most
// 1000 entries (oldest first); 404 when nothing matches.
//
// Errors: 400 (invalidParams), 401 no client certificate, 403 another caller, 404. Thread-safe.
#ifndef CAPIF_CCF_API_LOGGING_API_H_
#define CAPIF_CCF_API_LOGGING_API_H_

#include <string>

#include "absl/status/statusor.h"
#include "ccf/store/invocation_logs.h"
#include "ccf/store/provider_registry.h"
#include "ccf/store/service_apis.h"
#include "common/certificate_authority.h"
#include "common/clock.h"
#include "net/rest_router.h"
#include "net/rest_types.h"

namespace capif {

inline constexpr char kLoggingRoot[] = "/api-invocation-logs/v1";
inline constexpr char kAuditingRoot[] = "/logs/v1";

struct LoggingApiConfig {
  SqlInvocationLogs* logs;
  ProviderRegistry* providers;
  ServiceApiRepository* service_apis;
  const CertificateAuthority* ca;
  const Clock* clock;
  std::string api_root;
};

class LoggingApi {
 public:
  explicit LoggingApi(LoggingApiConfig config) : config_(std::move(config)) {}
  void RegisterRoutes(RestRouter& server);
  absl::StatusOr<RestResponse> PostLogs(const RestRequest& req);
  absl::StatusOr<RestResponse> Audit(const RestRequest& req);

 private:
  LoggingApiConfig config_;
};

}  // namespace capif

#endif  // CAPIF_CCF_API_LOGGING_API_H_
