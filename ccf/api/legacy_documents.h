// One-time conversion of the TS 29.222 JSON documents older ccfd versions stored (schema version
// 8 and before) into the typed records of version 9: API provider domains and their functions,
// published service APIs (from the `resources` table) and invokers' enrolment details (the
// `enrolment_json` column). Runs at every open and finds nothing to do once done; each document
// is written as a record before it is removed, and converting one again is harmless, so a crash
// half-way is finished at the next open. An unreadable document is left in place and logged.
#ifndef CAPIF_CCF_API_LEGACY_DOCUMENTS_H_
#define CAPIF_CCF_API_LEGACY_DOCUMENTS_H_

#include <memory>

#include "absl/status/statusor.h"
#include "ccf/store/provider_registry.h"
#include "ccf/store/service_apis.h"
#include "ccf/store/stores.h"
#include "common/sql_database.h"

namespace capif {

// Returns how many documents were converted.
absl::StatusOr<int> ConvertLegacyDocuments(const std::shared_ptr<SqlDatabase>& db,
                                           ProviderRegistry& providers,
                                           ServiceApiRepository& service_apis,
                                           InvokerStore& invokers);

}  // namespace capif

#endif  // CAPIF_CCF_API_LEGACY_DOCUMENTS_H_
