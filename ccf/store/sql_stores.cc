#include "ccf/store/sql_stores.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "ccf/store/event_subscriptions.h"
#include "common/file_io.h"
#include "common/postgres_database.h"
#include "common/sqlite_database.h"
#include "common/status_macros.h"

namespace capif {

const std::vector<std::string>& CcfSchema() {
  static const std::vector<std::string>* const kSchema = new std::vector<std::string>{
      // 1: onboarded invokers and enrollment tokens.
      "CREATE TABLE invokers ("
      "  api_invoker_id TEXT PRIMARY KEY,"
      "  enrolment_json TEXT NOT NULL,"
      "  certificate_pem TEXT NOT NULL,"
      "  secret_salt BLOB NOT NULL,"
      "  secret_digest BLOB NOT NULL,"
      "  created_at INTEGER NOT NULL);"
      "CREATE TABLE enrollment_tokens ("
      "  token_digest BLOB PRIMARY KEY,"
      "  expires_at INTEGER NOT NULL);",
      // 2: TS 29.222 resources as JSON documents.
      "CREATE TABLE resources ("
      "  kind TEXT NOT NULL,"
      "  id TEXT NOT NULL,"
      "  owner TEXT NOT NULL,"
      "  json TEXT NOT NULL,"
      "  PRIMARY KEY (kind, id));"
      "CREATE INDEX resources_by_owner ON resources(owner);",
      // 3: enrollment tokens for provider registration too.
      "ALTER TABLE enrollment_tokens ADD COLUMN purpose TEXT NOT NULL DEFAULT 'invoker';",
      // 4: token-signing keys (ES256), newest signs, all unretired ones verify.
      "CREATE TABLE signing_keys ("
      "  kid TEXT PRIMARY KEY,"
      "  private_key_pem BLOB NOT NULL,"
      "  created_at INTEGER NOT NULL);",
      // 5: durable outbox of notices to peers and AEFs (solution #17), retried until acknowledged.
      "CREATE TABLE outbox ("
      "  notice_id TEXT PRIMARY KEY,"
      "  destination TEXT NOT NULL,"
      "  kind TEXT NOT NULL,"
      "  payload BLOB NOT NULL,"
      "  created_at INTEGER NOT NULL,"
      "  attempts INTEGER NOT NULL DEFAULT 0,"
      "  next_attempt_ms INTEGER NOT NULL,"
      "  last_error TEXT NOT NULL DEFAULT '');"
      "CREATE INDEX outbox_by_due ON outbox(next_attempt_ms);",
      // 6: the last good trust bundle of each peer and the state of its refresh.
      "CREATE TABLE peer_bundles ("
      "  ccf_id TEXT PRIMARY KEY,"
      "  status_json TEXT NOT NULL);",
      // 7: typed security state (security contexts and their entries, peers' invokers' grants,
      // offboarding tombstones, used client-assertion ids) instead of JSON documents in
      // `resources`; times in microseconds; AEFPSKs sealed under the key-encryption key. Rows of
      // the old kinds are converted at open (MigrateLegacyResources), since sealing needs the key.
      "CREATE TABLE security_contexts ("
      "  api_invoker_id TEXT PRIMARY KEY,"
      "  notification_destination TEXT NOT NULL,"
      "  supported_features TEXT,"
      "  request_test_notification INTEGER,"
      "  websocket_uri TEXT,"
      "  request_websocket_uri INTEGER,"
      "  created_us INTEGER NOT NULL,"
      "  version INTEGER NOT NULL);"
      "CREATE TABLE security_entries ("
      "  api_invoker_id TEXT NOT NULL,"
      "  position INTEGER NOT NULL,"
      "  aef_id TEXT NOT NULL,"
      "  by_interface INTEGER NOT NULL,"
      "  if_ipv4 TEXT, if_ipv6 TEXT, if_fqdn TEXT, if_port INTEGER, if_api_prefix TEXT,"
      "  api_id TEXT,"
      "  pref_methods TEXT NOT NULL,"
      "  sel_method TEXT NOT NULL,"
      "  remote_ccf_id TEXT NOT NULL,"
      "  remote_api_name TEXT NOT NULL,"
      "  psk_sealed BLOB NOT NULL,"
      "  psk_expires_us INTEGER NOT NULL,"
      "  authorized_us INTEGER NOT NULL,"
      "  PRIMARY KEY (api_invoker_id, position));"
      "CREATE INDEX security_entries_by_aef ON security_entries(aef_id);"
      "CREATE TABLE security_entry_apis ("
      "  api_invoker_id TEXT NOT NULL,"
      "  position INTEGER NOT NULL,"
      "  ordinal INTEGER NOT NULL,"
      "  api_id TEXT NOT NULL,"
      "  PRIMARY KEY (api_invoker_id, position, api_id));"
      "CREATE INDEX security_entry_apis_by_api ON security_entry_apis(api_id);"
      "CREATE TABLE remote_grants ("
      "  home_ccf_id TEXT NOT NULL,"
      "  api_invoker_id TEXT NOT NULL,"
      "  aef_id TEXT NOT NULL,"
      "  api_id TEXT NOT NULL,"
      "  sel_method TEXT NOT NULL,"
      "  granted_us INTEGER NOT NULL,"
      "  lease_until_us INTEGER,"  // NULL: confirmed by the home CCF
      "  PRIMARY KEY (api_invoker_id, aef_id, api_id, home_ccf_id));"
      "CREATE INDEX remote_grants_by_aef ON remote_grants(aef_id);"
      "CREATE INDEX remote_grants_by_lease ON remote_grants(lease_until_us);"
      "CREATE TABLE offboarded_invokers ("
      "  home_ccf_id TEXT NOT NULL,"
      "  api_invoker_id TEXT NOT NULL,"
      "  notice_id TEXT NOT NULL,"
      "  occurred_at INTEGER NOT NULL,"
      "  received_us INTEGER NOT NULL,"
      "  PRIMARY KEY (home_ccf_id, api_invoker_id));"
      "CREATE TABLE used_assertions ("
      "  assertion_key TEXT PRIMARY KEY,"
      "  expires_us INTEGER NOT NULL);"
      "CREATE INDEX used_assertions_by_expiry ON used_assertions(expires_us);",
      // 8: token-signing private keys sealed with the key-encryption key (aad
      // "signing_keys/<kid>"); private_key_pem stays empty (TokenKeyring seals old rows).
      "ALTER TABLE signing_keys ADD COLUMN sealed_key BLOB;",
      // 9: typed API provider domains, their functions and published service APIs (indexed by
      // APF, name, AEF and AEF interface), and typed enrolment details of invokers, instead of
      // JSON documents. Old documents are converted at open (ccf/api/legacy_documents.h).
      "CREATE TABLE provider_domains ("
      "  dom_id TEXT PRIMARY KEY,"
      "  info TEXT,"
      "  supported_features TEXT);"
      "CREATE TABLE provider_functions ("
      "  func_id TEXT PRIMARY KEY,"
      "  dom_id TEXT NOT NULL,"
      "  position INTEGER NOT NULL,"
      "  role TEXT NOT NULL,"
      "  info TEXT,"
      "  public_key_pem TEXT NOT NULL,"
      "  certificate_pem TEXT NOT NULL);"
      "CREATE INDEX provider_functions_by_domain ON provider_functions(dom_id, position);"
      "CREATE TABLE service_apis ("
      "  api_id TEXT PRIMARY KEY,"
      "  apf_id TEXT NOT NULL,"
      "  api_name TEXT NOT NULL,"
      "  shareable INTEGER NOT NULL,"
      "  description TEXT NOT NULL);"
      "CREATE INDEX service_apis_by_apf ON service_apis(apf_id);"
      "CREATE INDEX service_apis_by_name ON service_apis(api_name);"
      "CREATE TABLE service_api_shares ("
      "  api_id TEXT NOT NULL,"
      "  ordinal INTEGER NOT NULL,"
      "  prov_dom TEXT NOT NULL,"
      "  PRIMARY KEY (api_id, ordinal));"
      "CREATE TABLE service_api_aefs ("
      "  api_id TEXT NOT NULL,"
      "  position INTEGER NOT NULL,"
      "  aef_id TEXT NOT NULL,"
      "  PRIMARY KEY (api_id, position));"
      "CREATE INDEX service_api_aefs_by_aef ON service_api_aefs(aef_id);"
      "CREATE TABLE service_api_interfaces ("
      "  api_id TEXT NOT NULL,"
      "  position INTEGER NOT NULL,"
      "  ordinal INTEGER NOT NULL,"
      "  aef_id TEXT NOT NULL,"
      "  if_ipv4 TEXT, if_ipv6 TEXT, if_fqdn TEXT, if_port INTEGER, if_api_prefix TEXT,"
      "  address_key TEXT NOT NULL,"
      "  PRIMARY KEY (api_id, position, ordinal));"
      "CREATE INDEX service_api_interfaces_by_address ON service_api_interfaces(address_key);"
      "ALTER TABLE invokers ADD COLUMN public_key_pem TEXT;"
      "ALTER TABLE invokers ADD COLUMN notification_destination TEXT;"
      "ALTER TABLE invokers ADD COLUMN request_test_notification INTEGER;"
      "ALTER TABLE invokers ADD COLUMN websocket_uri TEXT;"
      "ALTER TABLE invokers ADD COLUMN request_websocket_uri INTEGER;"
      "ALTER TABLE invokers ADD COLUMN api_invoker_information TEXT;"
      "ALTER TABLE invokers ADD COLUMN supported_features TEXT;"
      "ALTER TABLE invokers ADD COLUMN api_list TEXT;",
      // 10: the invoker each notice is about, and dead letters (given up after an age).
      "ALTER TABLE outbox ADD COLUMN api_invoker_id TEXT NOT NULL DEFAULT '';"
      "ALTER TABLE outbox ADD COLUMN dead_at_ms INTEGER NOT NULL DEFAULT 0;"
      "DROP INDEX outbox_by_due;"
      "CREATE INDEX outbox_by_due ON outbox(dead_at_ms, next_attempt_ms);"
      "CREATE INDEX outbox_by_destination ON outbox(destination, dead_at_ms);",
      // 11: claims on notices (one dispatcher at a time delivers a notice, also across
      // replicas): until when a dispatcher holds it (0 = unclaimed), and which replica.
      "ALTER TABLE outbox ADD COLUMN claimed_until_ms INTEGER NOT NULL DEFAULT 0;"
      "ALTER TABLE outbox ADD COLUMN claimed_by TEXT NOT NULL DEFAULT '';",
      // 12: CAPIF event subscriptions (ccf/store/event_subscriptions.h), matched by event name
      // (expires_at_ms 0: no monDur; reports_left -1: no maxReportNbr), the peers' notices
      // already applied (their SharedApiChange repeats tell subscribers nothing twice), and the
      // AEFs' invocation logs (ccf/store/invocation_logs.h), and the peers' invokers an AEF here
      // revoked (ccf/store/remote_grants.h).
      "CREATE TABLE event_subscriptions ("
      "  subscription_id TEXT PRIMARY KEY,"
      "  subscriber_id TEXT NOT NULL,"
      "  subscriber_kind TEXT NOT NULL,"
      "  body TEXT NOT NULL,"
      "  notification_destination TEXT NOT NULL,"
      "  expires_at_ms INTEGER NOT NULL,"
      "  reports_left INTEGER NOT NULL,"
      "  created_at INTEGER NOT NULL);"
      "CREATE INDEX event_subscriptions_by_subscriber ON event_subscriptions(subscriber_id);"
      "CREATE TABLE event_subscription_events ("
      "  subscription_id TEXT NOT NULL,"
      "  position INTEGER NOT NULL,"
      "  event TEXT NOT NULL,"
      "  filter_json TEXT,"
      "  PRIMARY KEY (subscription_id, position));"
      "CREATE INDEX event_subscription_events_by_event ON event_subscription_events(event);"
      "CREATE TABLE received_peer_notices ("
      "  peer_ccf_id TEXT NOT NULL,"
      "  notice_id TEXT NOT NULL,"
      "  received_at INTEGER NOT NULL,"
      "  PRIMARY KEY (peer_ccf_id, notice_id));"
      "CREATE INDEX received_peer_notices_by_age ON received_peer_notices(received_at);"
      "CREATE TABLE invocation_logs ("
      "  log_id TEXT NOT NULL,"
      "  position INTEGER NOT NULL,"
      "  aef_id TEXT NOT NULL,"
      "  api_invoker_id TEXT NOT NULL,"
      "  api_id TEXT NOT NULL,"
      "  api_name TEXT NOT NULL,"
      "  api_version TEXT NOT NULL,"
      "  resource_name TEXT NOT NULL,"
      "  protocol TEXT NOT NULL,"
      "  operation TEXT,"
      "  result TEXT NOT NULL,"
      "  invocation_time_ms INTEGER,"
      "  src_interface TEXT,"
      "  dest_interface TEXT,"
      "  entry_json TEXT NOT NULL,"
      "  received_at INTEGER NOT NULL,"
      "  PRIMARY KEY (log_id, position));"
      "CREATE INDEX invocation_logs_by_aef ON invocation_logs(aef_id, invocation_time_ms);"
      "CREATE INDEX invocation_logs_by_age ON invocation_logs(received_at);"
      "CREATE TABLE revoked_by_aef ("
      "  api_invoker_id TEXT NOT NULL,"
      "  aef_id TEXT NOT NULL,"
      "  revoked_us INTEGER NOT NULL,"
      "  PRIMARY KEY (api_invoker_id, aef_id));",
  };
  return *kSchema;
}

const std::vector<std::string>& PostgresCcfSchema() {
  // The SQLite schema at version 10 in PostgreSQL's types: INTEGER -> BIGINT, BLOB -> BYTEA.
  // Without the JSON `resources` table of old versions (a PostgreSQL database never had
  // one) and with signing_keys.rowid, the insertion order SQLite gives every table.
  static const std::vector<std::string>* const kSchema = new std::vector<std::string>{
      // 1: everything SQLite's steps 1-10 built.
      "CREATE TABLE invokers ("
      "  api_invoker_id TEXT PRIMARY KEY,"
      "  enrolment_json TEXT NOT NULL DEFAULT '',"
      "  certificate_pem TEXT NOT NULL,"
      "  secret_salt BYTEA NOT NULL,"
      "  secret_digest BYTEA NOT NULL,"
      "  created_at BIGINT NOT NULL,"
      "  public_key_pem TEXT,"
      "  notification_destination TEXT,"
      "  request_test_notification BIGINT,"
      "  websocket_uri TEXT,"
      "  request_websocket_uri BIGINT,"
      "  api_invoker_information TEXT,"
      "  supported_features TEXT,"
      "  api_list TEXT);"
      "CREATE TABLE enrollment_tokens ("
      "  token_digest BYTEA PRIMARY KEY,"
      "  expires_at BIGINT NOT NULL,"
      "  purpose TEXT NOT NULL DEFAULT 'invoker');"
      "CREATE TABLE signing_keys ("
      "  kid TEXT PRIMARY KEY,"
      "  private_key_pem BYTEA NOT NULL,"
      "  created_at BIGINT NOT NULL,"
      "  sealed_key BYTEA,"
      "  rowid BIGINT GENERATED ALWAYS AS IDENTITY);"
      "CREATE TABLE outbox ("
      "  notice_id TEXT PRIMARY KEY,"
      "  destination TEXT NOT NULL,"
      "  kind TEXT NOT NULL,"
      "  payload BYTEA NOT NULL,"
      "  created_at BIGINT NOT NULL,"
      "  attempts BIGINT NOT NULL DEFAULT 0,"
      "  next_attempt_ms BIGINT NOT NULL,"
      "  last_error TEXT NOT NULL DEFAULT '',"
      "  api_invoker_id TEXT NOT NULL DEFAULT '',"
      "  dead_at_ms BIGINT NOT NULL DEFAULT 0);"
      "CREATE INDEX outbox_by_due ON outbox(dead_at_ms, next_attempt_ms);"
      "CREATE INDEX outbox_by_destination ON outbox(destination, dead_at_ms);"
      "CREATE TABLE peer_bundles ("
      "  ccf_id TEXT PRIMARY KEY,"
      "  status_json TEXT NOT NULL);"
      "CREATE TABLE security_contexts ("
      "  api_invoker_id TEXT PRIMARY KEY,"
      "  notification_destination TEXT NOT NULL,"
      "  supported_features TEXT,"
      "  request_test_notification BIGINT,"
      "  websocket_uri TEXT,"
      "  request_websocket_uri BIGINT,"
      "  created_us BIGINT NOT NULL,"
      "  version BIGINT NOT NULL);"
      "CREATE TABLE security_entries ("
      "  api_invoker_id TEXT NOT NULL,"
      "  position BIGINT NOT NULL,"
      "  aef_id TEXT NOT NULL,"
      "  by_interface BIGINT NOT NULL,"
      "  if_ipv4 TEXT, if_ipv6 TEXT, if_fqdn TEXT, if_port BIGINT, if_api_prefix TEXT,"
      "  api_id TEXT,"
      "  pref_methods TEXT NOT NULL,"
      "  sel_method TEXT NOT NULL,"
      "  remote_ccf_id TEXT NOT NULL,"
      "  remote_api_name TEXT NOT NULL,"
      "  psk_sealed BYTEA NOT NULL,"
      "  psk_expires_us BIGINT NOT NULL,"
      "  authorized_us BIGINT NOT NULL,"
      "  PRIMARY KEY (api_invoker_id, position));"
      "CREATE INDEX security_entries_by_aef ON security_entries(aef_id);"
      "CREATE TABLE security_entry_apis ("
      "  api_invoker_id TEXT NOT NULL,"
      "  position BIGINT NOT NULL,"
      "  ordinal BIGINT NOT NULL,"
      "  api_id TEXT NOT NULL,"
      "  PRIMARY KEY (api_invoker_id, position, api_id));"
      "CREATE INDEX security_entry_apis_by_api ON security_entry_apis(api_id);"
      "CREATE TABLE remote_grants ("
      "  home_ccf_id TEXT NOT NULL,"
      "  api_invoker_id TEXT NOT NULL,"
      "  aef_id TEXT NOT NULL,"
      "  api_id TEXT NOT NULL,"
      "  sel_method TEXT NOT NULL,"
      "  granted_us BIGINT NOT NULL,"
      "  lease_until_us BIGINT,"
      "  PRIMARY KEY (api_invoker_id, aef_id, api_id, home_ccf_id));"
      "CREATE INDEX remote_grants_by_aef ON remote_grants(aef_id);"
      "CREATE INDEX remote_grants_by_lease ON remote_grants(lease_until_us);"
      "CREATE TABLE offboarded_invokers ("
      "  home_ccf_id TEXT NOT NULL,"
      "  api_invoker_id TEXT NOT NULL,"
      "  notice_id TEXT NOT NULL,"
      "  occurred_at BIGINT NOT NULL,"
      "  received_us BIGINT NOT NULL,"
      "  PRIMARY KEY (home_ccf_id, api_invoker_id));"
      "CREATE TABLE used_assertions ("
      "  assertion_key TEXT PRIMARY KEY,"
      "  expires_us BIGINT NOT NULL);"
      "CREATE INDEX used_assertions_by_expiry ON used_assertions(expires_us);"
      "CREATE TABLE provider_domains ("
      "  dom_id TEXT PRIMARY KEY,"
      "  info TEXT,"
      "  supported_features TEXT);"
      "CREATE TABLE provider_functions ("
      "  func_id TEXT PRIMARY KEY,"
      "  dom_id TEXT NOT NULL,"
      "  position BIGINT NOT NULL,"
      "  role TEXT NOT NULL,"
      "  info TEXT,"
      "  public_key_pem TEXT NOT NULL,"
      "  certificate_pem TEXT NOT NULL);"
      "CREATE INDEX provider_functions_by_domain ON provider_functions(dom_id, position);"
      "CREATE TABLE service_apis ("
      "  api_id TEXT PRIMARY KEY,"
      "  apf_id TEXT NOT NULL,"
      "  api_name TEXT NOT NULL,"
      "  shareable BIGINT NOT NULL,"
      "  description TEXT NOT NULL);"
      "CREATE INDEX service_apis_by_apf ON service_apis(apf_id);"
      "CREATE INDEX service_apis_by_name ON service_apis(api_name);"
      "CREATE TABLE service_api_shares ("
      "  api_id TEXT NOT NULL,"
      "  ordinal BIGINT NOT NULL,"
      "  prov_dom TEXT NOT NULL,"
      "  PRIMARY KEY (api_id, ordinal));"
      "CREATE TABLE service_api_aefs ("
      "  api_id TEXT NOT NULL,"
      "  position BIGINT NOT NULL,"
      "  aef_id TEXT NOT NULL,"
      "  PRIMARY KEY (api_id, position));"
      "CREATE INDEX service_api_aefs_by_aef ON service_api_aefs(aef_id);"
      "CREATE TABLE service_api_interfaces ("
      "  api_id TEXT NOT NULL,"
      "  position BIGINT NOT NULL,"
      "  ordinal BIGINT NOT NULL,"
      "  aef_id TEXT NOT NULL,"
      "  if_ipv4 TEXT, if_ipv6 TEXT, if_fqdn TEXT, if_port BIGINT, if_api_prefix TEXT,"
      "  address_key TEXT NOT NULL,"
      "  PRIMARY KEY (api_id, position, ordinal));"
      "CREATE INDEX service_api_interfaces_by_address ON service_api_interfaces(address_key);",
      // 2: as SQLite's step 11, claims on notices.
      "ALTER TABLE outbox ADD COLUMN claimed_until_ms BIGINT NOT NULL DEFAULT 0;"
      "ALTER TABLE outbox ADD COLUMN claimed_by TEXT NOT NULL DEFAULT '';",
      // 3: as SQLite's step 12, CAPIF event subscriptions.
      "CREATE TABLE event_subscriptions ("
      "  subscription_id TEXT PRIMARY KEY,"
      "  subscriber_id TEXT NOT NULL,"
      "  subscriber_kind TEXT NOT NULL,"
      "  body TEXT NOT NULL,"
      "  notification_destination TEXT NOT NULL,"
      "  expires_at_ms BIGINT NOT NULL,"
      "  reports_left BIGINT NOT NULL,"
      "  created_at BIGINT NOT NULL);"
      "CREATE INDEX event_subscriptions_by_subscriber ON event_subscriptions(subscriber_id);"
      "CREATE TABLE event_subscription_events ("
      "  subscription_id TEXT NOT NULL,"
      "  position BIGINT NOT NULL,"
      "  event TEXT NOT NULL,"
      "  filter_json TEXT,"
      "  PRIMARY KEY (subscription_id, position));"
      "CREATE INDEX event_subscription_events_by_event ON event_subscription_events(event);"
      "CREATE TABLE received_peer_notices ("
      "  peer_ccf_id TEXT NOT NULL,"
      "  notice_id TEXT NOT NULL,"
      "  received_at BIGINT NOT NULL,"
      "  PRIMARY KEY (peer_ccf_id, notice_id));"
      "CREATE INDEX received_peer_notices_by_age ON received_peer_notices(received_at);"
      "CREATE TABLE invocation_logs ("
      "  log_id TEXT NOT NULL,"
      "  position BIGINT NOT NULL,"
      "  aef_id TEXT NOT NULL,"
      "  api_invoker_id TEXT NOT NULL,"
      "  api_id TEXT NOT NULL,"
      "  api_name TEXT NOT NULL,"
      "  api_version TEXT NOT NULL,"
      "  resource_name TEXT NOT NULL,"
      "  protocol TEXT NOT NULL,"
      "  operation TEXT,"
      "  result TEXT NOT NULL,"
      "  invocation_time_ms BIGINT,"
      "  src_interface TEXT,"
      "  dest_interface TEXT,"
      "  entry_json TEXT NOT NULL,"
      "  received_at BIGINT NOT NULL,"
      "  PRIMARY KEY (log_id, position));"
      "CREATE INDEX invocation_logs_by_aef ON invocation_logs(aef_id, invocation_time_ms);"
      "CREATE INDEX invocation_logs_by_age ON invocation_logs(received_at);"
      "CREATE TABLE revoked_by_aef ("
      "  api_invoker_id TEXT NOT NULL,"
      "  aef_id TEXT NOT NULL,"
      "  revoked_us BIGINT NOT NULL,"
      "  PRIMARY KEY (api_invoker_id, aef_id));",
  };
  return *kSchema;
}

absl::StatusOr<std::shared_ptr<SqlDatabase>> OpenCcfStorage(const StorageConfig& storage,
                                                           const std::string& data_dir) {
  if (!storage.postgres) return OpenCcfDatabase(data_dir);
  // The key-encryption key and the admin socket live in data_dir on either backend.
  absl::Status dir = MakeDirectories(data_dir, 0700);
  if (!dir.ok()) return dir;
  auto db = PostgresDatabase::Open(*storage.postgres, PostgresCcfSchema());
  if (!db.ok()) return db.status();
  return std::shared_ptr<SqlDatabase>(*std::move(db));
}

absl::StatusOr<std::shared_ptr<SqlDatabase>> OpenCcfDatabase(const std::string& data_dir) {
  absl::Status dir = MakeDirectories(data_dir, 0700);
  if (!dir.ok()) return dir;
  auto db = SqliteDatabase::Open(absl::StrCat(data_dir, "/ccf.db"), CcfSchema());
  if (!db.ok()) return db.status();
  return std::shared_ptr<SqlDatabase>(*std::move(db));
}

namespace {

std::vector<SqlValue> InvokerColumnsOf(const InvokerRecord& r) {
  return {r.public_key_pem,
          r.certificate_pem,
          r.notification_destination,
          OptBool(r.request_test_notification),
          OptText(r.websocket_uri),
          OptBool(r.request_websocket_uri),
          OptText(r.api_invoker_information),
          OptText(r.supported_features),
          OptText(r.api_list),
          SqlBlob{r.secret_salt},
          SqlBlob{r.secret_digest}};
}

}  // namespace

absl::Status SqlInvokerStore::Insert(const InvokerRecord& r) {
  std::vector<SqlValue> values = InvokerColumnsOf(r);
  values.push_back(absl::ToUnixSeconds(r.created));
  values.push_back(r.id.value());
  return db_->Transaction([&](SqlDatabase::Tx& tx) -> absl::Status {
    RETURN_IF_ERROR(tx.Execute(
        "INSERT INTO invokers(public_key_pem, certificate_pem, notification_destination, "
        "request_test_notification, websocket_uri, request_websocket_uri, "
        "api_invoker_information, supported_features, api_list, secret_salt, secret_digest, "
        "created_at, api_invoker_id, enrolment_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
        "?, ?, '')",
        values));
    if (events_ == nullptr) return absl::OkStatus();
    return events_->RecordIn(tx, InvokerEvent(kEventInvokerOnboarded, r.id.value()));
  });
}

absl::Status SqlInvokerStore::Update(const InvokerRecord& r) {
  return db_->Transaction([&](SqlDatabase::Tx& tx) -> absl::Status {
    std::vector<SqlValue> values = InvokerColumnsOf(r);
    values.push_back(r.id.value());
    absl::Status s = tx.Execute(
        "UPDATE invokers SET public_key_pem = ?, certificate_pem = ?, "
        "notification_destination = ?, request_test_notification = ?, websocket_uri = ?, "
        "request_websocket_uri = ?, api_invoker_information = ?, supported_features = ?, "
        "api_list = ?, secret_salt = ?, secret_digest = ?, enrolment_json = '' "
        "WHERE api_invoker_id = ?",
        values);
    if (!s.ok()) return s;
    if (tx.changes() == 0) return absl::NotFoundError("no such invoker");
    if (events_ == nullptr) return absl::OkStatus();
    return events_->RecordIn(tx, InvokerEvent(kEventInvokerUpdated, r.id.value()));
  });
}

absl::StatusOr<std::optional<InvokerRecord>> SqlInvokerStore::Get(const ApiInvokerId& id) {
  auto rows = db_->Query(
      "SELECT public_key_pem, certificate_pem, notification_destination, "
      "request_test_notification, websocket_uri, request_websocket_uri, "
      "api_invoker_information, supported_features, api_list, secret_salt, secret_digest, "
      "created_at FROM invokers WHERE api_invoker_id = ?",
      {id.value()});
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::optional<InvokerRecord>();
  const SqlRow& row = (*rows)[0];
  InvokerRecord r;
  r.id = id;
  r.public_key_pem = SqlText(row[0]);
  r.certificate_pem = SqlText(row[1]);
  r.notification_destination = SqlText(row[2]);
  r.request_test_notification = BoolOrNull(row[3]);
  r.websocket_uri = TextOrNull(row[4]);
  r.request_websocket_uri = BoolOrNull(row[5]);
  r.api_invoker_information = TextOrNull(row[6]);
  r.supported_features = TextOrNull(row[7]);
  r.api_list = TextOrNull(row[8]);
  r.secret_salt = SqlBytes(row[9]);
  r.secret_digest = SqlBytes(row[10]);
  r.created = absl::FromUnixSeconds(SqlInt(row[11]));
  return std::optional<InvokerRecord>(std::move(r));
}

SqlValue OptText(const std::optional<std::string>& v) {
  return v ? SqlValue(*v) : SqlValue(SqlNull{});
}
SqlValue OptInt(const std::optional<int64_t>& v) { return v ? SqlValue(*v) : SqlValue(SqlNull{}); }
SqlValue OptBool(const std::optional<bool>& v) {
  return v ? SqlValue(int64_t{*v ? 1 : 0}) : SqlValue(SqlNull{});
}
std::optional<std::string> TextOrNull(const SqlValue& v) {
  if (std::holds_alternative<SqlNull>(v)) return std::nullopt;
  return SqlText(v);
}
std::optional<int64_t> IntOrNull(const SqlValue& v) {
  if (std::holds_alternative<SqlNull>(v)) return std::nullopt;
  return SqlInt(v);
}
std::optional<bool> BoolOrNull(const SqlValue& v) {
  if (std::holds_alternative<SqlNull>(v)) return std::nullopt;
  return SqlInt(v) != 0;
}

int64_t ToUnixMicrosOrZero(absl::Time t) {
  return t == absl::InfinitePast() ? 0 : absl::ToUnixMicros(t);
}

absl::Time FromUnixMicrosOrPast(int64_t us) {
  return us == 0 ? absl::InfinitePast() : absl::FromUnixMicros(us);
}

absl::Status DeleteSecurityContextIn(SqlDatabase::Tx& tx, const std::string& api_invoker_id) {
  for (const char* table : {"security_entry_apis", "security_entries", "security_contexts"}) {
    absl::Status s = tx.Execute(absl::StrCat("DELETE FROM ", table, " WHERE api_invoker_id = ?"),
                                {api_invoker_id});
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status EnqueueNoticesIn(SqlDatabase::Tx& tx, const std::vector<OutboundNotice>& notices) {
  for (const OutboundNotice& n : notices) {
    if (n.kind == kNoticeEventOccurrence) {  // not a notice: the notifications it causes
      ASSIGN_OR_RETURN(CapifEventOccurrence e, OccurrenceOfNotice(n));
      RETURN_IF_ERROR(RecordEventAtIn(tx, e, n.created));
      continue;
    }
    absl::Status s = tx.Execute(
        "INSERT INTO outbox(notice_id, destination, kind, payload, created_at, "
        "next_attempt_ms, api_invoker_id) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        {n.notice_id, n.destination, n.kind, SqlBlob{n.payload}, absl::ToUnixSeconds(n.created),
         absl::ToUnixMillis(n.created), n.api_invoker_id});
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status SqlInvokerStore::Delete(const ApiInvokerId& id,
                                     const std::vector<OutboundNotice>& notices,
                                     int64_t context_version) {
  return db_->Transaction([&](SqlDatabase::Tx& tx) -> absl::Status {
    auto ctx = tx.Query("SELECT version FROM security_contexts WHERE api_invoker_id = ?",
                        {id.value()});
    if (!ctx.ok()) return ctx.status();
    if ((ctx->empty() ? 0 : SqlInt((*ctx)[0][0])) != context_version) {
      return absl::AbortedError("the invoker's security context changed meanwhile");
    }
    absl::Status s = tx.Execute("DELETE FROM invokers WHERE api_invoker_id = ?", {id.value()});
    if (!s.ok()) return s;
    if (tx.changes() == 0) return absl::NotFoundError("no such invoker");
    // Everything derived from the invoker (its security context and keys) goes with it.
    s = DeleteSecurityContextIn(tx, id.value());
    if (!s.ok()) return s;
    if (events_ != nullptr) {
      // Told to its own subscriptions too, which then end.
      RETURN_IF_ERROR(events_->RecordIn(tx, InvokerEvent(kEventInvokerOffboarded, id.value())));
      RETURN_IF_ERROR(DeleteSubscriptionsOfIn(tx, id.value()));
    }
    return EnqueueNoticesIn(tx, notices);
  });
}

absl::Status SqlNoticeOutbox::Enqueue(const std::vector<OutboundNotice>& notices) {
  return db_->Transaction([&](SqlDatabase::Tx& tx) { return EnqueueNoticesIn(tx, notices); });
}

namespace {

constexpr char kOutboxColumns[] =
    "SELECT notice_id, destination, kind, payload, created_at, attempts, next_attempt_ms, "
    "last_error, api_invoker_id, dead_at_ms FROM outbox ";

std::vector<OutboundNotice> NoticesOf(const std::vector<SqlRow>& rows) {
  std::vector<OutboundNotice> out;
  for (const SqlRow& row : rows) {
    OutboundNotice n;
    n.notice_id = SqlText(row[0]);
    n.destination = SqlText(row[1]);
    n.kind = SqlText(row[2]);
    n.payload = SqlBytes(row[3]);
    n.created = absl::FromUnixSeconds(SqlInt(row[4]));
    n.attempts = static_cast<int>(SqlInt(row[5]));
    n.next_attempt = absl::FromUnixMillis(SqlInt(row[6]));
    n.last_error = SqlText(row[7]);
    n.api_invoker_id = SqlText(row[8]);
    if (SqlInt(row[9]) != 0) n.dead_since = absl::FromUnixMillis(SqlInt(row[9]));
    out.push_back(std::move(n));
  }
  return out;
}

}  // namespace

absl::StatusOr<std::vector<OutboundNotice>> SqlNoticeOutbox::Claim(absl::Time now, int limit,
                                                                   absl::Time lease_until) {
  std::vector<OutboundNotice> out;
  const int64_t now_ms = absl::ToUnixMillis(now);
  RETURN_IF_ERROR(db_->Transaction([&](SqlDatabase::Tx& tx) -> absl::Status {
    // PostgreSQL: rows another replica is claiming right now are skipped, not waited for.
    ASSIGN_OR_RETURN(
        std::vector<SqlRow> rows,
        tx.Query(absl::StrCat(kOutboxColumns,
                              "WHERE dead_at_ms = 0 AND next_attempt_ms <= ? AND "
                              "claimed_until_ms <= ? ORDER BY next_attempt_ms, created_at LIMIT ?",
                              db_->dialect() == SqlDatabase::Dialect::kPostgres
                                  ? " FOR UPDATE SKIP LOCKED"
                                  : ""),
                 {now_ms, now_ms, int64_t{limit}}));
    out = NoticesOf(rows);
    for (const OutboundNotice& n : out) {
      RETURN_IF_ERROR(
          tx.Execute("UPDATE outbox SET claimed_until_ms = ?, claimed_by = ? WHERE notice_id = ?",
                     {absl::ToUnixMillis(lease_until), claimer_, n.notice_id}));
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::Status SqlNoticeOutbox::Release(const std::string& notice_id) {
  return db_->Execute("UPDATE outbox SET claimed_until_ms = 0 WHERE notice_id = ?", {notice_id});
}

absl::Status SqlNoticeOutbox::ReleaseOwnClaims() {
  return db_->Execute(
      "UPDATE outbox SET claimed_until_ms = 0 WHERE claimed_by = ? AND claimed_until_ms <> 0",
      {claimer_});
}

absl::Status SqlNoticeOutbox::Delivered(const std::string& notice_id) {
  return db_->Execute("DELETE FROM outbox WHERE notice_id = ?", {notice_id});
}

absl::Status SqlNoticeOutbox::Failed(const std::string& notice_id, absl::Time next_attempt,
                                     const std::string& error) {
  return db_->Execute(
      "UPDATE outbox SET attempts = attempts + 1, next_attempt_ms = ?, last_error = ?, "
      "claimed_until_ms = 0 WHERE notice_id = ?",
      {absl::ToUnixMillis(next_attempt), error.substr(0, 500), notice_id});
}

namespace {

int64_t MillisOrZero(absl::Time t) {
  return t == absl::InfinitePast() ? 0 : absl::ToUnixMillis(t);
}
absl::Time TimeOrPast(int64_t ms) {
  return ms == 0 ? absl::InfinitePast() : absl::FromUnixMillis(ms);
}

}  // namespace

absl::StatusOr<std::map<std::string, PeerBundleStatus>> SqlPeerBundleStore::LoadAll() {
  auto rows = db_->Query("SELECT ccf_id, status_json FROM peer_bundles");
  if (!rows.ok()) return rows.status();
  std::map<std::string, PeerBundleStatus> out;
  for (const SqlRow& row : *rows) {
    nlohmann::json j = nlohmann::json::parse(SqlText(row[1]), nullptr, false);
    if (!j.is_object()) continue;  // unreadable: as if never fetched
    PeerBundleStatus s;
    s.last_attempt = TimeOrPast(j.value("last_attempt_ms", int64_t{0}));
    s.last_error = j.value("last_error", "");
    s.failures = j.value("failures", 0);
    s.next_refresh = TimeOrPast(j.value("next_refresh_ms", int64_t{0}));
    if (j.contains("bundle") && j["bundle"].is_object()) {
      const nlohmann::json& b = j["bundle"];
      HeldBundle h;
      h.sequence = b.value("sequence", uint64_t{0});
      h.root_ca_pems = b.value("root_ca_pems", std::vector<std::string>{});
      h.jwks_json = b.value("jwks_json", "");
      h.refresh_hint_seconds = b.value("refresh_hint_seconds", 0u);
      h.fetched_at = TimeOrPast(b.value("fetched_at_ms", int64_t{0}));
      s.last_good = std::move(h);
    }
    out[SqlText(row[0])] = std::move(s);
  }
  return out;
}

absl::Status SqlPeerBundleStore::Save(const std::string& ccf_id, const PeerBundleStatus& s) {
  nlohmann::json j = {{"last_attempt_ms", MillisOrZero(s.last_attempt)},
                      {"last_error", s.last_error},
                      {"failures", s.failures},
                      {"next_refresh_ms", MillisOrZero(s.next_refresh)}};
  if (s.last_good) {
    j["bundle"] = {{"sequence", s.last_good->sequence},
                   {"root_ca_pems", s.last_good->root_ca_pems},
                   {"jwks_json", s.last_good->jwks_json},
                   {"refresh_hint_seconds", s.last_good->refresh_hint_seconds},
                   {"fetched_at_ms", MillisOrZero(s.last_good->fetched_at)}};
  }
  return db_->Execute(
      "INSERT INTO peer_bundles(ccf_id, status_json) VALUES (?, ?) "
      "ON CONFLICT(ccf_id) DO UPDATE SET status_json = excluded.status_json",
      {ccf_id, j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)});
}

absl::Status SqlNoticeOutbox::Postpone(const std::string& destination, absl::Time next_attempt) {
  return db_->Execute(
      "UPDATE outbox SET next_attempt_ms = ? WHERE destination = ? AND dead_at_ms = 0 AND "
      "next_attempt_ms < ?",
      {absl::ToUnixMillis(next_attempt), destination, absl::ToUnixMillis(next_attempt)});
}

absl::StatusOr<std::vector<OutboundNotice>> SqlNoticeOutbox::DeadLetter(absl::Time created_before,
                                                                        absl::Time now) {
  std::vector<OutboundNotice> out;
  absl::Status s = db_->Transaction([&](SqlDatabase::Tx& tx) -> absl::Status {
    auto rows = tx.Query(absl::StrCat(kOutboxColumns,
                                      "WHERE dead_at_ms = 0 AND created_at < ? "
                                      "ORDER BY created_at, notice_id"),
                         {absl::ToUnixSeconds(created_before)});
    if (!rows.ok()) return rows.status();
    out = NoticesOf(*rows);
    for (OutboundNotice& n : out) n.dead_since = now;
    return tx.Execute("UPDATE outbox SET dead_at_ms = ? WHERE dead_at_ms = 0 AND created_at < ?",
                      {std::max<int64_t>(1, absl::ToUnixMillis(now)),
                       absl::ToUnixSeconds(created_before)});
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::vector<OutboundNotice>> SqlNoticeOutbox::Pending() {
  auto rows = db_->Query(absl::StrCat(kOutboxColumns, "ORDER BY created_at, notice_id"));
  if (!rows.ok()) return rows.status();
  return NoticesOf(*rows);
}

namespace {
std::string PurposeName(EnrollmentPurpose p) {
  return p == EnrollmentPurpose::kInvoker ? "invoker" : "provider";
}
}  // namespace

absl::Status SqlEnrollmentTokenStore::Add(const std::string& token_digest,
                                          EnrollmentPurpose purpose, absl::Time expires) {
  return db_->Execute(
      "INSERT INTO enrollment_tokens(token_digest, purpose, expires_at) VALUES (?, ?, ?)",
      {SqlBlob{token_digest}, PurposeName(purpose), absl::ToUnixSeconds(expires)});
}

absl::Status SqlEnrollmentTokenStore::Consume(const std::string& token_digest,
                                              EnrollmentPurpose purpose, absl::Time now) {
  bool expired = false;
  absl::Status s = db_->Transaction([&](SqlDatabase::Tx& tx) -> absl::Status {
    auto rows = tx.Query(
        "SELECT expires_at FROM enrollment_tokens WHERE token_digest = ? AND purpose = ?",
        {SqlBlob{token_digest}, PurposeName(purpose)});
    if (!rows.ok()) return rows.status();
    if (rows->empty()) return absl::UnauthenticatedError("unknown enrollment token");
    absl::Status s =
        tx.Execute("DELETE FROM enrollment_tokens WHERE token_digest = ?", {SqlBlob{token_digest}});
    if (!s.ok()) return s;
    // Also sweep tokens that expired long ago, so the table stays small.
    s = tx.Execute("DELETE FROM enrollment_tokens WHERE expires_at < ?",
                   {absl::ToUnixSeconds(now) - 86400});
    if (!s.ok()) return s;
    expired = absl::FromUnixSeconds(SqlInt((*rows)[0][0])) <= now;
    return absl::OkStatus();  // commit: an expired token is removed as well
  });
  if (s.ok() && expired) return absl::UnauthenticatedError("expired enrollment token");
  return s;
}

}  // namespace capif
