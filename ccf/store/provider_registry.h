// API provider domains registered at this CCF (TS 29.222 APIProviderEnrolmentDetails) and their
// functions (AEF, APF, AMF), as typed records.
//
// A domain and its functions change together: Insert() and Replace() write the whole set in one
// transaction, and a function left out of a Replace() is deregistered with the service APIs it
// published (when an APF). Delete() removes the domain, its functions and their service APIs.
// Full replacement: of two concurrent Replace() calls the later one wins entirely.
//
//   SqlProviderRegistry registry(db);
//   ASSIGN_OR_RETURN(std::optional<ProviderFunction> f, registry.GetFunction("aef-1"));
//   if (f && f->role == ProviderRole::kAef) ...
//
// Errors: AlreadyExists (Insert of a known domain or function id), NotFound (Replace or Delete of
// an absent domain; Replace naming a function of another domain), Unavailable (database busy),
// Internal. Thread-safe.
#ifndef CAPIF_CCF_STORE_PROVIDER_REGISTRY_H_
#define CAPIF_CCF_STORE_PROVIDER_REGISTRY_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ccf/store/event_subscriptions.h"
#include "common/sql_database.h"

namespace capif {

enum class ProviderRole { kAef, kApf, kAmf };

// "AEF", "APF", "AMF" (TS 29.222 ApiProviderFuncRole); nullopt for anything else.
absl::string_view ProviderRoleName(ProviderRole role);
std::optional<ProviderRole> ProviderRoleOfName(absl::string_view name);

struct ProviderFunction {
  std::string id;  // apiProvFuncId
  std::string domain_id;
  ProviderRole role = ProviderRole::kAef;
  std::optional<std::string> info;  // apiProvFuncInfo
  std::string public_key_pem;       // regInfo.apiProvPubKey as sent
  std::string certificate_pem;      // regInfo.apiProvCert as issued
};

struct ProviderDomain {
  std::string id;  // apiProvDomId (= registrationId)
  std::optional<std::string> info;                // apiProvDomInfo
  std::optional<std::string> supported_features;  // suppFeat
  std::vector<ProviderFunction> functions;        // in the order last registered
};

class ProviderRegistry {
 public:
  virtual ~ProviderRegistry() = default;
  virtual absl::Status Insert(const ProviderDomain& domain) = 0;
  virtual absl::Status Replace(const ProviderDomain& domain) = 0;
  virtual absl::StatusOr<std::optional<ProviderDomain>> Get(const std::string& domain_id) = 0;
  virtual absl::StatusOr<std::optional<ProviderFunction>> GetFunction(
      const std::string& function_id) = 0;
  virtual absl::Status Delete(const std::string& domain_id) = 0;
};

class SqlProviderRegistry final : public ProviderRegistry {
 public:
  // With `events`, the APIs a removed APF published are SERVICE_API_UNAVAILABLE events.
  explicit SqlProviderRegistry(std::shared_ptr<SqlDatabase> db, const EventLog* events = nullptr)
      : db_(std::move(db)), events_(events) {}
  absl::Status Insert(const ProviderDomain& domain) override;
  absl::Status Replace(const ProviderDomain& domain) override;
  absl::StatusOr<std::optional<ProviderDomain>> Get(const std::string& domain_id) override;
  absl::StatusOr<std::optional<ProviderFunction>> GetFunction(
      const std::string& function_id) override;
  absl::Status Delete(const std::string& domain_id) override;

 private:
  std::shared_ptr<SqlDatabase> db_;
  const EventLog* const events_;
};

}  // namespace capif

#endif  // CAPIF_CCF_STORE_PROVIDER_REGISTRY_H_
