// Security contexts (TS 29.222 ServiceSecurity) of this CCF's invokers, as
// typed records.
//
// One StoredSecurityContext per onboarded invoker, holding its entries: one per
// securityInfo element the invoker asked for, each naming one AEF (this CCF's,
// or a peer's AEF whose CCF selected the method, TR 33.700-22 #12), the
// selected method, the API ids it authorizes and, for PSK, the AEFPSK. The
// AEFPSK is a SecretBytes in memory and sealed (AES-256-GCM under the
// key-encryption key, bound to its row) in the database, never JSON.
//
// Changes are compare-and-swap on `version`: read a context, do whatever is
// needed (peer calls included, outside any transaction), then Write() it back
// naming the version read. If someone changed it meanwhile, Write() answers
// Aborted and changes nothing: read again and redo, or answer 409. Notices
// (outbox) passed to a write are enqueued in the same transaction.
//
//   ASSIGN_OR_RETURN(auto repo, SqlSecurityContexts::Create(db, kek));
//   ASSIGN_OR_RETURN(std::optional<StoredSecurityContext> ctx, repo->Get("inv-1"));
//   ctx->entries.pop_back();
//   absl::Status s = repo->Write(*ctx, ctx->version, {});  // Aborted: lost a race, retry
//
// Errors: Aborted (version changed), NotFound (Delete of an absent context),
// Unavailable (database busy), DataLoss (a sealed AEFPSK does not open: wrong
// key-encryption key), Internal. Thread-safe.
#ifndef CAPIF_CCF_STORE_SECURITY_CONTEXTS_H_
#define CAPIF_CCF_STORE_SECURITY_CONTEXTS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "ccf/store/stores.h"
#include "common/key_encryption_key.h"
#include "common/secret_bytes.h"
#include "common/sql_database.h"

namespace capif {

struct SecurityEntry {
  std::string aef_id;
  // How the invoker named the AEF: by interface (else by aefId).
  std::optional<InterfaceAddress> interface_details;
  // The apiId of the entry (as asked, or the only API it covers).
  std::optional<std::string> api_id;
  std::vector<std::string> pref_methods;
  std::string selected_method;  // PSK, PKI or OAUTH
  // The service APIs of the AEF this entry authorizes (authorizationInfo). Never empty.
  std::vector<std::string> api_ids;
  // A peer's AEF: the CCF that selected the method, and the API's name (for #24 tokens).
  std::string remote_ccf_id;  // empty for this CCF's AEFs
  std::string remote_api_name;
  SecretBytes aef_psk;  // PSK only
  absl::Time psk_expires = absl::InfinitePast();
  // When this authorization was made (microseconds kept): tokens issued before it do not count.
  absl::Time authorized_at = absl::InfinitePast();

  bool is_remote() const { return !remote_ccf_id.empty(); }
};

// A revocation of some APIs in a security context: each entry `selects` picks loses the API
// ids `revokes` names (an entry covering several keeps the others, and names its API when one
// is left); an entry left with none goes. Returns the API ids removed; *changed says whether
// any picked entry lost an API or went.
std::set<std::string> RevokeApis(std::vector<SecurityEntry>& entries,
                                 const std::function<bool(const SecurityEntry&)>& selects,
                                 const std::function<bool(const std::string&)>& revokes,
                                 bool* changed);

// (Not "SecurityContext": sdk/invoker has its own, and a binary linking both
// must not see two definitions of one name.)
struct StoredSecurityContext {
  std::string api_invoker_id;
  std::string notification_destination;
  std::optional<std::string> supported_features;
  std::optional<bool> request_test_notification;
  std::optional<std::string> websocket_uri;  // websockNotifConfig
  std::optional<bool> request_websocket_uri;
  absl::Time created = absl::InfinitePast();
  int64_t version = 0;  // 0: not stored yet
  std::vector<SecurityEntry> entries;
};

// One entry and the invoker it belongs to (queries by AEF or API).
struct InvokerEntry {
  std::string api_invoker_id;
  SecurityEntry entry;
};

class SecurityContextRepository {
 public:
  virtual ~SecurityContextRepository() = default;

  virtual absl::StatusOr<std::optional<StoredSecurityContext>> Get(
      const std::string& api_invoker_id) = 0;

  // Creates (expected_version 0) or replaces the context if its stored version is still
  // `expected_version`; enqueues `notices` with it. Returns the new version.
  virtual absl::StatusOr<int64_t> Write(
      const StoredSecurityContext& context, int64_t expected_version,
      const std::vector<OutboundNotice>& notices) = 0;

  // Deletes the context if its version is still `expected_version`, with `notices`.
  virtual absl::Status Delete(const std::string& api_invoker_id, int64_t expected_version,
                              const std::vector<OutboundNotice>& notices) = 0;

  // Every entry naming `aef_id`, ordered by invoker.
  virtual absl::StatusOr<std::vector<InvokerEntry>> EntriesOfAef(const std::string& aef_id) = 0;
  // Every entry authorizing `api_id`, ordered by invoker.
  virtual absl::StatusOr<std::vector<InvokerEntry>> EntriesOfApi(const std::string& api_id) = 0;
};

class SqlSecurityContexts final : public SecurityContextRepository {
 public:
  static absl::StatusOr<std::unique_ptr<SqlSecurityContexts>> Create(
      std::shared_ptr<SqlDatabase> db, KeyEncryptionKey kek);

  absl::StatusOr<std::optional<StoredSecurityContext>> Get(
      const std::string& api_invoker_id) override;
  absl::StatusOr<int64_t> Write(
      const StoredSecurityContext& context, int64_t expected_version,
      const std::vector<OutboundNotice>& notices) override;
  absl::Status Delete(const std::string& api_invoker_id, int64_t expected_version,
                      const std::vector<OutboundNotice>& notices) override;
  absl::StatusOr<std::vector<InvokerEntry>> EntriesOfAef(const std::string& aef_id) override;
  absl::StatusOr<std::vector<InvokerEntry>> EntriesOfApi(const std::string& api_id) override;

 private:
  SqlSecurityContexts(std::shared_ptr<SqlDatabase> db, KeyEncryptionKey kek)
      : db_(std::move(db)), kek_(std::move(kek)) {}
  absl::StatusOr<std::vector<InvokerEntry>> EntriesWhere(const std::string& where,
                                                         const std::string& value);

  std::shared_ptr<SqlDatabase> db_;
  const KeyEncryptionKey kek_;
};

}  // namespace capif

#endif  // CAPIF_CCF_STORE_SECURITY_CONTEXTS_H_
