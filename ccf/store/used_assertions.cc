#include "ccf/store/used_assertions.h"

#include "common/status_macros.h"

namespace capif {

absl::Status SqliteUsedAssertions::Remember(const std::string& key, absl::Time expires,
                                            absl::Time now) {
  return db_->Transaction([&](SqliteDatabase::Tx& tx) -> absl::Status {
    // A bounded sweep per call keeps the table at about the number of live assertions.
    RETURN_IF_ERROR(tx.Execute(
        "DELETE FROM used_assertions WHERE assertion_key IN (SELECT assertion_key FROM "
        "used_assertions WHERE expires_us < ? ORDER BY expires_us LIMIT 16)",
        {absl::ToUnixMicros(now)}));
    ASSIGN_OR_RETURN(std::vector<SqlRow> rows,
                     tx.Query("SELECT expires_us FROM used_assertions WHERE assertion_key = ?",
                              {key}));
    if (!rows.empty() && SqlInt(rows[0][0]) >= absl::ToUnixMicros(now)) {
      return absl::AlreadyExistsError("the client assertion was already used");
    }
    return tx.Execute(
        "INSERT INTO used_assertions(assertion_key, expires_us) VALUES (?, ?) "
        "ON CONFLICT(assertion_key) DO UPDATE SET expires_us = excluded.expires_us",
        {key, absl::ToUnixMicros(expires)});
  });
}

}  // namespace capif
