// One-time conversion of the JSON documents older ccfd versions kept in the `resources` table
// (security contexts, peers' invokers' grants, offboarding tombstones) into the typed tables of
// schema version 7. Runs at every open and finds nothing to do once done; each document is
// written as records before it is removed, and writing one again is harmless, so a crash half-way
// is finished at the next open. AEFPSKs found in
// plaintext are sealed under the key-encryption key. Grants converted this way count as
// confirmed (they predate leases). An unreadable document is left in place and logged.
#ifndef CAPIF_CCF_STORE_LEGACY_RESOURCES_H_
#define CAPIF_CCF_STORE_LEGACY_RESOURCES_H_

#include <memory>

#include "absl/status/statusor.h"
#include "common/key_encryption_key.h"
#include "common/sql_database.h"

namespace capif {

// Returns how many documents were converted.
absl::StatusOr<int> MigrateLegacyResources(const std::shared_ptr<SqlDatabase>& db,
                                           const KeyEncryptionKey& kek);

}  // namespace capif

#endif  // CAPIF_CCF_STORE_LEGACY_RESOURCES_H_
