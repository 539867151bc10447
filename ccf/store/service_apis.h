// Service APIs published at this CCF (TS 29.222 ServiceAPIDescription), as typed records indexed
// for the queries the flows make: by APF (Publish API), by name (Discover, peers' shared APIs),
// by AEF and by AEF interface (security method selection, AEF notices).
//
// The members the CCF acts on are typed columns: apiId, the APF, apiName, shareableInfo and,
// per AEF profile, the aefId and its interfaces. `description` is the ServiceAPIDescription as the
// APF published it (with apiId): the CCF answers GET and Discover with exactly that and never
// queries into it; the conversion between the two is ccf/api/publish_service_api.h's.
//
//   SqlServiceApis apis(db);
//   ASSIGN_OR_RETURN(std::vector<ServiceApiRecord> of_aef, apis.WithAef("aef-1"));
//
// Insert() and Replace() check, in their transaction, that the APF is registered and every AEF
// is an AEF of the APF's domain (FailedPrecondition otherwise), so an API never outlives the
// registration it was published under. Errors: AlreadyExists, NotFound (Replace or Delete of an
// API absent or of another APF), FailedPrecondition, Unavailable (busy), Internal. Thread-safe.
#ifndef CAPIF_CCF_STORE_SERVICE_APIS_H_
#define CAPIF_CCF_STORE_SERVICE_APIS_H_

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ccf/store/event_subscriptions.h"
#include "ccf/store/stores.h"
#include "common/sql_database.h"

namespace capif {

struct ServiceApiAef {
  std::string aef_id;
  std::vector<InterfaceAddress> interfaces;  // interfaceDescriptions (empty with domainName)
};

struct ServiceApiRecord {
  std::string api_id;
  std::string apf_id;
  std::string api_name;
  bool shareable = false;                   // shareableInfo.isShareable
  std::vector<std::string> shareable_with;  // shareableInfo.capifProvDoms; empty: any peer
  std::vector<ServiceApiAef> aefs;          // aefProfiles, in order
  std::string description;                  // the ServiceAPIDescription as published
};

class ServiceApiRepository {
 public:
  virtual ~ServiceApiRepository() = default;
  virtual absl::Status Insert(const ServiceApiRecord& api) = 0;
  virtual absl::Status Replace(const ServiceApiRecord& api) = 0;
  virtual absl::StatusOr<std::optional<ServiceApiRecord>> Get(const std::string& api_id) = 0;
  // Ordered by apiId.
  virtual absl::StatusOr<std::vector<ServiceApiRecord>> OfApf(const std::string& apf_id) = 0;
  // Every API, or those named `api_name` when it is not empty. Ordered by apiId.
  virtual absl::StatusOr<std::vector<ServiceApiRecord>> Named(const std::string& api_name) = 0;
  // The APIs with an AEF profile of `aef_id`. Ordered by apiId.
  virtual absl::StatusOr<std::vector<ServiceApiRecord>> WithAef(const std::string& aef_id) = 0;
  // The APIs with an AEF interface equal to `address` (every member compared, absent ones too).
  virtual absl::StatusOr<std::vector<ServiceApiRecord>> WithInterface(
      const InterfaceAddress& address) = 0;
  // The apiName of each API among `api_ids` (unknown ids are skipped). One indexed read per id,
  // for the token paths (no AEF profiles loaded).
  virtual absl::StatusOr<std::set<std::string>> Names(const std::vector<std::string>& api_ids) = 0;
  virtual absl::Status Delete(const std::string& api_id, const std::string& apf_id) = 0;
};

class SqlServiceApis final : public ServiceApiRepository {
 public:
  // With `events`, publishing, updating and unpublishing are SERVICE_API_AVAILABLE / _UPDATE /
  // _UNAVAILABLE events, recorded in the same transaction.
  explicit SqlServiceApis(std::shared_ptr<SqlDatabase> db, const EventLog* events = nullptr)
      : db_(std::move(db)), events_(events) {}
  absl::Status Insert(const ServiceApiRecord& api) override;
  absl::Status Replace(const ServiceApiRecord& api) override;
  absl::StatusOr<std::optional<ServiceApiRecord>> Get(const std::string& api_id) override;
  absl::StatusOr<std::vector<ServiceApiRecord>> OfApf(const std::string& apf_id) override;
  absl::StatusOr<std::vector<ServiceApiRecord>> Named(const std::string& api_name) override;
  absl::StatusOr<std::vector<ServiceApiRecord>> WithAef(const std::string& aef_id) override;
  absl::StatusOr<std::vector<ServiceApiRecord>> WithInterface(
      const InterfaceAddress& address) override;
  absl::StatusOr<std::set<std::string>> Names(const std::vector<std::string>& api_ids) override;
  absl::Status Delete(const std::string& api_id, const std::string& apf_id) override;

 private:
  absl::StatusOr<std::vector<ServiceApiRecord>> Where(const std::string& where,
                                                      const std::vector<SqlValue>& args);
  absl::Status Write(const ServiceApiRecord& api, bool replace);

  std::shared_ptr<SqlDatabase> db_;
  const EventLog* const events_;
};

// Inside a transaction on the CCF database: removes every service API `apf_id` published (each
// a SERVICE_API_UNAVAILABLE event with `events`).
absl::Status DeleteServiceApisOfApfIn(SqlDatabase::Tx& tx, const std::string& apf_id,
                                      const EventLog* events);

}  // namespace capif

#endif  // CAPIF_CCF_STORE_SERVICE_APIS_H_
