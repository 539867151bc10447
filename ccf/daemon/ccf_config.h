// ccfd configuration: a JSON file naming this CCF, its CAPIF-6/6e bus endpoint and credentials,
// and its peers. Documented field by field in docs/configuration.md; example in ccf/examples/.
//
//   ASSIGN_OR_RETURN(CcfConfig config, LoadCcfConfig("/etc/capif/ccf-a.json"));
//
// Relative file paths are resolved against the configuration file's directory. Every file named
// is read and checked at load time (certificate matches key and identity, bundles are CA
// certificates), so a bad configuration stops start-up instead of failing at the first call.
// Errors: InvalidArgument "<field path>: <reason>" (e.g. "peers[1].trust_bundle: ..."); unknown
// fields are errors too, so a typo cannot silently drop a setting. Thread-compatible.
#ifndef CAPIF_CCF_DAEMON_CCF_CONFIG_H_
#define CAPIF_CCF_DAEMON_CCF_CONFIG_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "ccf/store/sql_stores.h"
#include "common/certificate_authority.h"
#include "net/https_server.h"
#include "federation/bus_server.h"
#include "federation/peer.h"

namespace capif {

// The TS 29.222 northbound (HTTPS). Optional: without it ccfd serves only the bus.
struct NorthboundConfig {
  std::string listen_address;         // host:port; port 0 picks a free port
  std::string certificate_chain_pem;  // leaf first; may be the bus certificate
  SecretBytes private_key_pem;
  std::string api_root;  // e.g. "https://ccf-a.example:8441"; "" = https://<bound address>
  // Roots, besides this domain's CA, that may sign the certificate of an event subscription's
  // notificationDestination (northbound.event_destination_roots, a PEM file; "" = none).
  std::string event_destination_roots_pem;
  // Limits of the HTTPS server (net/https_server.h, docs/configuration.md), its defaults unless
  // configured; host and port come from listen_address.
  HttpsServer::Options server;
};

// Security policy of the northbound (the "security" section; every member optional).
struct SecurityPolicy {
  // TS 33.122 CAPIF-2e methods in the order this CCF prefers them when several are possible.
  std::vector<std::string> method_priority = {"PSK", "PKI", "OAUTH"};
  absl::Duration token_validity = absl::Hours(1);
  absl::Duration aef_psk_validity = absl::Hours(24);
  absl::Duration certificate_validity = absl::Hours(24 * 90);
};

struct CcfConfig {
  BusIdentity bus_identity;
  std::string listen_address;  // host:port; port 0 picks a free port
  std::vector<Peer> peers;
  // Where cross-domain decisions are recorded (JSON lines); "" = standard error.
  std::string audit_log;
  // Offboarding/revocation notices to peers and AEFs (durable outbox): the first retry after
  // this, doubling up to notice_retry_max between attempts.
  absl::Duration notice_retry_initial = absl::Milliseconds(500);
  absl::Duration notice_retry_max = absl::Seconds(30);
  // A notice not acknowledged after this long is given up (a dead letter: kept, shown by
  // `capifctl notices` and the metrics, never tried again).
  absl::Duration notice_dead_letter_after = absl::Hours(24 * 7);
  // How long a dispatcher pass holds the notices it takes: another replica delivers them after
  // this if the replica that took them dies (bus.notice_lease_ms).
  absl::Duration notice_lease = absl::Seconds(30);
  // The bus server's limits: bus.handshake_timeout_ms, max_calls_per_peer,
  // max_streams_per_connection, idle_timeout_ms, keepalive_ms, listener_check_ms.
  BusServerOptions bus_server;
  // At most this many new ownership fan-outs (#14) a second (bus.ownership_fanouts_per_second).
  double ownership_fanouts_per_second = 20;
  std::optional<NorthboundConfig> northbound;
  // host:port of the Prometheus metrics endpoint (plain HTTP, ccf/metrics.h); "" = none.
  std::string metrics_listen;
  // The domain CA that certifies onboarded invokers and registered API provider functions.
  // Required with the northbound.
  std::shared_ptr<const CertificateAuthority> ca;
  // Where the CCF keeps its key-encryption key, its admin socket and (with SQLite storage) its
  // database. Required with the northbound.
  std::string data_dir;
  // SQLite in data_dir (default) or PostgreSQL (several replicas on one database).
  StorageConfig storage;
  SecurityPolicy security;
};

absl::StatusOr<CcfConfig> LoadCcfConfig(const std::string& path);

// `base_dir` resolves relative paths.
absl::StatusOr<CcfConfig> ParseCcfConfig(absl::string_view json_text, const std::string& base_dir);

}  // namespace capif

#endif  // CAPIF_CCF_DAEMON_CCF_CONFIG_H_
