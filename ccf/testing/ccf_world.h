// Test fixture: one CCF's northbound APIs in process, on a database under TEST_TMPDIR, with
// helpers that register a provider domain, publish an API and onboard an invoker through the
// real handlers. testonly.
#ifndef CAPIF_CCF_TESTING_CCF_WORLD_H_
#define CAPIF_CCF_TESTING_CCF_WORLD_H_

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "ccf/api/discover_service_api.h"
#include "ccf/api/events_api.h"
#include "ccf/api/invoker_management_api.h"
#include "ccf/api/logging_api.h"
#include "ccf/api/provider_management_api.h"
#include "ccf/api/publish_service_api.h"
#include "ccf/api/security_api.h"
#include "ccf/core/local_ccf_state.h"
#include "ccf/core/token_keyring.h"
#include "ccf/store/provider_registry.h"
#include "ccf/store/remote_grants.h"
#include "ccf/store/security_contexts.h"
#include "ccf/store/service_apis.h"
#include "ccf/store/sql_stores.h"
#include "ccf/store/used_assertions.h"
#include "common/fake_clock.h"
#include "common/key_encryption_key.h"

namespace capif {

class CcfWorld {
 public:
  // `name` makes the database path unique (use the test name).
  explicit CcfWorld(const std::string& name);

  struct Provider {
    std::string domain_id, amf_id, apf_id, aef_id;
  };
  Provider RegisterProvider();

  // Publishes `api` as `apf_id`; returns the stored description (with apiId).
  nlohmann::json Publish(const std::string& apf_id, const nlohmann::json& api);

  // A minimal valid ServiceAPIDescription for `aef_id`.
  static nlohmann::json SampleApi(const std::string& name, const std::string& aef_id,
                                  nlohmann::json security_methods = {"PSK", "PKI", "OAUTH"});

  struct Invoker {
    std::string id;
    std::string certificate_pem;
    std::string onboarding_secret;
  };
  Invoker OnboardInvoker();

  // A request from the given role/id with a JSON body (null: none).
  RestRequest As(const std::string& kind, const std::string& id,
                 const nlohmann::json& body = nullptr) const;

  static int HttpStatus(const absl::StatusOr<RestResponse>& r);

  // A LocalCcfState configuration over this world's stores.
  LocalCcfState::Config LocalConfig(const std::string& ccf_id);

  static InvokerManagementConfig InvokerConfig(CcfWorld& w);

  FakeClock clock;
  CertificateAuthority ca;
  std::shared_ptr<SqlDatabase> db;
  EventLog events;  // the stores record CAPIF events (ccf/store/event_subscriptions.h)
  SqlInvokerStore invokers;
  SqlEnrollmentTokenStore tokens;
  SqlProviderRegistry providers;
  SqlServiceApis service_apis;
  KeyEncryptionKey kek;  // <TEST_TMPDIR>/<name>/kek, as ccfd keeps it
  std::unique_ptr<SqlSecurityContexts> contexts;
  SqlRemoteGrants grants;
  SqlUsedAssertions used_assertions;
  InvokerManagementApi invoker_api;
  ProviderManagementApi provider_api;
  PublishServiceApi publish_api;
  DiscoverServiceApi discover_api;
  SqlEventSubscriptions subscriptions;
  EventsApi events_api;
  SqlInvocationLogs invocation_logs;
  LoggingApi logging_api;
  EvpKey key;  // every enrolled entity of the fixture uses this key
  std::unique_ptr<TokenKeyring> keyring;
  std::unique_ptr<SecurityApi> security_api;
};

}  // namespace capif

#endif  // CAPIF_CCF_TESTING_CCF_WORLD_H_
