// Status propagation macros for absl::Status / absl::StatusOr (Abseil 20220623 ships none).
//
//   RETURN_IF_ERROR(DoThing());                 // returns the status if it is not OK
//   ASSIGN_OR_RETURN(auto cert, LoadCert(path)); // unwraps a StatusOr or returns its status
//
// Header-only; no state, so thread-safe.
#ifndef CAPIF_COMMON_STATUS_MACROS_H_
#define CAPIF_COMMON_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define CAPIF_STATUS_CONCAT_INNER_(a, b) a##b
#define CAPIF_STATUS_CONCAT_(a, b) CAPIF_STATUS_CONCAT_INNER_(a, b)

#define RETURN_IF_ERROR(expr)                          \
  do {                                                 \
    ::absl::Status capif_status_ = (expr);             \
    if (!capif_status_.ok()) return capif_status_;     \
  } while (false)

#define CAPIF_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return std::move(tmp).status();     \
  lhs = std::move(tmp).value()

#define ASSIGN_OR_RETURN(lhs, expr) \
  CAPIF_ASSIGN_OR_RETURN_IMPL_(     \
      CAPIF_STATUS_CONCAT_(capif_statusor_, __LINE__), lhs, expr)

#endif  // CAPIF_COMMON_STATUS_MACROS_H_
