#include "ccf/daemon/ccf_config.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/evp_key.h"
#include "common/file_io.h"
#include "common/status_macros.h"
#include "common/x509_cert.h"

namespace capif {
namespace {

using nlohmann::json;
namespace fv1 = capif::federation::v1;

absl::Status FieldError(absl::string_view field, absl::string_view reason) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", reason));
}

// Rejects members of `obj` not in `known`.
absl::Status CheckKnownFields(const json& obj, absl::string_view where,
                              const std::set<std::string>& known) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    if (known.count(it.key()) == 0) {
      return FieldError(absl::StrCat(where, where.empty() ? "" : ".", it.key()),
                        "unknown field");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<const json*> Member(const json& obj, absl::string_view where, const char* name,
                                   bool required) {
  std::string field = absl::StrCat(where, where.empty() ? "" : ".", name);
  auto it = obj.find(name);
  if (it == obj.end()) {
    if (required) return FieldError(field, "is required");
    return nullptr;
  }
  return &*it;
}

absl::StatusOr<std::string> StringField(const json& obj, absl::string_view where,
                                        const char* name, bool required = true) {
  ASSIGN_OR_RETURN(const json* v, Member(obj, where, name, required));
  if (v == nullptr) return std::string();
  if (!v->is_string() || v->get_ref<const std::string&>().empty()) {
    return FieldError(absl::StrCat(where, where.empty() ? "" : ".", name),
                      "must be a non-empty string");
  }
  return v->get<std::string>();
}

absl::StatusOr<uint64_t> UintField(const json& obj, absl::string_view where, const char* name,
                                   uint64_t default_value, uint64_t max) {
  ASSIGN_OR_RETURN(const json* v, Member(obj, where, name, false));
  if (v == nullptr) return default_value;
  if (!v->is_number_unsigned() || v->get<uint64_t>() > max) {
    return FieldError(absl::StrCat(where, where.empty() ? "" : ".", name),
                      absl::StrCat("must be a whole number from 0 to ", max));
  }
  return v->get<uint64_t>();
}

std::string Resolve(const std::string& base_dir, const std::string& path) {
  if (path.empty() || path[0] == '/' || base_dir.empty()) return path;
  return absl::StrCat(base_dir, "/", path);
}

absl::StatusOr<std::string> ReadNamedFile(const std::string& base_dir, const std::string& path,
                                          absl::string_view field) {
  auto content = ReadFile(Resolve(base_dir, path));
  if (!content.ok()) return FieldError(field, content.status().message());
  return *content;
}

absl::StatusOr<TrustBundle> LoadBundle(const std::string& base_dir, const json& obj,
                                       absl::string_view where, const char* name) {
  std::string field = absl::StrCat(where, ".", name);
  ASSIGN_OR_RETURN(std::string path, StringField(obj, where, name));
  ASSIGN_OR_RETURN(std::string pem, ReadNamedFile(base_dir, path, field));
  auto bundle = TrustBundle::FromPem(pem);
  if (!bundle.ok()) return FieldError(field, bundle.status().message());
  return *std::move(bundle);
}

// "host:port" with a numeric port; IPv6 hosts in brackets.
bool IsHostPort(const std::string& s) {
  size_t colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  int port = 0;
  if (!absl::SimpleAtoi(s.substr(colon + 1), &port) || port < 0 || port > 65535) return false;
  return true;
}

absl::Status ParseIdentity(const json& root, absl::string_view where, CcfId* ccf_id,
                           TrustDomain* td) {
  ASSIGN_OR_RETURN(std::string id, StringField(root, where, "ccf_id"));
  ASSIGN_OR_RETURN(std::string domain, StringField(root, where, "trust_domain"));
  std::string prefix = absl::StrCat(where, where.empty() ? "" : ".");
  if (!IsValidIdSegment(id)) {
    return FieldError(prefix + "ccf_id", "must be 1-128 characters of [A-Za-z0-9._-]");
  }
  if (!IsValidTrustDomain(domain)) {
    return FieldError(prefix + "trust_domain",
                      "must be 1-255 characters of lower-case letters, digits, '.', '-', '_'");
  }
  *ccf_id = CcfId(id);
  *td = TrustDomain(domain);
  return absl::OkStatus();
}

absl::StatusOr<Agreement> ParseAgreement(const json& peer, const std::string& where) {
  Agreement agreement;
  ASSIGN_OR_RETURN(const json* a, Member(peer, where, "agreement", false));
  if (a == nullptr) return agreement;  // only Hello and GetTrustBundle: nothing shared
  std::string field = where + ".agreement";
  if (!a->is_object()) return FieldError(field, "must be an object");
  RETURN_IF_ERROR(CheckKnownFields(*a, field, {"operations", "shared_apis", "cross_domain_tokens"}));
  ASSIGN_OR_RETURN(std::string tokens, StringField(*a, field, "cross_domain_tokens", false));
  if (tokens == "issued-by-home-ccf") {
    agreement.home_issues_tokens = true;
  } else if (!tokens.empty() && tokens != "issued-by-aef-ccf") {
    return FieldError(field + ".cross_domain_tokens",
                      "must be \"issued-by-aef-ccf\" (default) or \"issued-by-home-ccf\"");
  }
  if (a->contains("operations")) {
    const json& ops = (*a)["operations"];
    if (!ops.is_array()) return FieldError(field + ".operations", "must be an array of names");
    for (size_t i = 0; i < ops.size(); ++i) {
      fv1::Operation op;
      if (!ops[i].is_string() || !ParseOperationName(ops[i].get<std::string>(), &op)) {
        return FieldError(absl::StrCat(field, ".operations[", i, "]"),
                          "unknown operation (see docs/configuration.md for the list)");
      }
      agreement.operations.insert(op);
    }
  }
  if (a->contains("shared_apis")) {
    const json& apis = (*a)["shared_apis"];
    if (!apis.is_array()) return FieldError(field + ".shared_apis", "must be an array of names");
    for (size_t i = 0; i < apis.size(); ++i) {
      if (!apis[i].is_string() || apis[i].get_ref<const std::string&>().empty()) {
        return FieldError(absl::StrCat(field, ".shared_apis[", i, "]"),
                          "must be a non-empty string");
      }
      agreement.shared_apis.push_back(apis[i].get<std::string>());
    }
  }
  return agreement;
}

absl::StatusOr<Peer> ParsePeer(const json& p, size_t index, const std::string& base_dir) {
  std::string where = absl::StrCat("peers[", index, "]");
  if (!p.is_object()) return FieldError(where, "must be an object");
  RETURN_IF_ERROR(CheckKnownFields(
      p, where,
      {"ccf_id", "trust_domain", "endpoint", "endpoints", "trust_bundle", "relation", "agreement"}));
  CcfId id;
  TrustDomain td;
  RETURN_IF_ERROR(ParseIdentity(p, where, &id, &td));
  // "endpoint": "host:port", or "endpoints": [...] for a peer run as several replicas.
  std::vector<std::string> endpoints;
  if (p.contains("endpoints")) {
    if (p.contains("endpoint")) {
      return FieldError(where + ".endpoints", "cannot be given with \"endpoint\"");
    }
    const json& list = p.at("endpoints");
    if (!list.is_array() || list.empty() || list.size() > 16) {
      return FieldError(where + ".endpoints", "must be an array of 1 to 16 host:port strings");
    }
    for (size_t i = 0; i < list.size(); ++i) {
      std::string field = absl::StrCat(where, ".endpoints[", i, "]");
      if (!list[i].is_string() || !IsHostPort(list[i].get<std::string>())) {
        return FieldError(field, "must be host:port");
      }
      std::string e = list[i].get<std::string>();
      if (std::find(endpoints.begin(), endpoints.end(), e) != endpoints.end()) {
        return FieldError(field, "is listed twice");
      }
      endpoints.push_back(std::move(e));
    }
  } else {
    ASSIGN_OR_RETURN(std::string endpoint, StringField(p, where, "endpoint"));
    if (!IsHostPort(endpoint)) return FieldError(where + ".endpoint", "must be host:port");
    endpoints.push_back(std::move(endpoint));
  }
  ASSIGN_OR_RETURN(TrustBundle bundle, LoadBundle(base_dir, p, where, "trust_bundle"));
  ASSIGN_OR_RETURN(std::string relation, StringField(p, where, "relation"));
  PeerRelation rel;
  if (relation == "CAPIF-6") {
    rel = PeerRelation::kCapif6;
  } else if (relation == "CAPIF-6e") {
    rel = PeerRelation::kCapif6e;
  } else {
    return FieldError(where + ".relation", "must be \"CAPIF-6\" or \"CAPIF-6e\"");
  }
  ASSIGN_OR_RETURN(Agreement agreement, ParseAgreement(p, where));
  return Peer{std::move(id),
              std::move(td),
              endpoints[0],
              std::move(bundle),
              rel,
              std::move(agreement),
              std::vector<std::string>(endpoints.begin() + 1, endpoints.end())};
}

absl::Status CheckCertificateAndKey(BusIdentity& id) {
  auto chain = X509Cert::ChainFromPem(id.certificate_chain_pem);
  if (!chain.ok()) return FieldError("bus.certificate", chain.status().message());
  const X509Cert& leaf = (*chain)[0];
  std::vector<std::string> uris = leaf.UriSans();
  std::string expected = id.identity().ToString();
  if (uris.size() != 1 || uris[0] != expected) {
    return FieldError("bus.certificate",
                      absl::StrCat("must carry exactly one URI SAN, ", expected,
                                   " (ccf_id and trust_domain of this file)"));
  }
  auto key = EvpKey::FromPrivateKeyPem(id.private_key_pem);
  if (!key.ok()) return FieldError("bus.private_key", key.status().message());
  auto cert_key = leaf.PublicKey();
  if (!cert_key.ok() || !cert_key->PublicKeyEquals(*key)) {
    return FieldError("bus.private_key", "does not match bus.certificate");
  }
  return absl::OkStatus();
}

absl::StatusOr<SecretBytes> ReadKeyFile(const std::string& base_dir, const json& obj,
                                        absl::string_view where, const char* name) {
  std::string field = absl::StrCat(where, ".", name);
  ASSIGN_OR_RETURN(std::string path, StringField(obj, where, name));
  ASSIGN_OR_RETURN(std::string pem, ReadNamedFile(base_dir, path, field));
  SecretBytes key(pem);
  std::fill(pem.begin(), pem.end(), '\0');
  return key;
}

absl::Status ParseSecurity(const json& root, SecurityPolicy& policy) {
  ASSIGN_OR_RETURN(const json* sec, Member(root, "", "security", false));
  if (sec == nullptr) return absl::OkStatus();
  if (!sec->is_object()) return FieldError("security", "must be an object");
  RETURN_IF_ERROR(CheckKnownFields(*sec, "security",
                                   {"method_priority", "token_validity_seconds",
                                    "aef_psk_validity_seconds", "certificate_validity_days"}));
  if (sec->contains("method_priority")) {
    const json& m = (*sec)["method_priority"];
    std::set<std::string> seen;
    bool ok = m.is_array() && !m.empty();
    for (const json& x : m) {
      ok = ok && x.is_string() && (x == "PSK" || x == "PKI" || x == "OAUTH") &&
           seen.insert(x.get<std::string>()).second;
    }
    if (!ok) {
      return FieldError("security.method_priority",
                        "must list some of PSK, PKI, OAUTH, each at most once");
    }
    policy.method_priority = m.get<std::vector<std::string>>();
  }
  ASSIGN_OR_RETURN(uint64_t token, UintField(*sec, "security", "token_validity_seconds", 3600, 86400));
  ASSIGN_OR_RETURN(uint64_t psk, UintField(*sec, "security", "aef_psk_validity_seconds", 86400,
                                           30 * 86400));
  ASSIGN_OR_RETURN(uint64_t days, UintField(*sec, "security", "certificate_validity_days", 90, 3650));
  if (token < 60) return FieldError("security.token_validity_seconds", "must be at least 60");
  if (psk < 60) return FieldError("security.aef_psk_validity_seconds", "must be at least 60");
  if (days < 1) return FieldError("security.certificate_validity_days", "must be at least 1");
  policy.token_validity = absl::Seconds(token);
  policy.aef_psk_validity = absl::Seconds(psk);
  policy.certificate_validity = absl::Hours(24 * days);
  return absl::OkStatus();
}

// An unsigned field of `section` within [min, max], `default_value` when absent.
absl::StatusOr<uint64_t> RangedField(const json& obj, const std::string& section, const char* name,
                                     uint64_t default_value, uint64_t min, uint64_t max) {
  absl::StatusOr<uint64_t> v = UintField(obj, section, name, default_value, max);
  if (v.ok() && *v < min) {
    return FieldError(absl::StrCat(section, ".", name), absl::StrCat("must be at least ", min));
  }
  return v;
}

// Milliseconds in the file, `*field` (the server's default) when absent.
absl::Status MillisField(const json& obj, const std::string& section, const char* name,
                         absl::Duration* field, uint64_t min, uint64_t max) {
  ASSIGN_OR_RETURN(uint64_t ms,
                   RangedField(obj, section, name,
                               static_cast<uint64_t>(absl::ToInt64Milliseconds(*field)), min, max));
  *field = absl::Milliseconds(ms);
  return absl::OkStatus();
}

// The bus server's limits (BusServerOptions); each absent key keeps its default.
absl::Status ParseBusLimits(const json& bus, BusServerOptions& options) {
  auto ranged = [&](const char* name, uint64_t default_value, uint64_t min, uint64_t max) {
    return RangedField(bus, "bus", name, default_value, min, max);
  };
  auto millis = [&](const char* name, absl::Duration* field, uint64_t min, uint64_t max) {
    return MillisField(bus, "bus", name, field, min, max);
  };
  RETURN_IF_ERROR(millis("handshake_timeout_ms", &options.handshake_timeout, 100, 600000));
  RETURN_IF_ERROR(millis("idle_timeout_ms", &options.idle_timeout, 1000, 24 * 3600000));
  RETURN_IF_ERROR(millis("keepalive_ms", &options.keepalive, 10000, 24 * 3600000));
  // 0 turns the watchdog off.
  RETURN_IF_ERROR(millis("listener_check_ms", &options.listener_check, 0, 3600000));
  if (options.listener_check > absl::ZeroDuration() &&
      options.listener_check < absl::Seconds(1)) {
    return FieldError("bus.listener_check_ms", "must be 0 (off) or at least 1000");
  }
  ASSIGN_OR_RETURN(uint64_t calls, ranged("max_calls_per_peer", options.max_calls_per_peer, 1,
                                          100000));
  options.max_calls_per_peer = static_cast<int>(calls);
  ASSIGN_OR_RETURN(uint64_t streams, ranged("max_streams_per_connection",
                                            options.max_streams_per_connection, 1, 10000));
  options.max_streams_per_connection = static_cast<int>(streams);
  return absl::OkStatus();
}

// "storage": {"sqlite": {}} (the default) or {"postgres": {"dsn", "pool_size",
// "statement_timeout_ms"}}.
absl::Status ParseStorage(const json& root, StorageConfig& storage) {
  ASSIGN_OR_RETURN(const json* s, Member(root, "", "storage", false));
  if (s == nullptr) return absl::OkStatus();
  if (!s->is_object() || s->size() != 1) {
    return FieldError("storage", "must be an object with one member, \"sqlite\" or \"postgres\"");
  }
  RETURN_IF_ERROR(CheckKnownFields(*s, "storage", {"sqlite", "postgres"}));
  if (const auto it = s->find("sqlite"); it != s->end()) {
    if (!it->is_object() || !it->empty()) return FieldError("storage.sqlite", "must be {}");
    return absl::OkStatus();
  }
  const json& pg = s->at("postgres");
  if (!pg.is_object()) return FieldError("storage.postgres", "must be an object");
  RETURN_IF_ERROR(
      CheckKnownFields(pg, "storage.postgres", {"dsn", "pool_size", "statement_timeout_ms"}));
  PostgresOptions options;
  ASSIGN_OR_RETURN(options.dsn, StringField(pg, "storage.postgres", "dsn"));
  ASSIGN_OR_RETURN(uint64_t pool, RangedField(pg, "storage.postgres", "pool_size",
                                              static_cast<uint64_t>(options.pool_size), 1, 256));
  options.pool_size = static_cast<int>(pool);
  RETURN_IF_ERROR(MillisField(pg, "storage.postgres", "statement_timeout_ms",
                              &options.statement_timeout, 100, 3600000));
  storage.postgres = std::move(options);
  return absl::OkStatus();
}

absl::Status ParseNorthbound(const json& root, const std::string& base_dir, CcfConfig& config) {
  ASSIGN_OR_RETURN(const json* nb, Member(root, "", "northbound", false));
  if (nb == nullptr) {
    if (root.contains("ca") || root.contains("data_dir") || root.contains("storage")) {
      return FieldError("northbound",
                        "is required when \"ca\", \"data_dir\" or \"storage\" is given");
    }
    return absl::OkStatus();
  }
  if (!nb->is_object()) return FieldError("northbound", "must be an object");
  RETURN_IF_ERROR(CheckKnownFields(
      *nb, "northbound",
      {"listen", "certificate", "private_key", "max_body_bytes", "api_root", "max_connections",
       "handshake_timeout_ms", "header_timeout_ms", "body_timeout_ms", "idle_timeout_ms",
       "max_header_bytes", "max_header_count", "worker_threads", "max_queued_requests",
       "event_destination_roots"}));
  NorthboundConfig n;
  ASSIGN_OR_RETURN(n.listen_address, StringField(*nb, "northbound", "listen"));
  if (!IsHostPort(n.listen_address)) return FieldError("northbound.listen", "must be host:port");
  ASSIGN_OR_RETURN(std::string cert_path, StringField(*nb, "northbound", "certificate"));
  ASSIGN_OR_RETURN(n.certificate_chain_pem,
                   ReadNamedFile(base_dir, cert_path, "northbound.certificate"));
  ASSIGN_OR_RETURN(n.private_key_pem, ReadKeyFile(base_dir, *nb, "northbound", "private_key"));
  auto chain = X509Cert::ChainFromPem(n.certificate_chain_pem);
  if (!chain.ok()) return FieldError("northbound.certificate", chain.status().message());
  auto key = EvpKey::FromPrivateKeyPem(n.private_key_pem);
  if (!key.ok()) return FieldError("northbound.private_key", key.status().message());
  auto cert_key = (*chain)[0].PublicKey();
  if (!cert_key.ok() || !cert_key->PublicKeyEquals(*key)) {
    return FieldError("northbound.private_key", "does not match northbound.certificate");
  }
  HttpsServer::Options& server = n.server;
  auto ranged = [&](const char* name, uint64_t default_value, uint64_t min, uint64_t max) {
    return RangedField(*nb, "northbound", name, default_value, min, max);
  };
  auto millis = [&](const char* name, absl::Duration* field, uint64_t min, uint64_t max) {
    return MillisField(*nb, "northbound", name, field, min, max);
  };
  ASSIGN_OR_RETURN(uint64_t max_body, ranged("max_body_bytes", server.max_body_bytes, 1024, 16 << 20));
  server.max_body_bytes = max_body;
  ASSIGN_OR_RETURN(uint64_t max_connections,
                   ranged("max_connections", server.max_connections, 1, 1000000));
  server.max_connections = max_connections;
  RETURN_IF_ERROR(millis("handshake_timeout_ms", &server.handshake_timeout, 100, 600000));
  RETURN_IF_ERROR(millis("header_timeout_ms", &server.header_timeout, 100, 600000));
  RETURN_IF_ERROR(millis("body_timeout_ms", &server.body_timeout, 100, 600000));
  RETURN_IF_ERROR(millis("idle_timeout_ms", &server.idle_timeout, 100, 3600000));
  ASSIGN_OR_RETURN(uint64_t header_bytes,
                   ranged("max_header_bytes", server.max_header_bytes, 1024, 1 << 20));
  server.max_header_bytes = static_cast<uint32_t>(header_bytes);
  ASSIGN_OR_RETURN(uint64_t header_count,
                   ranged("max_header_count", server.max_header_count, 8, 1000));
  server.max_header_count = header_count;
  ASSIGN_OR_RETURN(uint64_t workers,
                   ranged("worker_threads", static_cast<uint64_t>(server.worker_threads), 1, 256));
  server.worker_threads = static_cast<int>(workers);
  ASSIGN_OR_RETURN(uint64_t queued,
                   ranged("max_queued_requests", server.max_queued_requests, 0, 100000));
  server.max_queued_requests = queued;
  ASSIGN_OR_RETURN(n.api_root, StringField(*nb, "northbound", "api_root", false));
  if (!n.api_root.empty() && n.api_root.rfind("https://", 0) != 0) {
    return FieldError("northbound.api_root", "must start with https://");
  }
  ASSIGN_OR_RETURN(std::string roots_path,
                   StringField(*nb, "northbound", "event_destination_roots", false));
  if (!roots_path.empty()) {
    ASSIGN_OR_RETURN(n.event_destination_roots_pem,
                     ReadNamedFile(base_dir, roots_path, "northbound.event_destination_roots"));
    auto roots = X509Cert::ChainFromPem(n.event_destination_roots_pem);
    if (!roots.ok()) {
      return FieldError("northbound.event_destination_roots", roots.status().message());
    }
  }
  config.northbound = std::move(n);

  ASSIGN_OR_RETURN(config.data_dir, StringField(root, "", "data_dir"));
  config.data_dir = Resolve(base_dir, config.data_dir);
  RETURN_IF_ERROR(ParseStorage(root, config.storage));

  ASSIGN_OR_RETURN(const json* ca, Member(root, "", "ca", true));
  if (!ca->is_object()) return FieldError("ca", "must be an object");
  RETURN_IF_ERROR(CheckKnownFields(*ca, "ca", {"certificate", "private_key"}));
  ASSIGN_OR_RETURN(std::string ca_cert_path, StringField(*ca, "ca", "certificate"));
  ASSIGN_OR_RETURN(std::string ca_pem, ReadNamedFile(base_dir, ca_cert_path, "ca.certificate"));
  auto ca_cert = X509Cert::FromPem(ca_pem);
  if (!ca_cert.ok()) return FieldError("ca.certificate", ca_cert.status().message());
  ASSIGN_OR_RETURN(SecretBytes ca_key_pem, ReadKeyFile(base_dir, *ca, "ca", "private_key"));
  auto ca_key = EvpKey::FromPrivateKeyPem(ca_key_pem);
  if (!ca_key.ok()) return FieldError("ca.private_key", ca_key.status().message());
  auto authority = CertificateAuthority::FromCertAndKey(*std::move(ca_cert), *std::move(ca_key));
  if (!authority.ok()) return FieldError("ca", authority.status().message());
  if (authority->trust_domain() != config.bus_identity.trust_domain) {
    return FieldError("ca.certificate", "is not the CA of this CCF's trust_domain");
  }
  config.ca = std::make_shared<const CertificateAuthority>(*std::move(authority));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<CcfConfig> ParseCcfConfig(absl::string_view json_text,
                                         const std::string& base_dir) {
  json root;
  try {
    root = json::parse(json_text.begin(), json_text.end());
  } catch (const json::exception& e) {
    // parse_error, and out_of_range for a number too large for a double (which the parser
    // throws even for an operator's typo): both are a configuration that is not valid JSON.
    return absl::InvalidArgumentError(absl::StrCat("not valid JSON: ", e.what()));
  }
  if (!root.is_object()) return absl::InvalidArgumentError("the configuration must be an object");
  RETURN_IF_ERROR(CheckKnownFields(
      root, "", {"ccf_id", "trust_domain", "bus", "peers", "northbound", "ca", "data_dir",
                 "storage", "security", "metrics"}));
  ASSIGN_OR_RETURN(const json* metrics, Member(root, "", "metrics", false));
  std::string metrics_listen;
  if (metrics != nullptr) {
    if (!metrics->is_object()) return FieldError("metrics", "must be an object");
    RETURN_IF_ERROR(CheckKnownFields(*metrics, "metrics", {"listen"}));
    ASSIGN_OR_RETURN(metrics_listen, StringField(*metrics, "metrics", "listen"));
    if (!IsHostPort(metrics_listen)) return FieldError("metrics.listen", "must be host:port");
  }

  CcfConfig config;
  config.metrics_listen = metrics_listen;
  BusIdentity& id = config.bus_identity;
  RETURN_IF_ERROR(ParseIdentity(root, "", &id.ccf_id, &id.trust_domain));

  ASSIGN_OR_RETURN(const json* bus, Member(root, "", "bus", true));
  if (!bus->is_object()) return FieldError("bus", "must be an object");
  RETURN_IF_ERROR(CheckKnownFields(*bus, "bus",
                                   {"listen", "certificate", "private_key", "trust_bundle",
                                    "bundle_sequence", "bundle_refresh_hint_seconds",
                                    "audit_log", "notice_retry_initial_ms",
                                    "notice_retry_max_ms", "notice_dead_letter_after_s",
                                    "notice_lease_ms",
                                    "handshake_timeout_ms", "max_calls_per_peer",
                                    "max_streams_per_connection", "idle_timeout_ms",
                                    "keepalive_ms", "listener_check_ms",
                                    "ownership_fanouts_per_second"}));
  ASSIGN_OR_RETURN(config.listen_address, StringField(*bus, "bus", "listen"));
  if (!IsHostPort(config.listen_address)) return FieldError("bus.listen", "must be host:port");
  ASSIGN_OR_RETURN(std::string cert_path, StringField(*bus, "bus", "certificate"));
  ASSIGN_OR_RETURN(id.certificate_chain_pem,
                   ReadNamedFile(base_dir, cert_path, "bus.certificate"));
  ASSIGN_OR_RETURN(std::string key_path, StringField(*bus, "bus", "private_key"));
  ASSIGN_OR_RETURN(std::string key_pem, ReadNamedFile(base_dir, key_path, "bus.private_key"));
  id.private_key_pem = SecretBytes(key_pem);
  std::fill(key_pem.begin(), key_pem.end(), '\0');
  ASSIGN_OR_RETURN(id.own_trust_bundle, LoadBundle(base_dir, *bus, "bus", "trust_bundle"));
  ASSIGN_OR_RETURN(id.bundle_sequence,
                   UintField(*bus, "bus", "bundle_sequence", 1, UINT64_MAX >> 1));
  ASSIGN_OR_RETURN(uint64_t hint, UintField(*bus, "bus", "bundle_refresh_hint_seconds", 3600,
                                            7 * 24 * 3600));
  id.bundle_refresh_hint_seconds = static_cast<uint32_t>(hint);
  RETURN_IF_ERROR(CheckCertificateAndKey(id));
  ASSIGN_OR_RETURN(std::string audit, StringField(*bus, "bus", "audit_log", false));
  config.audit_log = audit.empty() ? "" : Resolve(base_dir, audit);
  ASSIGN_OR_RETURN(uint64_t retry_initial,
                   UintField(*bus, "bus", "notice_retry_initial_ms", 500, 3600 * 1000));
  ASSIGN_OR_RETURN(uint64_t retry_max,
                   UintField(*bus, "bus", "notice_retry_max_ms", 30000, 24 * 3600 * 1000));
  if (retry_initial < 10) return FieldError("bus.notice_retry_initial_ms", "must be at least 10");
  if (retry_max < retry_initial) {
    return FieldError("bus.notice_retry_max_ms", "must be at least bus.notice_retry_initial_ms");
  }
  config.notice_retry_initial = absl::Milliseconds(retry_initial);
  config.notice_retry_max = absl::Milliseconds(retry_max);
  ASSIGN_OR_RETURN(uint64_t dead_letter,
                   UintField(*bus, "bus", "notice_dead_letter_after_s", 7 * 24 * 3600,
                             365 * 24 * 3600));
  if (dead_letter < 60) return FieldError("bus.notice_dead_letter_after_s", "must be at least 60");
  config.notice_dead_letter_after = absl::Seconds(dead_letter);
  ASSIGN_OR_RETURN(uint64_t lease, RangedField(*bus, "bus", "notice_lease_ms", 30000, 1000,
                                               3600 * 1000));
  config.notice_lease = absl::Milliseconds(lease);
  RETURN_IF_ERROR(ParseBusLimits(*bus, config.bus_server));
  ASSIGN_OR_RETURN(uint64_t fanouts, RangedField(*bus, "bus", "ownership_fanouts_per_second",
                                                 20, 1, 100000));
  config.ownership_fanouts_per_second = static_cast<double>(fanouts);

  ASSIGN_OR_RETURN(const json* peers, Member(root, "", "peers", false));
  if (peers != nullptr) {
    if (!peers->is_array()) return FieldError("peers", "must be an array");
    std::set<std::string> seen;
    for (size_t i = 0; i < peers->size(); ++i) {
      ASSIGN_OR_RETURN(Peer peer, ParsePeer((*peers)[i], i, base_dir));
      std::string identity = peer.identity().ToString();
      if (peer.identity() == id.identity()) {
        return FieldError(absl::StrCat("peers[", i, "]"), "names this CCF itself");
      }
      if (!seen.insert(peer.ccf_id.value()).second) {
        return FieldError(absl::StrCat("peers[", i, "].ccf_id"),
                          absl::StrCat("'", peer.ccf_id.value(), "' is configured twice"));
      }
      config.peers.push_back(std::move(peer));
    }
  }
  RETURN_IF_ERROR(ParseNorthbound(root, base_dir, config));
  RETURN_IF_ERROR(ParseSecurity(root, config.security));
  return config;
}

absl::StatusOr<CcfConfig> LoadCcfConfig(const std::string& path) {
  auto text = ReadFile(path, 1 << 20);
  if (!text.ok()) return text.status();
  size_t slash = path.rfind('/');
  std::string base_dir = slash == std::string::npos ? "." : path.substr(0, slash);
  if (base_dir.empty()) base_dir = "/";
  auto config = ParseCcfConfig(*text, base_dir);
  if (!config.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("configuration '", path, "': ", config.status().message()));
  }
  return config;
}

}  // namespace capif
