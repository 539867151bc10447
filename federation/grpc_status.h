// Conversions between absl::Status (used everywhere inside) and grpc::Status (only at the bus
// edge). Codes map one to one. Thread-safe.
#ifndef CAPIF_FEDERATION_GRPC_STATUS_H_
#define CAPIF_FEDERATION_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

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

}  // namespace capif

#endif  // CAPIF_FEDERATION_GRPC_STATUS_H_
