// Validates JSON documents against the official TS 29.222 OpenAPI schemas (by running
// interop-tests/schema/validate.py with Debian's python3-jsonschema). testonly.
//
//   EXPECT_TRUE(MatchesSpec(body, "TS29222_CAPIF_Security_API.yaml#/components/schemas/ServiceSecurity").ok());
//
// The specs are read from $CAPIF_SPECS_DIR, else from ../shared/specs/ts29222-rel18 beside the
// workspace (found through the runfile symlink of validate.py). FailedPrecondition if neither
// exists; InvalidArgument with the validator's findings when the document does not match.
#ifndef CAPIF_INTEROP_TESTS_SCHEMA_CHECK_H_
#define CAPIF_INTEROP_TESTS_SCHEMA_CHECK_H_

#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"

namespace capif {

absl::Status MatchesSpec(const nlohmann::json& document, const std::string& schema_ref);

}  // namespace capif

#endif  // CAPIF_INTEROP_TESTS_SCHEMA_CHECK_H_
