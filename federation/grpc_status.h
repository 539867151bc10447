// Conversions between absl::Status (used everywhere inside) and grpc::Status (only at the bus
// edge). Codes map one to one. Thread-safe.
#ifndef CAPIF_FEDERATION_GRPC_STATUS_H_
#define CAPIF_FEDERATION_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include <string>

#include "absl/status/status.h"

namespace capif {

inline grpc::Status ToGrpcStatus(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

inline absl::Status FromGrpcStatus(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

// The RPC's name from its full method path ("/capif.federation.v1.Interconnect/Hello" ->
// "Hello"); "unknown" when there is none. For metrics labels.
inline std::string OperationOfMethod(const char* method) {
  std::string path(method != nullptr ? method : "");
  std::string name = path.substr(path.rfind('/') + 1);
  return name.empty() ? "unknown" : name;
}

// A gRPC code's name ("DEADLINE_EXCEEDED"), for metrics labels.
inline std::string StatusCodeName(grpc::StatusCode code) {
  return std::string(absl::StatusCodeToString(static_cast<absl::StatusCode>(code)));
}

}  // namespace capif

#endif  // CAPIF_FEDERATION_GRPC_STATUS_H_
