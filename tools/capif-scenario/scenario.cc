#include "tools/capif-scenario/scenario.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "ccf/daemon/admin_client.h"
#include "common/evp_key.h"
#include "common/file_io.h"
#include "common/ids.h"
#include "common/port_reservation.h"
#include "common/status_macros.h"
#include "common/subprocess.h"
#include "common/testing/postgres_server.h"
#include "common/x509_cert.h"
#include "net/https_client.h"
#include "net/https_server.h"
#include "sdk/invoker/invoker_client.h"
#include "sdk/provider/provider_client.h"
#include "tools/capif-scenario/chaos.h"
#include "tools/capif-scenario/load.h"
#include "tools/capif-scenario/seed.h"

namespace capif {
namespace {

using nlohmann::json;

constexpr absl::Duration kProcessWait = absl::Seconds(30);

// ---------------------------------------------------------------- the scenario file

struct CcfSpec {
  std::string id, trust_domain;
  // Extra settings of its ccfd.json: {"bus": {...}, "northbound": {...}} (limits, for benchmarks).
  json extra = json::object();
  SeedSpec seed;               // bulk state written before its first start (seed.h)
  bool postgres = false;       // "storage": "postgres" (a database on the runner's server)
  int replicas = 1;            // ccfd processes of this CCF (more than one: on PostgreSQL)
};
struct PeeringSpec {
  std::string a, b, relation = "CAPIF-6e", tokens;
  json operations = json::array(), shared_apis = json::array();
  // CCF id -> the replicas of it the other side lists as its endpoints (default: all).
  std::map<std::string, std::vector<int>> listed_replicas;
};
struct AefSpec {
  std::string name, ccf, api;
  json methods = json::array({"PSK", "PKI", "OAUTH"});
  bool shareable = true;
  int replica = 1;  // the replica of its CCF it registers at and asks
};
struct InvokerSpec {
  std::string name, ccf;
  int replica = 1;  // the replica of its CCF it onboards at and asks
};
struct Spec {
  std::string name, description;
  std::vector<CcfSpec> ccfs;
  std::vector<PeeringSpec> peerings;
  std::vector<AefSpec> aefs;
  std::vector<InvokerSpec> invokers;
  int notice_retry_ms = 200;
  json steps;
};

struct SpecError {
  std::string field, message;
};

std::optional<SpecError> Need(const json& obj, const std::string& at, const char* name,
                              json::value_t type) {
  if (!obj.contains(name)) return SpecError{absl::StrCat(at, name), "is required"};
  if (obj[name].type() != type) return SpecError{absl::StrCat(at, name), "has the wrong type"};
  return std::nullopt;
}

std::optional<SpecError> ParseSpec(const json& j, Spec* s) {
  if (!j.is_object()) return SpecError{"(top)", "the scenario must be a JSON object"};
  for (const auto& [k, v] : j.items()) {
    static const std::set<std::string> kKnown = {"name",  "description", "ccfs", "peerings",
                                                 "aefs",  "invokers",    "steps",
                                                 "notice_retry_ms"};
    if (!kKnown.count(k)) return SpecError{k, "unknown field"};
  }
  if (auto e = Need(j, "", "name", json::value_t::string)) return e;
  if (auto e = Need(j, "", "ccfs", json::value_t::array)) return e;
  if (auto e = Need(j, "", "steps", json::value_t::array)) return e;
  s->name = j["name"];
  s->description = j.value("description", "");
  s->notice_retry_ms = j.value("notice_retry_ms", 200);
  std::set<std::string> names;
  for (size_t i = 0; i < j["ccfs"].size(); ++i) {
    const json& c = j["ccfs"][i];
    std::string at = absl::StrCat("ccfs[", i, "].");
    if (!c.is_object()) return SpecError{at, "must be an object"};
    if (auto e = Need(c, at, "id", json::value_t::string)) return e;
    if (auto e = Need(c, at, "trust_domain", json::value_t::string)) return e;
    if (!IsValidIdSegment(c["id"].get<std::string>())) return SpecError{at + "id", "not a valid id"};
    if (!IsValidTrustDomain(c["trust_domain"].get<std::string>())) {
      return SpecError{at + "trust_domain", "not a valid trust domain"};
    }
    if (!names.insert(c["id"]).second) return SpecError{at + "id", "used twice"};
    // Extra settings of the "bus" and "northbound" sections of its ccfd.json.
    json extra = json::object();
    for (const char* section : {"bus", "northbound"}) {
      if (!c.contains(section)) continue;
      if (auto e = Need(c, at, section, json::value_t::object)) return e;
      static const std::set<std::string> kGenerated = {"listen", "certificate", "private_key",
                                                      "trust_bundle", "audit_log"};
      for (const auto& [key, value] : c[section].items()) {
        if (kGenerated.count(key)) {
          return SpecError{absl::StrCat(at, section, ".", key), "is set by the runner"};
        }
      }
      extra[section] = c[section];
    }
    SeedSpec seed;
    if (c.contains("seed")) {
      if (auto e = Need(c, at, "seed", json::value_t::object)) return e;
      const json& sd = c["seed"];
      for (const auto& [key, value] : sd.items()) {
        if (key != "invokers" && key != "security_contexts") {
          return SpecError{at + "seed." + key, "unknown field"};
        }
        if (!value.is_number_unsigned()) return SpecError{at + "seed." + key, "must be a count"};
      }
      seed.invokers = static_cast<int>(std::min<uint64_t>(sd.value("invokers", 0ull), 10000000));
      seed.security_contexts =
          static_cast<int>(std::min<uint64_t>(sd.value("security_contexts", 0ull), 10000000));
      if (seed.security_contexts > seed.invokers) {
        return SpecError{at + "seed.security_contexts", "at most seed.invokers"};
      }
    }
    CcfSpec cs{c["id"], c["trust_domain"], extra, seed};
    if (c.contains("storage")) {
      if (c["storage"] != "sqlite" && c["storage"] != "postgres") {
        return SpecError{at + "storage", "must be \"sqlite\" or \"postgres\""};
      }
      cs.postgres = c["storage"] == "postgres";
    }
    if (c.contains("replicas")) {
      if (!c["replicas"].is_number_unsigned() || c["replicas"] < 1 || c["replicas"] > 4) {
        return SpecError{at + "replicas", "must be 1 to 4"};
      }
      cs.replicas = c["replicas"];
      if (cs.replicas > 1 && !cs.postgres) {
        return SpecError{at + "replicas", "more than one needs \"storage\": \"postgres\""};
      }
    }
    if (cs.postgres && cs.seed.invokers > 0) {
      return SpecError{at + "seed", "writes a SQLite database; not with \"storage\": \"postgres\""};
    }
    s->ccfs.push_back(cs);
  }
  // "replica": N of an AEF or invoker: one of its CCF's replicas.
  auto replica_of = [&](const json& obj, const std::string& at, int* out) -> std::optional<SpecError> {
    if (!obj.contains("replica")) return std::nullopt;
    int most = 1;
    for (const CcfSpec& c : s->ccfs) {
      if (c.id == obj["ccf"]) most = c.replicas;
    }
    if (!obj["replica"].is_number_unsigned() || obj["replica"] < 1 || obj["replica"] > most) {
      return SpecError{at + "replica", absl::StrCat("must be 1 to ", most, " (its CCF's replicas)")};
    }
    *out = obj["replica"];
    return std::nullopt;
  };
  auto is_ccf = [&](const std::string& id) {
    return std::any_of(s->ccfs.begin(), s->ccfs.end(), [&](const CcfSpec& c) { return c.id == id; });
  };
  for (size_t i = 0; i < j.value("peerings", json::array()).size(); ++i) {
    const json& p = j["peerings"][i];
    std::string at = absl::StrCat("peerings[", i, "].");
    if (!p.is_object() || !p.contains("between") || !p["between"].is_array() ||
        p["between"].size() != 2 || !p["between"][0].is_string() || !p["between"][1].is_string() ||
        !is_ccf(p["between"][0]) || !is_ccf(p["between"][1]) || p["between"][0] == p["between"][1]) {
      return SpecError{at + "between", "must name two different CCFs of ccfs"};
    }
    PeeringSpec ps{p["between"][0], p["between"][1], p.value("relation", "CAPIF-6e"),
                   p.value("cross_domain_tokens", "")};
    ps.operations = p.value("operations", json::array());
    ps.shared_apis = p.value("shared_apis", json::array());
    if (p.contains("listed_replicas")) {
      // {"ccf-a": [1]}: the peer of ccf-a knows only replica 1's bus address.
      const json& lr = p["listed_replicas"];
      if (!lr.is_object()) return SpecError{at + "listed_replicas", "must be an object"};
      for (const auto& [id, list] : lr.items()) {
        const CcfSpec* c = nullptr;
        for (const CcfSpec& cs : s->ccfs) {
          if (cs.id == id && (id == ps.a || id == ps.b)) c = &cs;
        }
        if (c == nullptr) {
          return SpecError{at + "listed_replicas." + id, "not one of the two CCFs of the peering"};
        }
        if (!list.is_array() || list.empty()) {
          return SpecError{at + "listed_replicas." + id, "must be a non-empty array of replicas"};
        }
        for (const json& n : list) {
          if (!n.is_number_unsigned() || n < 1 || n > c->replicas) {
            return SpecError{at + "listed_replicas." + id,
                             absl::StrCat("replicas are 1 to ", c->replicas)};
          }
          ps.listed_replicas[id].push_back(n);
        }
      }
    }
    s->peerings.push_back(ps);
  }
  for (size_t i = 0; i < j.value("aefs", json::array()).size(); ++i) {
    const json& a = j["aefs"][i];
    std::string at = absl::StrCat("aefs[", i, "].");
    if (!a.is_object()) return SpecError{at, "must be an object"};
    for (const char* f : {"name", "ccf", "api"}) {
      if (auto e = Need(a, at, f, json::value_t::string)) return e;
    }
    if (!is_ccf(a["ccf"])) return SpecError{at + "ccf", "not a CCF of ccfs"};
    if (!names.insert(a["name"]).second) return SpecError{at + "name", "used twice"};
    AefSpec as{a["name"], a["ccf"], a["api"]};
    if (a.contains("methods")) as.methods = a["methods"];
    as.shareable = a.value("shareable", true);
    if (auto e = replica_of(a, at, &as.replica)) return e;
    s->aefs.push_back(as);
  }
  for (size_t i = 0; i < j.value("invokers", json::array()).size(); ++i) {
    const json& v = j["invokers"][i];
    std::string at = absl::StrCat("invokers[", i, "].");
    if (!v.is_object()) return SpecError{at, "must be an object"};
    if (auto e = Need(v, at, "name", json::value_t::string)) return e;
    if (auto e = Need(v, at, "ccf", json::value_t::string)) return e;
    if (!is_ccf(v["ccf"])) return SpecError{at + "ccf", "not a CCF of ccfs"};
    if (!names.insert(v["name"]).second) return SpecError{at + "name", "used twice"};
    InvokerSpec is{v["name"], v["ccf"]};
    if (auto e = replica_of(v, at, &is.replica)) return e;
    s->invokers.push_back(is);
  }
  static const std::set<std::string> kActions = {"onboard",
                                                 "discover",
                                                 "request_security",
                                                 "connect",
                                                 "get_token",
                                                 "offboard",
                                                 "revoke",
                                                 "stop",
                                                 "start",
                                                 "kill",
                                                 "pause",
                                                 "resume",
                                                 "await_notices",
                                                 "drop_grants",
                                                 "load",
                                                 "chaos",
                                                 "replay_assertion",
                                                 "subscribe",
                                                 "await_event",
                                                 "unpublish",
                                                 "acl",
                                                 "audit"};
  std::set<std::string> ccf_ids;
  for (const CcfSpec& c : s->ccfs) ccf_ids.insert(c.id);
  for (size_t i = 0; i < j["steps"].size(); ++i) {
    const json& st = j["steps"][i];
    std::string at = absl::StrCat("steps[", i, "].");
    if (!st.is_object()) return SpecError{at, "must be an object"};
    int actions = 0;
    for (const auto& [k, v] : st.items()) actions += kActions.count(k);
    if (actions != 1) {
      return SpecError{at, absl::StrCat("needs exactly one action of: ", absl::StrJoin(kActions, ", "))};
    }
    if (st.contains("expect") && st["expect"] != "ok" && st["expect"] != "fail") {
      return SpecError{at + "expect", "must be \"ok\" or \"fail\""};
    }
    if (st.contains("chaos")) {
      absl::StatusOr<ChaosPlan> plan = ParseChaosPlan(st, ccf_ids);
      if (!plan.ok()) return SpecError{at, std::string(plan.status().message())};
    }
  }
  s->steps = j["steps"];
  return std::nullopt;
}

// ---------------------------------------------------------------- observed messages

struct Event {
  absl::Time time;
  std::string from, to, label, channel;
  bool reply = false;
};

absl::Time ParseIsoTime(const std::string& text) {
  absl::Time t;
  std::string err;
  if (absl::ParseTime("%Y-%m-%dT%H:%M:%E*SZ", text, absl::UTCTimeZone(), &t, &err)) return t;
  return absl::InfinitePast();
}

std::string Alias(const std::string& name) {
  std::string out;
  for (char c : name) out += absl::ascii_isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return out;
}

// ---------------------------------------------------------------- the runner

// A port for a process of this run, held until the run ends: peers' configurations name it
// before the process starts, and a restarted process binds it again (common/port_reservation.h).
absl::Status HoldPorts(std::vector<PortReservation>& held, std::initializer_list<int*> ports) {
  for (int* port : ports) {
    auto reserved = PortReservation::Any();
    if (!reserved.ok()) {
      return absl::UnavailableError(absl::StrCat("no free port: ", reserved.status().message()));
    }
    *port = reserved->port();
    held.push_back(*std::move(reserved));
  }
  return absl::OkStatus();
}

// One ccfd process: a CCF, or one replica of a CCF run as several.
struct CcfRun {
  CcfSpec spec;
  std::string dir, config, ca_pem, api_root;
  int bus_port = 0, nb_port = 0;
  std::vector<PortReservation> ports;  // bus_port and nb_port, for the whole run
  std::unique_ptr<Subprocess> process;
  int replica = 1;
  // What steps call it: the CCF id, or "<id>/<replica>" for a CCF with several replicas.
  std::string name;
};

struct AefRun {
  AefSpec spec;
  std::string id, dir;
  int port = 0;
  std::vector<PortReservation> ports;  // port, for the whole run
  std::unique_ptr<Subprocess> process;
  RegisteredProvider provider;  // its AMF, APF and AEF (one key: key_pem)
  SecretBytes key_pem;
  std::string api_id;  // the API its APF published
};

// A subscriber's HTTPS endpoint for CAPIF event notifications (the Events API callback), on a
// certificate of its domain's CA for 127.0.0.1.
class NotificationSink {
 public:
  static absl::StatusOr<std::unique_ptr<NotificationSink>> Start(const std::string& cert_pem,
                                                                 SecretBytes key_pem,
                                                                 const std::string& ca_pem) {
    ASSIGN_OR_RETURN(TrustBundle roots, TrustBundle::FromPem(ca_pem));
    std::unique_ptr<NotificationSink> s(new NotificationSink());
    ASSIGN_OR_RETURN(s->server_,
                     HttpsServer::Create({cert_pem, std::move(key_pem), roots}, {"127.0.0.1", 0}));
    NotificationSink* self = s.get();
    s->server_->Route("POST", "/events",
                      [self](const RestRequest& req) -> absl::StatusOr<RestResponse> {
                        absl::MutexLock l(&self->mu_);
                        self->received_.push_back(json::parse(req.body, nullptr, false));
                        return RestResponse::NoContent();
                      });
    RETURN_IF_ERROR(s->server_->Start());
    return s;
  }
  std::string url() const { return absl::StrCat("https://127.0.0.1:", server_->port(), "/events"); }
  // The first notification of `event` not awaited before, within `timeout`.
  std::optional<json> Await(const std::string& event, absl::Duration timeout) {
    absl::MutexLock l(&mu_);
    auto found = [&]() -> std::optional<size_t> {
      mu_.AssertHeld();
      for (size_t i = 0; i < received_.size(); ++i) {
        if (!taken_.count(i) && received_[i].is_object() &&
            received_[i].value("events", "") == event) {
          return i;
        }
      }
      return std::nullopt;
    };
    auto ready = [&] { return found().has_value(); };
    if (!mu_.AwaitWithTimeout(absl::Condition(&ready), timeout)) return std::nullopt;
    size_t i = *found();
    taken_.insert(i);
    return received_[i];
  }

 private:
  NotificationSink() = default;
  std::unique_ptr<HttpsServer> server_;
  absl::Mutex mu_;
  std::vector<json> received_ ABSL_GUARDED_BY(mu_);
  std::set<size_t> taken_ ABSL_GUARDED_BY(mu_);
};

struct InvokerRun {
  InvokerSpec spec;
  std::unique_ptr<CapifInvoker> sdk;
  json discovered = json::array();
  std::map<std::string, std::string> methods;  // AEF id -> selected method
  SecurityContext context;
  std::map<std::string, std::string> tokens;   // AEF id -> access token
};

struct StepResult {
  std::string what;
  bool ok = false;        // the action succeeded
  bool expected_ok = true;
  std::string detail;
  absl::Duration latency;
};

class Runner {
 public:
  Runner(Spec spec, ScenarioOptions options, std::ostream& out, std::ostream& err)
      : spec_(std::move(spec)), opt_(std::move(options)), out_(out), err_(err) {}
  ~Runner() { StopAll(); }

  int Run();

 private:
  std::string Bin(const std::string& rel) const { return opt_.bin_dir + "/" + rel; }
  absl::StatusOr<std::string> Sh(const std::vector<std::string>& argv) {
    auto r = RunToCompletion(argv, absl::Seconds(60));
    if (!r.ok()) return r.status();
    if (r->exit_code != 0) {
      return absl::InternalError(absl::StrCat(argv[0], " exited ", r->exit_code, ": ",
                                              r->err.substr(0, 300)));
    }
    return r->out;
  }
  absl::Status SetUp();
  absl::Status StartCcf(CcfRun& c);
  absl::Status StartAef(AefRun& a);
  absl::StatusOr<std::string> Enroll(CcfRun& c, const std::string& purpose);
  // CCF `id`: its first running replica (the first replica if none runs).
  CcfRun& Ccf(const std::string& id) {
    for (CcfRun& c : ccfs_) {
      if (c.spec.id == id && c.process) return c;
    }
    return Ccf(id, 1);
  }
  CcfRun& Ccf(const std::string& id, int replica) {
    for (CcfRun& c : ccfs_) {
      if (c.spec.id == id && c.replica == replica) return c;
    }
    return ccfs_.front();
  }
  // The bus addresses of CCF `id` (one per replica), or of the `only` replicas when given.
  json BusEndpoints(const std::string& id, const std::vector<int>& only = {}) {
    json out = json::array();
    for (CcfRun& c : ccfs_) {
      if (c.spec.id != id) continue;
      if (!only.empty() && std::find(only.begin(), only.end(), c.replica) == only.end()) continue;
      out.push_back(absl::StrCat("127.0.0.1:", c.bus_port));
    }
    return out;
  }
  const PeeringSpec* Peering(const std::string& x, const std::string& y) const {
    for (const PeeringSpec& p : spec_.peerings) {
      if ((p.a == x && p.b == y) || (p.a == y && p.b == x)) return &p;
    }
    return nullptr;
  }
  // Client options of `aef` calling its CCF (its certificate, that CCF's roots).
  absl::Status AsAef(const AefRun& aef, HttpsClient::Options& o) {
    ASSIGN_OR_RETURN(o.client_cert_pem, ReadFile(aef.dir + "/aef.pem"));
    ASSIGN_OR_RETURN(std::string key, ReadFile(aef.dir + "/aef.key"));
    o.client_key_pem = SecretBytes(key);
    o.ca_pem = Ccf(aef.spec.ccf).ca_pem;
    return absl::OkStatus();
  }
  // How many peers CCF `id` has.
  size_t Peers(const std::string& id) const {
    return std::count_if(spec_.peerings.begin(), spec_.peerings.end(),
                         [&](const PeeringSpec& p) { return p.a == id || p.b == id; });
  }
  // The audience of `inv`'s client assertion for `aef`'s token: the AEFs' CCF when it is in
  // another domain and issues the tokens itself (#24 method 3); "" otherwise.
  std::string AssertionAudience(const InvokerRun& inv, const AefRun& aef) const {
    const PeeringSpec* p = Peering(inv.spec.ccf, aef.spec.ccf);
    bool home_issues = p != nullptr && p->tokens == "issued-by-home-ccf";
    return aef.spec.ccf != inv.spec.ccf && !home_issues ? aef.spec.ccf : "";
  }
  absl::Status Step(const json& st, StepResult* r);
  absl::Status Connect(InvokerRun& inv, AefRun& aef, const json& st, std::string* detail);
  absl::Status EnsureToken(InvokerRun& inv, AefRun& aef);
  absl::Status ReplayAssertion(InvokerRun& inv, AefRun& aef, StepResult* r);
  absl::Status Load(InvokerRun& inv, AefRun* aef, const json& st, StepResult* r);
  absl::Status Chaos(InvokerRun& inv, AefRun& aef, const json& st, StepResult* r);
  void Note(const std::string& from, const std::string& to, const std::string& label,
            const std::string& channel, bool reply = false) {
    events_.push_back({absl::Now(), from, to, label, channel, reply});
  }
  void CollectLogs();
  void WriteReport(const std::vector<StepResult>& results);
  void StopAll();

  Spec spec_;
  ScenarioOptions opt_;
  std::ostream& out_;
  std::ostream& err_;
  std::vector<CcfRun> ccfs_;
  std::vector<AefRun> aefs_;
  std::map<std::string, InvokerRun> invokers_;
  // Event notification endpoints, by subscriber (an invoker's or AEF's name).
  std::map<std::string, std::unique_ptr<NotificationSink>> sinks_;
  std::vector<Event> events_;
  std::unique_ptr<PostgresServer> postgres_;  // when a CCF has "storage": "postgres"
};

absl::StatusOr<std::string> Runner::Enroll(CcfRun& c, const std::string& purpose) {
  auto out = Sh({Bin("tools/capifctl/capifctl"), "enroll-" + purpose, "--config", c.config});
  if (!out.ok()) return out.status();
  return std::string(absl::StripTrailingAsciiWhitespace(*out));
}

absl::Status Runner::StartCcf(CcfRun& c) {
  if (c.replica > 1 && !ReadFile(c.dir + "/data/kek").ok()) {
    // The key-encryption key of the CCF, as an operator deploys it to each replica.
    ASSIGN_OR_RETURN(std::string kek, ReadFile(Ccf(c.spec.id, 1).dir + "/data/kek"));
    RETURN_IF_ERROR(MakeDirectories(c.dir + "/data", 0700));
    RETURN_IF_ERROR(WriteFileAtomic(c.dir + "/data/kek", kek, 0600));
  }
  // ccfd's log goes to a file (read for the report); its stdout says where it listens.
  auto p = Subprocess::Start({"/bin/sh", "-c", "exec \"$0\" --config \"$1\" 2>>\"$2\"",
                              Bin("ccf/ccfd"), c.config, c.dir + "/ccfd.log"});
  if (!p.ok()) return p.status();
  c.process = *std::move(p);
  for (int i = 0; i < 2; ++i) {
    auto line = c.process->ReadStdoutLine(kProcessWait);
    if (!line.ok()) {
      return absl::UnavailableError(absl::StrCat(c.spec.id, " did not start; see ", c.dir,
                                                 "/ccfd.log"));
    }
  }
  return absl::OkStatus();
}

absl::Status Runner::StartAef(AefRun& a) {
  CcfRun& c = Ccf(a.spec.ccf, a.spec.replica);
  auto p = Subprocess::Start(
      {"/bin/sh", "-c",
       "exec \"$0\" --ccf \"$1\" --ca \"$2\" --cert \"$3\" --key \"$4\" --aef-id \"$5\" "
       "--api-name \"$6\" --listen \"$7\" --api-id \"$9\" 2>>\"$8\"",
       Bin("tools/capif-sample-aef/capif-sample-aef"), c.api_root, c.dir + "/pki/ca/ca.pem",
       a.dir + "/aef.pem", a.dir + "/aef.key", a.id, a.spec.api, absl::StrCat("127.0.0.1:", a.port),
       a.dir + "/aef.log", a.api_id});
  if (!p.ok()) return p.status();
  a.process = *std::move(p);
  auto line = a.process->ReadStdoutLine(kProcessWait);
  if (!line.ok()) return absl::UnavailableError(absl::StrCat("AEF ", a.spec.name, " did not start"));
  return absl::OkStatus();
}

absl::Status Runner::SetUp() {
  std::map<std::string, std::string> domain_ca;  // trust domain -> CA dir
  for (const CcfSpec& cs : spec_.ccfs) {
    CcfRun c{cs, opt_.out_dir + "/" + cs.id};
    RETURN_IF_ERROR(HoldPorts(c.ports, {&c.bus_port, &c.nb_port}));
    RETURN_IF_ERROR(MakeDirectories(c.dir + "/pki", 0700));
    // One CA per trust domain, shared by the CCFs of that domain (CAPIF-6 inside a provider).
    if (!domain_ca.count(cs.trust_domain)) {
      std::string ca_dir = opt_.out_dir + "/ca-" + cs.trust_domain;
      auto made = Sh({Bin("tools/capif-pki/capif-pki"), "init-domain", "--trust-domain",
                      cs.trust_domain, "--out", ca_dir});
      if (!made.ok()) return made.status();
      domain_ca[cs.trust_domain] = ca_dir;
    }
    const std::string& ca_dir = domain_ca[cs.trust_domain];
    auto issued = Sh({Bin("tools/capif-pki/capif-pki"), "issue", "--ca", ca_dir, "--spiffe-id",
                      absl::StrCat("spiffe://", cs.trust_domain, "/ccf/", cs.id), "--ip",
                      "127.0.0.1", "--out", c.dir + "/pki/ccf"});
    if (!issued.ok()) return issued.status();
    RETURN_IF_ERROR(MakeDirectories(c.dir + "/pki/ca", 0700));
    ASSIGN_OR_RETURN(std::string ca_pem, ReadFile(ca_dir + "/ca.pem"));
    ASSIGN_OR_RETURN(std::string ca_key, ReadFile(ca_dir + "/ca.key"));
    RETURN_IF_ERROR(WriteFileAtomic(c.dir + "/pki/ca/ca.pem", ca_pem));
    RETURN_IF_ERROR(WriteFileAtomic(c.dir + "/pki/ca/ca.key", ca_key, 0600));
    c.ca_pem = ca_pem;
    c.api_root = absl::StrCat("https://127.0.0.1:", c.nb_port);
    c.name = cs.replicas > 1 ? cs.id + "/1" : cs.id;
    std::string primary_dir = c.dir;
    ccfs_.push_back(std::move(c));
    // Further replicas: the same identity (the first replica's PKI, by absolute paths; its kek,
    // copied at their first start), their own ports and data_dir.
    for (int n = 2; n <= cs.replicas; ++n) {
      CcfRun r{cs, absl::StrCat(opt_.out_dir, "/", cs.id, "-r", n)};
      r.replica = n;
      r.name = absl::StrCat(cs.id, "/", n);
      RETURN_IF_ERROR(HoldPorts(r.ports, {&r.bus_port, &r.nb_port}));
      RETURN_IF_ERROR(MakeDirectories(r.dir, 0700));
      RETURN_IF_ERROR(MakeDirectories(r.dir + "/pki", 0700));
      for (const char* sub : {"ccf", "ca"}) {
        if (::symlink((primary_dir + "/pki/" + sub).c_str(), (r.dir + "/pki/" + sub).c_str()) != 0) {
          return absl::InternalError(absl::StrCat("cannot link the PKI of ", r.name));
        }
      }
      r.ca_pem = ca_pem;
      r.api_root = absl::StrCat("https://127.0.0.1:", r.nb_port);
      ccfs_.push_back(std::move(r));
    }
  }
  // One PostgreSQL server for the CCFs that want it (a database each), private to this run.
  std::map<std::string, std::string> dsn;  // CCF id -> its database
  for (const CcfSpec& cs : spec_.ccfs) {
    if (!cs.postgres) continue;
    if (postgres_ == nullptr) {
      absl::Time started = absl::Now();
      auto pg = PostgresServer::Start();
      if (!pg.ok()) {
        return absl::Status(pg.status().code(),
                            absl::StrCat("\"storage\": \"postgres\" needs a PostgreSQL server: ",
                                         pg.status().message()));
      }
      postgres_ = *std::move(pg);
      std::cout << "started PostgreSQL in " << postgres_->directory() << " in "
                << absl::FormatDuration(absl::Trunc(absl::Now() - started, absl::Milliseconds(100)))
                << "\n" << std::flush;
    }
    ASSIGN_OR_RETURN(dsn[cs.id], postgres_->CreateDatabase());
  }
  for (CcfRun& c : ccfs_) {
    json peers = json::array();
    for (const PeeringSpec& p : spec_.peerings) {
      if (p.a != c.spec.id && p.b != c.spec.id) continue;
      CcfRun& other = Ccf(p.a == c.spec.id ? p.b : p.a);
      json agreement = {{"operations", p.operations}, {"shared_apis", p.shared_apis}};
      if (!p.tokens.empty()) agreement["cross_domain_tokens"] = p.tokens;
      json peer = {{"ccf_id", other.spec.id},
                   {"trust_domain", other.spec.trust_domain},
                   {"trust_bundle", other.dir + "/pki/ca/ca.pem"},
                   {"relation", p.relation},
                   {"agreement", agreement}};
      auto listed = p.listed_replicas.find(other.spec.id);
      json endpoints = BusEndpoints(
          other.spec.id, listed == p.listed_replicas.end() ? std::vector<int>{} : listed->second);
      if (endpoints.size() == 1) {
        peer["endpoint"] = endpoints[0];
      } else {
        peer["endpoints"] = endpoints;  // a CCF run as several replicas
      }
      peers.push_back(peer);
    }
    json config = {
        {"ccf_id", c.spec.id},
        {"trust_domain", c.spec.trust_domain},
        {"bus",
         {{"listen", absl::StrCat("127.0.0.1:", c.bus_port)},
          {"certificate", "pki/ccf/cert.pem"},
          {"private_key", "pki/ccf/key.pem"},
          {"trust_bundle", "pki/ca/ca.pem"},
          {"audit_log", "audit.log"},
          {"notice_retry_initial_ms", spec_.notice_retry_ms},
          {"notice_retry_max_ms", spec_.notice_retry_ms * 4}}},
        {"northbound",
         {{"listen", absl::StrCat("127.0.0.1:", c.nb_port)},
          {"certificate", "pki/ccf/cert.pem"},
          {"private_key", "pki/ccf/key.pem"}}},
        {"ca", {{"certificate", "pki/ca/ca.pem"}, {"private_key", "pki/ca/ca.key"}}},
        {"data_dir", "data"},
        {"peers", peers}};
    if (c.spec.postgres) config["storage"] = {{"postgres", {{"dsn", dsn[c.spec.id]}}}};
    for (const auto& [section, values] : c.spec.extra.items()) {
      for (const auto& [key, value] : values.items()) config[section][key] = value;
    }
    c.config = c.dir + "/ccfd.json";
    RETURN_IF_ERROR(WriteFileAtomic(c.config, config.dump(2)));
  }
  for (CcfRun& c : ccfs_) {
    if (c.spec.seed.invokers > 0) {
      absl::Time started = absl::Now();
      RETURN_IF_ERROR(MakeDirectories(c.dir + "/data", 0700));
      RETURN_IF_ERROR(SeedCcfState(c.dir + "/data", c.spec.seed));
      std::cout << "seeded " << c.spec.id << " with " << c.spec.seed.invokers << " invokers and "
                << c.spec.seed.security_contexts << " security contexts in "
                << absl::FormatDuration(absl::Trunc(absl::Now() - started, absl::Milliseconds(100)))
                << "\n" << std::flush;
    }
  }
  for (CcfRun& c : ccfs_) RETURN_IF_ERROR(StartCcf(c));
  // Each AEF: its provider registers at its CCF (AMF, APF, AEF), the sample AEF starts with the
  // AEF certificate, the APF publishes its API.
  for (const AefSpec& as : spec_.aefs) {
    CcfRun& c = Ccf(as.ccf, as.replica);
    AefRun a{as, "", opt_.out_dir + "/aef-" + as.name};
    RETURN_IF_ERROR(MakeDirectories(a.dir, 0700));
    ASSIGN_OR_RETURN(EvpKey key, EvpKey::GenerateEcP256());
    ASSIGN_OR_RETURN(std::string token, Enroll(c, "provider"));
    ASSIGN_OR_RETURN(RegisteredProvider provider,
                     RegisterApiProvider(c.api_root, c.ca_pem, token, key));
    Note("provider-" + as.name, as.ccf, "POST registrations (AMF, APF, AEF)", "CAPIF-4");
    a.id = provider.aef_id;
    ASSIGN_OR_RETURN(SecretBytes key_pem, key.PrivateKeyPem());
    RETURN_IF_ERROR(WriteFileAtomic(a.dir + "/aef.pem", provider.aef_certificate_pem));
    RETURN_IF_ERROR(WriteFileAtomic(a.dir + "/aef.key",
                                    std::string(key_pem.Reveal(InsecureSecretAccess())), 0600));
    RETURN_IF_ERROR(HoldPorts(a.ports, {&a.port}));
    // Published first: the sample AEF logs its invocations under the apiId (--api-id).
    ASSIGN_OR_RETURN(
        json published,
        PublishServiceApi(c.api_root, c.ca_pem, provider, key,
                          SimpleServiceApi(as.api, a.id, as.methods.get<std::vector<std::string>>(),
                                           "127.0.0.1", a.port, as.shareable)));
    Note("provider-" + as.name, as.ccf, "POST service-apis " + as.api, "CAPIF-4");
    a.api_id = published.value("apiId", "");
    a.provider = provider;
    a.key_pem = key_pem;
    RETURN_IF_ERROR(StartAef(a));
    aefs_.push_back(std::move(a));
  }
  for (const InvokerSpec& is : spec_.invokers) invokers_[is.name] = InvokerRun{is};
  return absl::OkStatus();
}

namespace {

// How many forwarded token requests the ccfd of `c` has answered (its audit log).
int ForwardedTokenRequests(const CcfRun& c) {
  auto text = ReadFile(c.dir + "/audit.log");
  if (!text.ok()) return 0;
  int n = 0;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    if (absl::StrContains(line, "\"operation\":\"FORWARD_TOKEN_REQUEST\"")) ++n;
  }
  return n;
}

}  // namespace

// One client assertion offered twice: the first token request gets a token, the second is
// refused. When the AEFs' CCF runs as several replicas, the two requests must have been
// answered by two different replicas (the replay is refused at the other one); B spreads its
// calls over them, so up to 10 pairs are tried until one lands so.
absl::Status Runner::ReplayAssertion(InvokerRun& inv, AefRun& aef, StepResult* r) {
  r->what = absl::StrCat(inv.spec.name, " offers one client assertion twice for ", aef.spec.name);
  std::string audience = AssertionAudience(inv, aef);
  if (audience.empty()) {
    return absl::FailedPreconditionError(
        "no client assertion here (the AEF is in the invoker's domain, or its home CCF issues "
        "the tokens)");
  }
  std::vector<CcfRun*> replicas;
  for (CcfRun& c : ccfs_) {
    if (c.spec.id == aef.spec.ccf && c.process) replicas.push_back(&c);
  }
  auto counts = [&] {
    std::vector<int> out;
    for (CcfRun* c : replicas) out.push_back(ForwardedTokenRequests(*c));
    return out;
  };
  auto answered_by = [&](const std::vector<int>& before, const std::vector<int>& after) {
    for (size_t i = 0; i < replicas.size(); ++i) {
      if (after[i] > before[i]) return replicas[i]->name;
    }
    return std::string("?");
  };
  const std::string scope = absl::StrCat("3gpp#", aef.id, ":", aef.spec.api);
  for (int attempt = 0; attempt < 10; ++attempt) {
    ASSIGN_OR_RETURN(std::string assertion, inv.sdk->ClientAssertion(audience));
    std::vector<int> before = counts();
    absl::StatusOr<AccessToken> first = inv.sdk->RequestTokenWithAssertion(scope, assertion);
    if (!first.ok()) return first.status();
    std::vector<int> middle = counts();
    absl::StatusOr<AccessToken> second = inv.sdk->RequestTokenWithAssertion(scope, assertion);
    if (second.ok()) return absl::InternalError("the replayed assertion got a token");
    if (absl::IsUnavailable(second.status()) || absl::IsDeadlineExceeded(second.status())) {
      return second.status();  // not a refusal
    }
    std::string at_first = answered_by(before, middle), at_second = answered_by(middle, counts());
    if (replicas.size() < 2 || at_first != at_second) {
      r->detail = absl::StrCat("accepted at ", at_first, ", refused at ", at_second, " (",
                               second.status().message().substr(0, 60), ")");
      return absl::OkStatus();
    }
  }
  return absl::FailedPreconditionError("10 pairs of requests all reached one replica");
}

absl::Status Runner::EnsureToken(InvokerRun& inv, AefRun& aef) {
  if (inv.tokens.count(aef.id)) return absl::OkStatus();
  std::string audience = AssertionAudience(inv, aef);
  ASSIGN_OR_RETURN(AccessToken t, inv.sdk->RequestToken(
                                      absl::StrCat("3gpp#", aef.id, ":", aef.spec.api), audience));
  inv.tokens[aef.id] = t.token;
  return absl::OkStatus();
}

// {"load": INVOKER, "flow": "token" | "discover" | "aef_get" | "onboard", "aef": AEF, "in_flight": N,
//  "requests": N, "new_connection": false, "max_errors": 0}
absl::Status Runner::Load(InvokerRun& inv, AefRun* aef, const json& st, StepResult* r) {
  if (!inv.sdk) return absl::FailedPreconditionError("not onboarded");
  std::string flow = st.value("flow", "token");
  int in_flight = st.value("in_flight", 8), requests = st.value("requests", 1000);
  bool fresh = st.value("new_connection", false);
  int idle = st.value("idle_connections", 0), slow = st.value("slowloris", 0);
  if (in_flight < 1 || in_flight > 512 || requests < 1 || requests > 1000000) {
    return absl::InvalidArgumentError("in_flight must be 1-512 and requests 1-1000000");
  }
  if (idle < 0 || slow < 0 || idle + slow > 5000) {
    return absl::InvalidArgumentError("idle_connections + slowloris: 0 to 5000");
  }
  if ((flow == "token" || flow == "aef_get" || flow == "ownership") && aef == nullptr) {
    return absl::InvalidArgumentError(flow + " needs an \"aef\"");
  }
  CcfRun& home = Ccf(inv.spec.ccf, inv.spec.replica);
  HttpsClient::Options o;
  o.ca_pem = home.ca_pem;
  o.keep_alive = !fresh;
  o.client_cert_pem = inv.sdk->certificate_pem();
  ASSIGN_OR_RETURN(o.client_key_pem, inv.sdk->key().PrivateKeyPem());
  std::string url, scope, audience;
  if (flow == "token") {
    url = inv.sdk->TokenUrl();
    scope = absl::StrCat("3gpp#", aef->id, ":", aef->spec.api);
    audience = AssertionAudience(inv, *aef);
    r->what = absl::StrCat(inv.spec.name, " requests tokens for ", aef->spec.name, " at ",
                           home.spec.id);
  } else if (flow == "discover") {
    url = absl::StrCat(home.api_root, "/service-apis/v1/allServiceAPIs?api-invoker-id=",
                       inv.sdk->api_invoker_id());
    r->what = absl::StrCat(inv.spec.name, " discovers at ", home.spec.id);
  } else if (flow == "aef_get") {
    CcfRun& at = Ccf(aef->spec.ccf, aef->spec.replica);
    RETURN_IF_ERROR(AsAef(*aef, o));
    url = absl::StrCat(at.api_root, "/capif-security/v1/trustedInvokers/",
                       inv.sdk->api_invoker_id(),
                       "?authenticationInfo=true&authorizationInfo=true");
    r->what = absl::StrCat(aef->spec.name, " asks ", at.spec.id, " about ", inv.spec.name);
  } else if (flow == "ownership") {
    // An invoker nobody onboarded, a new one each request: the AEF's CCF has no grant and no
    // cached answer, so it asks every peer who owns it (#14), all deny, and it answers 404.
    CcfRun& at = Ccf(aef->spec.ccf, aef->spec.replica);
    RETURN_IF_ERROR(AsAef(*aef, o));
    url = absl::StrCat(at.api_root, "/capif-security/v1/trustedInvokers/");
    r->what = absl::StrCat(aef->spec.name, " asks ", at.spec.id, " about invokers nobody has (",
                           Peers(at.spec.id), " peers asked each time)");
  } else if (flow == "onboard") {
    url = home.api_root + "/api-invoker-management/v1/onboardedInvokers";
    o.client_cert_pem.clear();  // onboarding is server-authenticated TLS with a one-time token
    o.client_key_pem = SecretBytes();
    r->what = absl::StrCat("new invokers onboard at ", home.spec.id);
  } else {
    return absl::InvalidArgumentError("flow must be token, discover, aef_get, ownership or onboard");
  }
  absl::StrAppend(&r->what, " (load: ", requests, " requests, ", in_flight, " in flight",
                  fresh ? ", a new connection each" : "", ")");
  std::vector<std::unique_ptr<HttpsClient>> clients(in_flight);
  for (auto& c : clients) {
    ASSIGN_OR_RETURN(c, HttpsClient::Create(o));
  }
  // Each token request carries its own assertion (fresh jti), made before the clock starts so
  // that signing them does not take the CPU the CCFs are measured on. They are valid 2 minutes.
  std::vector<std::string> forms;
  if (flow == "token") {
    for (int i = 0; i < requests; ++i) {
      ASSIGN_OR_RETURN(std::string form, inv.sdk->TokenRequestForm(scope, audience));
      forms.push_back(std::move(form));
    }
  }
  // Onboarding: a one-time enrollment token (from the running ccfd's admin API), a key and a
  // CSR per request, all made before the clock starts.
  std::vector<std::pair<std::string, std::string>> onboardings;  // (Authorization, body)
  if (flow == "onboard") {
    ASSIGN_OR_RETURN(std::unique_ptr<AdminClient> admin, AdminClient::Connect(home.dir + "/data"));
    for (int i = 0; i < requests; ++i) {
      ASSIGN_OR_RETURN(IssuedEnrollmentToken token, admin->EnrollInvoker(absl::Hours(1)));
      ASSIGN_OR_RETURN(EvpKey key, EvpKey::GenerateEcP256());
      ASSIGN_OR_RETURN(std::string csr, CreateCsrPem(key));
      json body = {{"onboardingInformation", {{"apiInvokerPublicKey", csr}}},
                   {"notificationDestination", "https://load.example/cb"}};
      onboardings.emplace_back("Authorization: Bearer " + token.token, body.dump());
    }
  }
  // Unknown invoker ids must differ between load steps too (a CCF caches "nobody owns it").
  std::string run_tag = absl::StrCat(absl::ToUnixMicros(absl::Now()));
  auto one = [&](int w, int i) -> absl::Status {
    absl::StatusOr<HttpsResponse> res;
    if (flow == "token") {
      const std::string& form = forms[i];
      res = clients[w]->Request("POST", url, form, "application/x-www-form-urlencoded");
    } else if (flow == "onboard") {
      const auto& [authorization, body] = onboardings[i];
      res = clients[w]->Request("POST", url, body, "application/json", {authorization});
      if (res.ok() && res->status == 201) return absl::OkStatus();
    } else if (flow == "ownership") {
      res = clients[w]->Request("GET", absl::StrCat(url, "inv-nobody-", run_tag, "-", i));
      if (res.ok() && res->status == 404) return absl::OkStatus();
    } else {
      res = clients[w]->Request("GET", url);
    }
    if (!res.ok()) return res.status();
    if (res->status != 200) {
      return absl::InternalError(absl::StrCat("HTTP ", res->status, ": ", res->body.substr(0, 160)));
    }
    return absl::OkStatus();
  };
  std::vector<std::pair<std::string, pid_t>> watched;
  for (CcfRun& c : ccfs_) {
    if (c.process) watched.emplace_back(c.name, c.process->pid());
  }
  // Optional attackers against the CCF the flow talks to, held during the load.
  std::unique_ptr<Attackers> attackers;
  if (idle + slow > 0) {
    int port = flow == "aef_get" ? Ccf(aef->spec.ccf, aef->spec.replica).nb_port : home.nb_port;
    attackers = std::make_unique<Attackers>(port, idle, slow);
    absl::StrAppend(&r->what, ", under ", idle, " idle and ", slow, " slowloris connections");
  }
  LoadResult result = RunLoad(in_flight, requests, one, watched);
  r->detail = result.Summary();
  json line = result.ToJson();
  if (attackers) {
    // The server's deadlines (handshake, header: 10 s by default) must have cut them all.
    absl::StrAppend(&r->detail, "; ", attackers->Stop(absl::Seconds(30)));
    line["attack"] = attackers->ToJson();
  }
  line["step"] = st.value("name", r->what);
  line["flow"] = flow;
  line["in_flight"] = in_flight;
  line["new_connection"] = fresh;
  std::ofstream(opt_.out_dir + "/load.jsonl", std::ios::app) << line.dump() << "\n";
  if (result.errors > st.value("max_errors", 0)) {
    return absl::InternalError(absl::StrCat(result.errors, " errors: ", result.first_error));
  }
  return absl::OkStatus();
}

// The chaos step (docs/reliability.md): token requests from `in_flight` threads and a writer
// that onboards invokers (and, every second one, has A grant it a method and then offboards
// it, which leaves a notice for A) run for plan.run while the plan's faults hit the CCFs; then
// the end checks. Only this thread touches the CCF processes.
absl::Status Runner::Chaos(InvokerRun& inv, AefRun& aef, const json& st, StepResult* r) {
  std::set<std::string> ids;
  for (const CcfRun& c : ccfs_) ids.insert(c.spec.id);
  ASSIGN_OR_RETURN(ChaosPlan plan, ParseChaosPlan(st, ids));
  CcfRun& home = Ccf(inv.spec.ccf, inv.spec.replica);
  r->what = absl::StrCat("chaos: ", inv.spec.name, "'s tokens for ", aef.spec.name, " and new invokers at ",
                         home.spec.id, " for ", absl::FormatDuration(plan.run), " under faults");
  HttpsClient::Options o;
  o.ca_pem = home.ca_pem;
  o.client_cert_pem = inv.sdk->certificate_pem();
  ASSIGN_OR_RETURN(o.client_key_pem, inv.sdk->key().PrivateKeyPem());
  o.timeout = absl::Seconds(15);
  const std::string url = inv.sdk->TokenUrl();
  const std::string scope = absl::StrCat("3gpp#", aef.id, ":", aef.spec.api);
  const std::string audience = AssertionAudience(inv, aef);
  // The writer's one-time enrollment tokens, issued before any fault.
  std::vector<std::string> enrollments;
  {
    ASSIGN_OR_RETURN(std::unique_ptr<AdminClient> admin, AdminClient::Connect(home.dir + "/data"));
    int n = std::clamp(static_cast<int>(absl::ToDoubleSeconds(plan.run) * 20), 100, 20000);
    for (int i = 0; i < n; ++i) {
      ASSIGN_OR_RETURN(IssuedEnrollmentToken t, admin->EnrollInvoker(absl::Hours(2)));
      enrollments.push_back(t.token);
    }
  }

  // What the clients saw. A transport error (the CCF they talk to is down or starved) is not an
  // answer; every answer must be 200 or 503.
  absl::Mutex mu;
  std::map<int, int> statuses;
  int transport_errors = 0;
  std::string first_unexpected;
  std::atomic<bool> stop{false};
  auto pause_after_failure = [&] {
    // A client backs off a little (Retry-After says 5 s; the point is to keep the pressure on).
    for (int i = 0; i < 10 && !stop; ++i) absl::SleepFor(absl::Milliseconds(10));
  };
  std::vector<std::thread> threads;
  for (int w = 0; w < plan.in_flight; ++w) {
    threads.emplace_back([&] {
      auto client = HttpsClient::Create(o);
      if (!client.ok()) return;
      while (!stop) {
        auto form = inv.sdk->TokenRequestForm(scope, audience);
        if (!form.ok()) break;
        auto res = (*client)->Request("POST", url, *form, "application/x-www-form-urlencoded");
        bool failed = !res.ok() || res->status != 200;
        {
          absl::MutexLock lock(&mu);
          if (!res.ok()) {
            ++transport_errors;
          } else {
            ++statuses[res->status];
            if (res->status != 200 && res->status != 503 && first_unexpected.empty()) {
              first_unexpected = absl::StrCat("HTTP ", res->status, ": ", res->body.substr(0, 200));
            }
          }
        }
        if (failed) pause_after_failure();
      }
    });
  }
  // The writer: acknowledged onboardings and offboardings, to be found (or not) at the end.
  enum class Fate { kOnboarded, kOffboarded, kUnknown };
  std::vector<std::pair<std::unique_ptr<CapifInvoker>, Fate>> written;
  const std::vector<std::string> preference = aef.spec.methods.get<std::vector<std::string>>();
  std::thread writer([&] {
    for (size_t i = 0; i < enrollments.size() && !stop; ++i) {
      auto n = CapifInvoker::Onboard(home.api_root, home.ca_pem, enrollments[i],
                                     "https://chaos.example/cb");
      if (!n.ok()) {
        pause_after_failure();
        continue;
      }
      written.emplace_back(*std::move(n), Fate::kOnboarded);
      if (i % 2 != 0) continue;
      CapifInvoker& fresh = *written.back().first;
      auto apis = fresh.Discover({{"api-name", aef.spec.api}});
      if (!apis.ok() || apis->empty() || !fresh.RequestSecurityMethods(*apis, preference).ok()) {
        continue;
      }
      absl::Status off = fresh.Offboard();
      // A lost answer leaves the outcome unknown: the CCF may have done it.
      written.back().second = off.ok() ? Fate::kOffboarded
                              : absl::IsUnavailable(off) || absl::IsDeadlineExceeded(off)
                                  ? Fate::kUnknown
                                  : Fate::kOnboarded;
    }
  });

  // The faults, and a sample of each CCF's memory every second.
  struct Sample {
    absl::Duration at;
    double mb;
  };
  std::map<std::string, std::vector<Sample>> rss;  // since the last (re)start
  std::map<std::string, absl::Duration> started;   // when the process now running started
  std::map<std::string, bool> paused;
  std::map<std::string, long> saved_fd_limit;
  std::vector<std::string> problems, notes;
  const absl::Time t0 = absl::Now();
  auto since = [&] { return absl::Now() - t0; };
  auto restart = [&](CcfRun& c, bool clean) {
    if (c.process) {
      if (paused[c.spec.id]) c.process->Signal(SIGCONT);
      c.process->Signal(clean ? SIGTERM : SIGKILL);
      absl::StatusOr<int> code = c.process->Wait(kProcessWait);
      if (clean && (!code.ok() || *code != 0)) {
        problems.push_back(absl::StrCat(c.spec.id, " did not exit cleanly on SIGTERM at ",
                                        absl::FormatDuration(since()), ": ",
                                        code.ok() ? absl::StrCat("exit code ", *code)
                                                  : std::string(code.status().message())));
      }
      c.process.reset();
    }
    paused[c.spec.id] = false;
    saved_fd_limit.erase(c.spec.id);
    if (absl::Status up = StartCcf(c); !up.ok()) {
      problems.push_back(absl::StrCat(c.spec.id, " did not start again: ", up.message()));
    }
    rss[c.spec.id].clear();
    started[c.spec.id] = since();
  };
  auto act = [&](const ChaosAction& a) {
    CcfRun& c = Ccf(a.ccf);
    std::string what = absl::StrCat(absl::FormatDuration(absl::Trunc(since(), absl::Milliseconds(100))),
                                    " ", ChaosActionName(a.kind), " ", a.ccf);
    if (!c.process && a.kind != ChaosAction::kKill && a.kind != ChaosAction::kRestart) {
      notes.push_back(what + ": not running, skipped");
      return;
    }
    switch (a.kind) {
      case ChaosAction::kKill:
      case ChaosAction::kRestart:
        restart(c, a.kind == ChaosAction::kRestart);
        break;
      case ChaosAction::kPause:
        c.process->Signal(SIGSTOP);
        paused[a.ccf] = true;
        break;
      case ChaosAction::kResume:
        c.process->Signal(SIGCONT);
        paused[a.ccf] = false;
        break;
      case ChaosAction::kRotateTokenKey: {
        auto admin = AdminClient::Connect(c.dir + "/data", absl::Seconds(5));
        absl::Status rotated = admin.ok() ? (*admin)->RotateTokenKey().status() : admin.status();
        if (!rotated.ok()) what += absl::StrCat(": failed (", rotated.message(), ")");
        break;
      }
      case ChaosAction::kStarveFds: {
        int open = OpenFds(c.process->pid());
        long previous = 0;
        absl::Status set = open < 0 ? absl::InternalError("cannot count its descriptors")
                                    : SetFdLimit(c.process->pid(), open + 4, &previous);
        if (set.ok()) {
          saved_fd_limit[a.ccf] = previous;
          what += absl::StrCat(" (", open, " open, limit ", open + 4, ")");
        } else {
          what += absl::StrCat(": failed (", set.message(), ")");
        }
        break;
      }
      case ChaosAction::kRestoreFds: {
        auto saved = saved_fd_limit.find(a.ccf);
        if (saved != saved_fd_limit.end()) {
          SetFdLimit(c.process->pid(), saved->second, nullptr).IgnoreError();
          saved_fd_limit.erase(saved);
        }
        break;
      }
    }
    notes.push_back(what);
  };
  for (const CcfRun& c : ccfs_) started[c.spec.id] = absl::ZeroDuration();
  std::vector<ChaosAction> timeline = plan.Timeline();
  size_t next = 0;
  for (;;) {
    while (next < timeline.size() && timeline[next].at <= since()) act(timeline[next++]);
    if (since() >= plan.run) break;
    for (CcfRun& c : ccfs_) {
      if (!c.process) continue;
      if (c.process->Wait(absl::ZeroDuration()).ok()) {
        problems.push_back(absl::StrCat(c.spec.id, " exited by itself at ",
                                        absl::FormatDuration(since()), "; see ", c.dir,
                                        "/ccfd.log"));
        c.process.reset();
        restart(c, false);
        continue;
      }
      if (!paused[c.spec.id]) rss[c.spec.id].push_back({since(), ResidentMb(c.process->pid())});
    }
    absl::Duration wait = absl::Seconds(1);
    if (next < timeline.size()) wait = std::min(wait, timeline[next].at - since());
    absl::SleepFor(std::clamp(wait, absl::Milliseconds(1), plan.run - since() + absl::Milliseconds(1)));
  }
  // Faults over: everything runs again, with its own limits.
  for (CcfRun& c : ccfs_) {
    if (!c.process) {
      restart(c, false);
      continue;
    }
    if (paused[c.spec.id]) c.process->Signal(SIGCONT);
    paused[c.spec.id] = false;
    if (auto saved = saved_fd_limit.find(c.spec.id); saved != saved_fd_limit.end()) {
      SetFdLimit(c.process->pid(), saved->second, nullptr).IgnoreError();
    }
  }
  saved_fd_limit.clear();
  stop = true;
  for (std::thread& t : threads) t.join();
  writer.join();
  const absl::Duration ran = since();

  // 1. Tokens are served again.
  absl::Time deadline = absl::Now() + plan.recover;
  bool served = false;
  std::string last;
  while (!served && absl::Now() < deadline) {
    auto client = HttpsClient::Create(o);
    auto form = inv.sdk->TokenRequestForm(scope, audience);
    if (client.ok() && form.ok()) {
      auto res = (*client)->Request("POST", url, *form, "application/x-www-form-urlencoded");
      served = res.ok() && res->status == 200;
      last = res.ok() ? absl::StrCat("HTTP ", res->status) : std::string(res.status().message());
    }
    if (!served) absl::SleepFor(absl::Milliseconds(200));  // waiting on other processes
  }
  if (!served) problems.push_back("tokens were not served again within the recovery time: " + last);
  // 2. Every notice is delivered (each outbox empty, asked of the running ccfd).
  for (CcfRun& c : ccfs_) {
    size_t pending = 0;
    std::string example;
    for (;;) {
      auto admin = AdminClient::Connect(c.dir + "/data", absl::Seconds(5));
      auto list = admin.ok() ? (*admin)->ListNotices()
                             : absl::StatusOr<std::vector<OutboundNotice>>(admin.status());
      pending = list.ok() ? list->size() : 1;
      if (pending > 0) {
        example = list.ok() ? absl::StrCat((*list)[0].kind, " to ", (*list)[0].destination, ": ",
                                           (*list)[0].last_error)
                            : std::string(list.status().message());
      }
      if (pending == 0 || absl::Now() > deadline) break;
      absl::SleepFor(absl::Milliseconds(200));  // waiting on other processes
    }
    if (pending > 0) {
      problems.push_back(absl::StrCat(c.spec.id, ": ", pending, " notice(s) not delivered, e.g. ", example));
    }
  }
  // 3. No acknowledged write is lost: each onboarded invoker can update its onboarding, each
  // offboarded one is gone.
  int onboarded = 0, offboarded = 0, unknown = 0, lost = 0;
  std::string first_lost;
  for (const auto& [invoker, fate] : written) {
    if (fate == Fate::kUnknown) {
      ++unknown;
      continue;
    }
    (fate == Fate::kOnboarded ? onboarded : offboarded)++;
    HttpsClient::Options io;
    io.ca_pem = home.ca_pem;
    io.client_cert_pem = invoker->certificate_pem();
    ASSIGN_OR_RETURN(io.client_key_pem, invoker->key().PrivateKeyPem());
    ASSIGN_OR_RETURN(std::unique_ptr<HttpsClient> client, HttpsClient::Create(io));
    ASSIGN_OR_RETURN(std::string csr, CreateCsrPem(invoker->key()));
    json body = {{"onboardingInformation", {{"apiInvokerPublicKey", csr}}},
                 {"notificationDestination", "https://chaos.example/cb"}};
    auto res = client->Request(
        "PUT", absl::StrCat(home.api_root, "/api-invoker-management/v1/onboardedInvokers/",
                            invoker->api_invoker_id()),
        body.dump(), "application/json");
    int want = fate == Fate::kOnboarded ? 200 : 404;
    if (!res.ok() || res->status != want) {
      ++lost;
      if (first_lost.empty()) {
        first_lost = absl::StrCat(invoker->api_invoker_id(), " (wanted ", want, ", got ",
                                  res.ok() ? absl::StrCat(res->status) : std::string(res.status().message()), ")");
      }
    }
  }
  if (lost > 0) problems.push_back(absl::StrCat(lost, " acknowledged write(s) lost, e.g. ", first_lost));
  // 4. Every answer was 200 or 503.
  int requests = transport_errors;
  for (const auto& [status, n] : statuses) requests += n;
  if (!first_unexpected.empty()) problems.push_back("an answer other than 200 or 503: " + first_unexpected);
  // 5. Memory is flat: from `warmup` after the last (re)start to the end, when that spans at
  // least a quarter of the run.
  json memory = json::object();
  for (const CcfRun& c : ccfs_) {
    std::vector<Sample> warm;
    for (const Sample& s : rss[c.spec.id]) {
      if (s.at >= started[c.spec.id] + plan.warmup) warm.push_back(s);
    }
    if (warm.size() < 2 || warm.back().at - warm.front().at < plan.run / 4) {
      memory[c.spec.id] = "not measured (restarted too late in the run)";
      continue;
    }
    double base = warm.front().mb, end = warm.back().mb;
    memory[c.spec.id] = {{"warm_mb", base}, {"end_mb", end},
                         {"from_s", absl::ToDoubleSeconds(warm.front().at)},
                         {"to_s", absl::ToDoubleSeconds(warm.back().at)}};
    if (std::abs(end - base) > plan.rss_tolerance * base) {
      problems.push_back(absl::StrFormat("%s: RSS went from %.1f MB to %.1f MB (more than %.0f %%)",
                                         c.spec.id, base, end, plan.rss_tolerance * 100));
    }
  }

  json status_counts = json::object();
  for (const auto& [status, n] : statuses) status_counts[absl::StrCat(status)] = n;
  json line = {{"step", st.value("name", r->what)},
               {"chaos", {{"seconds", absl::ToDoubleSeconds(ran)},
                          {"faults", notes},
                          {"token_requests", requests},
                          {"statuses", status_counts},
                          {"transport_errors", transport_errors},
                          {"onboarded_checked", onboarded},
                          {"offboarded_checked", offboarded},
                          {"outcome_unknown", unknown},
                          {"lost", lost},
                          {"rss", memory},
                          {"problems", problems}}}};
  std::ofstream(opt_.out_dir + "/load.jsonl", std::ios::app) << line.dump() << "\n";
  out_ << "  chaos: " << notes.size() << " faults: " << absl::StrJoin(notes, "; ") << "\n"
       << "  chaos: " << requests << " token requests: " << status_counts.dump() << ", "
       << transport_errors << " transport errors; writes checked: " << onboarded
       << " onboarded, " << offboarded << " offboarded (" << unknown << " unknown), " << lost
       << " lost; RSS " << memory.dump() << "\n";
  for (const std::string& p : problems) out_ << "  chaos: PROBLEM: " << p << "\n";
  r->detail = absl::StrCat(requests, " token requests, ", lost, " writes lost, ", problems.size(),
                           " problem(s)");
  if (!problems.empty()) return absl::InternalError(absl::StrJoin(problems, "; "));
  return absl::OkStatus();
}

absl::Status Runner::Connect(InvokerRun& inv, AefRun& aef, const json& st, std::string* detail) {
  auto m = inv.methods.find(aef.id);
  if (m == inv.methods.end()) return absl::FailedPreconditionError("no security method for this AEF yet");
  std::string request = "GET /" + aef.spec.api + "/v1/position?ue=ue-1 HTTP/1.1\\r\\nHost: aef\\r\\nConnection: close\\r\\n\\r\\n";
  std::string args;
  if (m->second == "PSK") {
    auto psk = inv.context.aef_psks.find(aef.id);
    if (psk == inv.context.aef_psks.end()) return absl::FailedPreconditionError("no AEFPSK");
    args = absl::StrCat(st.value("tls", "1.3") == "1.2" ? "-tls1_2" : "-tls1_3", " -psk ",
                        absl::BytesToHexString(psk->second.Reveal(InsecureSecretAccess())),
                        " -psk_identity ", inv.sdk->api_invoker_id());
  } else if (m->second == "PKI") {
    std::string base = opt_.out_dir + "/invoker-" + inv.spec.name;
    ASSIGN_OR_RETURN(SecretBytes key, inv.sdk->key().PrivateKeyPem());
    RETURN_IF_ERROR(WriteFileAtomic(base + ".pem", inv.sdk->certificate_pem()));
    RETURN_IF_ERROR(WriteFileAtomic(base + ".key", std::string(key.Reveal(InsecureSecretAccess())), 0600));
    args = absl::StrCat("-cert ", base, ".pem -key ", base, ".key");
  } else {
    RETURN_IF_ERROR(EnsureToken(inv, aef));
    CcfRun& c = Ccf(aef.spec.ccf);
    HttpsClient::Options o;
    o.ca_pem = c.ca_pem;
    o.expected_peer_uri = absl::StrCat("spiffe://", c.spec.trust_domain, "/aef/", aef.id);
    ASSIGN_OR_RETURN(auto client, HttpsClient::Create(std::move(o)));
    Note(inv.spec.name, aef.spec.name, "GET /" + aef.spec.api + "/v1/position (Bearer)", "CAPIF-2e");
    ASSIGN_OR_RETURN(HttpsResponse r, client->Request(
        "GET", absl::StrCat("https://127.0.0.1:", aef.port, "/", aef.spec.api, "/v1/position?ue=ue-1"),
        "", "", {"Authorization: Bearer " + inv.tokens[aef.id]}));
    Note(aef.spec.name, inv.spec.name, absl::StrCat(r.status), "CAPIF-2e", true);
    *detail = absl::StrCat("OAuth: HTTP ", r.status);
    if (r.status != 200) return absl::PermissionDeniedError(*detail);
    return absl::OkStatus();
  }
  Note(inv.spec.name, aef.spec.name, absl::StrCat("TLS-", m->second, " GET /", aef.spec.api, "/v1/position"),
       "CAPIF-2e");
  auto r = RunToCompletion({"/bin/bash", "-c",
                            absl::StrCat("printf '", request, "' | openssl s_client -connect 127.0.0.1:",
                                         aef.port, " -ign_eof -quiet ", args, " 2>&1")},
                           absl::Seconds(30));
  if (!r.ok()) return r.status();
  bool ok = absl::StrContains(r->out, "HTTP/1.1 200");
  size_t status_at = r->out.find("HTTP/1.1 ");
  std::string status = status_at == std::string::npos ? "handshake failed" : r->out.substr(status_at + 9, 3);
  Note(aef.spec.name, inv.spec.name, status, "CAPIF-2e", true);
  *detail = absl::StrCat("openssl s_client (TLS-", m->second, "): ", status);
  return ok ? absl::OkStatus() : absl::PermissionDeniedError(*detail);
}

absl::Status Runner::Step(const json& st, StepResult* r) {
  auto invoker_of = [&](const std::string& key) -> absl::StatusOr<InvokerRun*> {
    auto it = invokers_.find(st[key].get<std::string>());
    if (it == invokers_.end()) return absl::InvalidArgumentError("unknown invoker " + st[key].dump());
    if (key != "onboard" && !it->second.sdk) return absl::FailedPreconditionError("not onboarded");
    return &it->second;
  };
  auto aef_of = [&](const std::string& name) -> absl::StatusOr<AefRun*> {
    for (AefRun& a : aefs_) {
      if (a.spec.name == name) return &a;
    }
    return absl::InvalidArgumentError("unknown AEF " + name);
  };
  // A CCF id, or "<id>/<n>" for one replica. A replicated CCF's bare id names its first
  // running replica (for steps that ask any of them); stop, start and kill need a replica.
  auto ccf_of = [&](const std::string& id, bool one_process = false) -> absl::StatusOr<CcfRun*> {
    for (CcfRun& c : ccfs_) {
      if (c.name == id) return &c;
    }
    for (CcfRun& c : ccfs_) {
      if (c.spec.id != id) continue;
      if (one_process) {
        return absl::InvalidArgumentError(absl::StrCat(id, " runs as ", c.spec.replicas,
                                                       " replicas: name one, e.g. ", id, "/1"));
      }
      return &Ccf(id);
    }
    return absl::InvalidArgumentError("unknown CCF " + id);
  };
  if (st.contains("onboard")) {
    ASSIGN_OR_RETURN(InvokerRun * inv, invoker_of("onboard"));
    CcfRun& c = Ccf(inv->spec.ccf, inv->spec.replica);
    r->what = absl::StrCat(inv->spec.name, " onboards at ", c.spec.id);
    ASSIGN_OR_RETURN(std::string token, Enroll(c, "invoker"));
    Note(inv->spec.name, c.spec.id, "POST onboardedInvokers (CSR)", "CAPIF-1e");
    ASSIGN_OR_RETURN(inv->sdk, CapifInvoker::Onboard(c.api_root, c.ca_pem, token,
                                                     "https://" + inv->spec.name + ".example/cb"));
    Note(c.spec.id, inv->spec.name, "201 apiInvokerId, certificate", "CAPIF-1e", true);
    r->detail = inv->sdk->api_invoker_id();
    return absl::OkStatus();
  }
  if (st.contains("discover")) {
    ASSIGN_OR_RETURN(InvokerRun * inv, invoker_of("discover"));
    std::string api = st.value("api", "");
    r->what = absl::StrCat(inv->spec.name, " discovers ", api.empty() ? "all APIs" : api);
    std::map<std::string, std::string> filters;
    if (!api.empty()) filters["api-name"] = api;
    Note(inv->spec.name, inv->spec.ccf, "GET allServiceAPIs", "CAPIF-1e");
    ASSIGN_OR_RETURN(inv->discovered, inv->sdk->Discover(filters));
    std::vector<std::string> seen;
    for (const json& d : inv->discovered) {
      seen.push_back(absl::StrCat(d.value("apiName", ""), d.contains("ccfId") ? "@" + d.value("ccfId", "") : ""));
    }
    Note(inv->spec.ccf, inv->spec.name, absl::StrCat("200 ", absl::StrJoin(seen, ", ")), "CAPIF-1e", true);
    r->detail = absl::StrJoin(seen, ", ");
    if (st.contains("expect_apis") && st["expect_apis"] != static_cast<int>(seen.size())) {
      return absl::FailedPreconditionError(absl::StrCat("found ", seen.size(), " APIs"));
    }
    return absl::OkStatus();
  }
  if (st.contains("request_security")) {
    ASSIGN_OR_RETURN(InvokerRun * inv, invoker_of("request_security"));
    std::vector<std::string> methods = st.value("methods", std::vector<std::string>{"PSK", "PKI", "OAUTH"});
    r->what = absl::StrCat(inv->spec.name, " requests security methods (", absl::StrJoin(methods, ","), ")");
    json apis = json::array();
    for (const json& d : inv->discovered) {
      if (!st.contains("api") || d.value("apiName", "") == st["api"]) apis.push_back(d);
    }
    if (apis.empty()) return absl::FailedPreconditionError("nothing discovered to ask for");
    Note(inv->spec.name, inv->spec.ccf, "PUT trustedInvokers (prefSecurityMethods)", "CAPIF-1e");
    ASSIGN_OR_RETURN(inv->context, inv->sdk->RequestSecurityMethods(apis, methods));
    std::vector<std::string> chosen;
    for (const json& e : inv->context.service_security["securityInfo"]) {
      inv->methods[e["aefId"]] = e["selSecurityMethod"];
      chosen.push_back(e["selSecurityMethod"]);
    }
    Note(inv->spec.ccf, inv->spec.name, "201 selSecurityMethod " + absl::StrJoin(chosen, ","), "CAPIF-1e", true);
    r->detail = absl::StrJoin(chosen, ",");
    if (st.contains("expect_method") && (chosen.empty() || chosen[0] != st["expect_method"])) {
      return absl::FailedPreconditionError("selected " + r->detail);
    }
    return absl::OkStatus();
  }
  if (st.contains("connect")) {
    ASSIGN_OR_RETURN(InvokerRun * inv, invoker_of("connect"));
    ASSIGN_OR_RETURN(AefRun * aef, aef_of(st.value("aef", "")));
    r->what = absl::StrCat(inv->spec.name, " calls ", aef->spec.name, "'s ", aef->spec.api);
    return Connect(*inv, *aef, st, &r->detail);
  }
  if (st.contains("get_token")) {
    ASSIGN_OR_RETURN(InvokerRun * inv, invoker_of("get_token"));
    ASSIGN_OR_RETURN(AefRun * aef, aef_of(st.value("aef", "")));
    r->what = absl::StrCat(inv->spec.name, " gets an access token for ", aef->spec.name);
    inv->tokens.erase(aef->id);
    Note(inv->spec.name, inv->spec.ccf, "POST securities/{id}/token", "CAPIF-1e");
    absl::Status s = EnsureToken(*inv, *aef);
    Note(inv->spec.ccf, inv->spec.name, s.ok() ? "200 access_token" : "error", "CAPIF-1e", true);
    if (s.ok()) r->detail = "token issued";
    return s;
  }
  if (st.contains("replay_assertion")) {
    ASSIGN_OR_RETURN(InvokerRun * inv, invoker_of("replay_assertion"));
    ASSIGN_OR_RETURN(AefRun * aef, aef_of(st.value("aef", "")));
    return ReplayAssertion(*inv, *aef, r);
  }
  if (st.contains("offboard")) {
    ASSIGN_OR_RETURN(InvokerRun * inv, invoker_of("offboard"));
    r->what = absl::StrCat(inv->spec.name, " offboards at ", inv->spec.ccf);
    Note(inv->spec.name, inv->spec.ccf, "DELETE onboardedInvokers/{id}", "CAPIF-1e");
    RETURN_IF_ERROR(inv->sdk->Offboard());
    Note(inv->spec.ccf, inv->spec.name, "204", "CAPIF-1e", true);
    return absl::OkStatus();
  }
  if (st.contains("revoke")) {
    ASSIGN_OR_RETURN(InvokerRun * inv, invoker_of("revoke"));
    r->what = absl::StrCat(inv->spec.name, " gives up its security context");
    Note(inv->spec.name, inv->spec.ccf, "DELETE trustedInvokers/{id}", "CAPIF-1e");
    RETURN_IF_ERROR(inv->sdk->DeleteSecurityContext());
    Note(inv->spec.ccf, inv->spec.name, "204", "CAPIF-1e", true);
    inv->tokens.clear();
    return absl::OkStatus();
  }
  if (st.contains("pause") || st.contains("resume")) {
    // SIGSTOP / SIGCONT a CCF (or one replica) or an AEF: it hangs, holding its connections.
    const bool pause = st.contains("pause");
    const std::string target = st[pause ? "pause" : "resume"];
    Subprocess* process = nullptr;
    for (AefRun& a : aefs_) {
      if (a.spec.name == target) process = a.process.get();
    }
    if (process == nullptr) {
      ASSIGN_OR_RETURN(CcfRun * c, ccf_of(target, /*one_process=*/true));
      process = c->process.get();
    }
    r->what = absl::StrCat(pause ? "pause " : "resume ", target);
    if (process == nullptr) return absl::FailedPreconditionError("not running");
    process->Signal(pause ? SIGSTOP : SIGCONT);
    return absl::OkStatus();
  }
  if (st.contains("kill")) {
    ASSIGN_OR_RETURN(CcfRun * c, ccf_of(st["kill"], /*one_process=*/true));
    r->what = "SIGKILL " + c->name;
    if (!c->process) return absl::FailedPreconditionError("not running");
    c->process->Signal(SIGKILL);
    c->process->Wait(kProcessWait).IgnoreError();
    c->process.reset();
    return absl::OkStatus();
  }
  if (st.contains("stop")) {
    ASSIGN_OR_RETURN(CcfRun * c, ccf_of(st["stop"], /*one_process=*/true));
    r->what = "stop " + c->name;
    if (!c->process) return absl::FailedPreconditionError("not running");
    c->process->Signal(SIGTERM);
    ASSIGN_OR_RETURN(int code, c->process->Wait(kProcessWait));
    c->process.reset();
    if (code != 0) return absl::InternalError(absl::StrCat("exit code ", code));
    return absl::OkStatus();
  }
  if (st.contains("start")) {
    ASSIGN_OR_RETURN(CcfRun * c, ccf_of(st["start"], /*one_process=*/true));
    r->what = "start " + c->name;
    if (c->process) return absl::FailedPreconditionError("already running");
    return StartCcf(*c);
  }
  if (st.contains("await_notices")) {
    ASSIGN_OR_RETURN(CcfRun * c, ccf_of(st["await_notices"]));
    absl::Duration limit = absl::Milliseconds(st.value("timeout_ms", 20000));
    r->what = absl::StrCat(c->spec.id, " has every notice acknowledged");
    // Through the running ccfd's admin API, never its database.
    ASSIGN_OR_RETURN(std::unique_ptr<AdminClient> admin, AdminClient::Connect(c->dir + "/data"));
    absl::Time deadline = absl::Now() + limit;
    for (;;) {
      ASSIGN_OR_RETURN(std::vector<OutboundNotice> pending, admin->ListNotices());
      if (pending.empty()) return absl::OkStatus();
      if (absl::Now() > deadline) {
        r->detail = absl::StrCat(pending.size(), " pending, e.g. ", pending[0].kind, " to ",
                                 pending[0].destination, ": ", pending[0].last_error);
        return absl::DeadlineExceededError(r->detail);
      }
      absl::SleepFor(absl::Milliseconds(50));  // waiting on another process
    }
  }
  if (st.contains("load")) {
    ASSIGN_OR_RETURN(InvokerRun * inv, invoker_of("load"));
    AefRun* aef = nullptr;
    if (st.contains("aef")) {
      ASSIGN_OR_RETURN(aef, aef_of(st.value("aef", "")));
    }
    return Load(*inv, aef, st, r);
  }
  if (st.contains("chaos")) {
    ASSIGN_OR_RETURN(InvokerRun * inv, invoker_of("chaos"));
    ASSIGN_OR_RETURN(AefRun * aef, aef_of(st.value("aef", "")));
    return Chaos(*inv, *aef, st, r);
  }
  // {"subscribe": INVOKER | AEF, "events": [...]}: a CAPIF_Events_API subscription at the
  // subscriber's CCF, notified at an HTTPS endpoint of the runner.
  if (st.contains("subscribe")) {
    const std::string who = st["subscribe"].get<std::string>();
    std::string cert, ccf_name, kind, id;
    SecretBytes key;
    if (invokers_.count(who)) {
      ASSIGN_OR_RETURN(InvokerRun * inv, invoker_of("subscribe"));
      cert = inv->sdk->certificate_pem();
      ASSIGN_OR_RETURN(key, inv->sdk->key().PrivateKeyPem());
      ccf_name = inv->spec.ccf;
      id = inv->sdk->api_invoker_id();
    } else {
      ASSIGN_OR_RETURN(AefRun * aef, aef_of(who));
      cert = aef->provider.aef_certificate_pem;
      key = aef->key_pem;
      ccf_name = aef->spec.ccf;
      id = aef->id;
    }
    CcfRun& c = Ccf(ccf_name);
    r->what = absl::StrCat(
        who, " subscribes at ", c.spec.id, " to ",
        absl::StrJoin(st.value("events", json::array()).get<std::vector<std::string>>(), ", "));
    if (!sinks_.count(who)) {
      std::string dir = absl::StrCat(opt_.out_dir, "/sink-", who);
      RETURN_IF_ERROR(
          Sh({Bin("tools/capif-pki/capif-pki"), "issue", "--ca", c.dir + "/pki/ca", "--spiffe-id",
              absl::StrCat("spiffe://", c.spec.trust_domain, "/aef/sink-", who), "--ip",
              "127.0.0.1", "--out", dir})
              .status());
      ASSIGN_OR_RETURN(std::string sink_cert, ReadFile(dir + "/cert.pem"));
      ASSIGN_OR_RETURN(std::string sink_key, ReadFile(dir + "/key.pem"));
      ASSIGN_OR_RETURN(sinks_[who],
                       NotificationSink::Start(sink_cert, SecretBytes(sink_key), c.ca_pem));
    }
    HttpsClient::Options o;
    o.ca_pem = c.ca_pem;
    o.client_cert_pem = cert;
    o.client_key_pem = key;
    ASSIGN_OR_RETURN(auto client, HttpsClient::Create(std::move(o)));
    json body = {{"events", st.value("events", json::array())},
                 {"notificationDestination", sinks_[who]->url()}};
    Note(who, c.spec.id, "POST capif-events subscriptions", "CAPIF-1e");
    ASSIGN_OR_RETURN(
        HttpsResponse res,
        client->Request("POST", c.api_root + "/capif-events/v1/" + id + "/subscriptions",
                        body.dump(), "application/json"));
    if (res.status != 201) {
      return absl::FailedPreconditionError(
          absl::StrCat("HTTP ", res.status, ": ", res.body.substr(0, 200)));
    }
    Note(c.spec.id, who, "201 subscription", "CAPIF-1e", true);
    return absl::OkStatus();
  }
  // {"await_event": INVOKER | AEF, "event": NAME}: a notification of that event reaches it.
  if (st.contains("await_event")) {
    const std::string who = st["await_event"].get<std::string>();
    const std::string event = st.value("event", "");
    r->what = absl::StrCat(who, " is notified of ", event);
    auto sink = sinks_.find(who);
    if (sink == sinks_.end()) return absl::FailedPreconditionError(who + " has not subscribed");
    std::optional<json> n = sink->second->Await(event, kProcessWait);
    if (!n) return absl::DeadlineExceededError("no such notification");
    json detail = n->value("eventDetail", json::object());
    r->detail = detail.value("apiIds", json::array()).dump();
    return absl::OkStatus();
  }
  // {"unpublish": AEF}: its APF withdraws its API.
  if (st.contains("unpublish")) {
    ASSIGN_OR_RETURN(AefRun * aef, aef_of(st["unpublish"]));
    CcfRun& c = Ccf(aef->spec.ccf, aef->spec.replica);
    r->what = absl::StrCat("the APF of ", aef->spec.name, " withdraws ", aef->spec.api);
    HttpsClient::Options o;
    o.ca_pem = c.ca_pem;
    o.client_cert_pem = aef->provider.apf_certificate_pem;
    o.client_key_pem = aef->key_pem;
    ASSIGN_OR_RETURN(auto client, HttpsClient::Create(std::move(o)));
    Note("provider-" + aef->spec.name, c.spec.id, "DELETE service-apis " + aef->spec.api,
         "CAPIF-4");
    ASSIGN_OR_RETURN(HttpsResponse res,
                     client->Request("DELETE", absl::StrCat(c.api_root, "/published-apis/v1/",
                                                            aef->provider.apf_id, "/service-apis/",
                                                            aef->api_id)));
    if (res.status != 204) return absl::FailedPreconditionError(absl::StrCat("HTTP ", res.status));
    return absl::OkStatus();
  }
  // {"acl": AEF, "invoker": INVOKER}: the AEF's access control policy for its API lists the
  // invoker (CAPIF_Access_Control_Policy_API).
  if (st.contains("acl") || st.contains("audit")) {
    const bool acl = st.contains("acl");
    if (!st.contains("invoker")) return absl::InvalidArgumentError("needs \"invoker\"");
    ASSIGN_OR_RETURN(AefRun * aef, aef_of(st[acl ? "acl" : "audit"]));
    ASSIGN_OR_RETURN(InvokerRun * inv, invoker_of("invoker"));
    CcfRun& c = Ccf(aef->spec.ccf, aef->spec.replica);
    HttpsClient::Options o;
    o.ca_pem = c.ca_pem;
    o.client_cert_pem = acl ? aef->provider.aef_certificate_pem : aef->provider.amf_certificate_pem;
    o.client_key_pem = aef->key_pem;
    ASSIGN_OR_RETURN(auto client, HttpsClient::Create(std::move(o)));
    const std::string invoker = inv->sdk->api_invoker_id();
    if (acl) {
      r->what =
          absl::StrCat(aef->spec.name, " reads its access control policy for ", inv->spec.name);
      Note(aef->spec.name, c.spec.id, "GET accessControlPolicyList", "CAPIF-3");
      ASSIGN_OR_RETURN(HttpsResponse res,
                       client->Request("GET", absl::StrCat(c.api_root,
                                                           "/access-control-policy/v1/"
                                                           "accessControlPolicyList/",
                                                           aef->api_id, "?aef-id=", aef->id,
                                                           "&api-invoker-id=", invoker)));
      json doc = json::parse(res.body, nullptr, false);
      size_t n = res.status == 200 ? doc.value("apiInvokerPolicies", json::array()).size() : 0;
      r->detail = absl::StrCat("HTTP ", res.status, ", ", n, " policy");
      if (n != 1) return absl::NotFoundError("the invoker is not in the policy");
      return absl::OkStatus();
    }
    // {"audit": AEF, "invoker": INVOKER, "expect_logs": N}: the AMF of the AEF's provider finds
    // at least N invocation logs of the invoker (the sample AEF posts them once a second).
    const size_t want = st.value("expect_logs", 1);
    r->what =
        absl::StrCat("the AMF of ", aef->spec.name, " audits the invocations of ", inv->spec.name);
    Note("amf-" + aef->spec.name, c.spec.id, "GET apiInvocationLogs", "CAPIF-5");
    size_t n = 0;
    for (absl::Time end = absl::Now() + kProcessWait;;) {
      ASSIGN_OR_RETURN(
          HttpsResponse res,
          client->Request("GET", absl::StrCat(c.api_root, "/logs/v1/apiInvocationLogs?aef-id=",
                                              aef->id, "&api-invoker-id=", invoker)));
      json doc = json::parse(res.body, nullptr, false);
      n = res.status == 200 ? doc.value("logs", json::array()).size() : 0;
      if (n >= want || absl::Now() > end) break;
      absl::SleepFor(absl::Milliseconds(200));  // until the AEF's next post
    }
    r->detail = absl::StrCat(n, " log(s)");
    if (n < want) return absl::NotFoundError("too few invocation logs");
    return absl::OkStatus();
  }
  if (st.contains("drop_grants")) {
    ASSIGN_OR_RETURN(CcfRun * c, ccf_of(st["drop_grants"]));
    r->what = c->spec.id + " loses its grants (restored from a backup)";
    if (!c->process) return absl::FailedPreconditionError("not running (start it first)");
    // The running ccfd drops them itself (admin API), as a restore would leave it: no grants,
    // nothing cached of those invokers.
    ASSIGN_OR_RETURN(std::unique_ptr<AdminClient> admin, AdminClient::Connect(c->dir + "/data"));
    ASSIGN_OR_RETURN(int64_t dropped, admin->DropGrants());
    r->detail = absl::StrCat(dropped, " dropped");
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError("no action");
}

void Runner::CollectLogs() {
  // Bus calls each CCF answered: the caller's CCF -> this CCF. One arrow per request id.
  std::map<std::string, std::string> relation_of;
  for (const PeeringSpec& p : spec_.peerings) {
    relation_of[p.a + "|" + p.b] = p.relation;
    relation_of[p.b + "|" + p.a] = p.relation;
  }
  for (CcfRun& c : ccfs_) {
    auto text = ReadFile(c.dir + "/audit.log");
    if (!text.ok()) continue;
    std::map<std::string, size_t> by_request;
    for (absl::string_view line : absl::StrSplit(*text, '\n', absl::SkipEmpty())) {
      json j = json::parse(line, nullptr, false);
      if (!j.is_object()) continue;
      auto caller = SpiffeId::Parse(j.value("peer", ""));
      std::string from = caller.ok() ? caller->id() : "(unknown)";
      std::string op = j.value("operation", "");
      std::string label = absl::StrCat(op, j.value("decision", "") == "deny" ? " DENIED" : "",
                                       j.value("invoker", "").empty() ? "" : " " + j.value("invoker", "").substr(0, 14));
      Event e{ParseIsoTime(j.value("time", "")), from, c.spec.id, label,
              relation_of.count(from + "|" + c.spec.id) ? relation_of[from + "|" + c.spec.id] : "CAPIF-6e"};
      std::string key = j.value("request_id", "") + op;
      if (!j.value("request_id", "").empty() && by_request.count(key)) {
        events_[by_request[key]] = e;  // the later line is the decision on the request
      } else {
        by_request[key] = events_.size();
        events_.push_back(e);
      }
    }
  }
  // CAPIF-3 between each AEF and its CCF, from the sample AEF's log.
  for (AefRun& a : aefs_) {
    auto text = ReadFile(a.dir + "/aef.log");
    if (!text.ok()) continue;
    for (absl::string_view line : absl::StrSplit(*text, '\n', absl::SkipEmpty())) {
      absl::Time t = ParseIsoTime(std::string(line.substr(0, line.find(' '))));
      if (absl::StrContains(line, "asking the CCF for the security information of")) {
        events_.push_back({t, a.spec.name, a.spec.ccf, "GET trustedInvokers/{id}", "CAPIF-3"});
      } else if (absl::StrContains(line, "revoked by")) {
        events_.push_back({t, a.spec.ccf, a.spec.name, "POST revoke-authorization", "CAPIF-3"});
      } else if (absl::StrContains(line, "refused")) {
        events_.push_back({t, a.spec.name, a.spec.name, "refused: " + std::string(line.substr(line.find("aef: ") + 5, 60)),
                           "CAPIF-2e"});
      }
    }
  }
  std::stable_sort(events_.begin(), events_.end(),
                   [](const Event& x, const Event& y) { return x.time < y.time; });
}

void Runner::WriteReport(const std::vector<StepResult>& results) {
  std::ostringstream uml;
  uml << "@startuml\ntitle " << spec_.name << "\n";
  std::map<std::string, std::vector<std::string>> by_domain;
  for (const CcfRun& c : ccfs_) by_domain[c.spec.trust_domain].push_back("participant \"" + c.spec.id + "\" as " + Alias(c.spec.id));
  for (const AefRun& a : aefs_) {
    by_domain[Ccf(a.spec.ccf).spec.trust_domain].push_back("participant \"AEF " + a.spec.name + "\" as " + Alias(a.spec.name));
  }
  for (const auto& [name, inv] : invokers_) {
    by_domain[Ccf(inv.spec.ccf).spec.trust_domain].insert(
        by_domain[Ccf(inv.spec.ccf).spec.trust_domain].begin(),
        "actor \"" + name + "\" as " + Alias(name));
  }
  for (const AefSpec& a : spec_.aefs) {
    by_domain[Ccf(a.ccf).spec.trust_domain].push_back("participant \"provider of " + a.name + "\" as " + Alias("provider-" + a.name));
  }
  for (const auto& [domain, lines] : by_domain) {
    uml << "box \"" << domain << "\"\n";
    for (const std::string& l : lines) uml << "  " << l << "\n";
    uml << "end box\n";
  }
  for (const Event& e : events_) {
    uml << Alias(e.from) << (e.reply ? " --> " : " -> ") << Alias(e.to) << " : [" << e.channel
        << "] " << e.label << "\n";
  }
  uml << "@enduml\n";
  std::string puml = opt_.out_dir + "/sequence.puml";
  WriteFileAtomic(puml, uml.str()).IgnoreError();
  bool svg = false;
  if (access("/usr/bin/plantuml", X_OK) == 0) {
    auto r = RunToCompletion({"/usr/bin/plantuml", "-tsvg", puml}, absl::Seconds(120));
    svg = r.ok() && r->exit_code == 0;
  }
  std::ostringstream md;
  md << "# Scenario: " << spec_.name << "\n\n" << spec_.description << "\n\n## Topology\n\n"
     << "| CCF | trust domain | bus | northbound |\n|---|---|---|---|\n";
  for (const CcfRun& c : ccfs_) {
    md << "| " << c.name << " | " << c.spec.trust_domain << " | 127.0.0.1:" << c.bus_port
       << " | " << c.api_root << " |\n";
  }
  md << "\n| peering | relation | operations | shared APIs | tokens |\n|---|---|---|---|---|\n";
  for (const PeeringSpec& p : spec_.peerings) {
    md << "| " << p.a << " - " << p.b << " | " << p.relation << " | "
       << absl::StrJoin(p.operations.get<std::vector<std::string>>(), ", ") << " | "
       << absl::StrJoin(p.shared_apis.get<std::vector<std::string>>(), ", ") << " | "
       << (p.tokens.empty() ? "issued-by-aef-ccf" : p.tokens) << " |\n";
  }
  md << "\n| AEF | CCF | API | methods |\n|---|---|---|---|\n";
  for (const AefRun& a : aefs_) {
    md << "| " << a.spec.name << " (" << a.id << ") | " << a.spec.ccf << " | " << a.spec.api
       << " | " << absl::StrJoin(a.spec.methods.get<std::vector<std::string>>(), ", ") << " |\n";
  }
  md << "\n## Steps\n\n| # | step | expected | result | latency | detail |\n|---|---|---|---|---|---|\n";
  for (size_t i = 0; i < results.size(); ++i) {
    const StepResult& r = results[i];
    bool pass = r.ok == r.expected_ok;
    md << "| " << i + 1 << " | " << r.what << " | " << (r.expected_ok ? "ok" : "fail") << " | "
       << (pass ? "PASS" : "**FAIL**") << " | "
       << absl::StrFormat("%.1f ms", absl::ToDoubleMilliseconds(r.latency)) << " | "
       << absl::StrReplaceAll(r.detail.substr(0, 160), {{"|", "/"}, {"\n", " "}}) << " |\n";
  }
  md << "\n## Messages observed\n\nFrom the runner's own calls (CAPIF-1e, CAPIF-2e), the CCFs' "
        "audit logs (CAPIF-6/6e) and the sample AEFs' logs (CAPIF-3). "
     << (svg ? "Rendered: [sequence.svg](sequence.svg).\n\n"
             : "Render with `plantuml -tsvg sequence.puml` (Debian package `plantuml`).\n\n")
     << "```plantuml\n" << uml.str() << "```\n";
  WriteFileAtomic(opt_.out_dir + "/report.md", md.str()).IgnoreError();
}

void Runner::StopAll() {
  for (AefRun& a : aefs_) {
    if (a.process) {
      a.process->Signal(SIGTERM);
      a.process->Wait(kProcessWait).IgnoreError();
      a.process.reset();
    }
  }
  for (CcfRun& c : ccfs_) {
    if (c.process) {
      c.process->Signal(SIGTERM);
      c.process->Wait(kProcessWait).IgnoreError();
      c.process.reset();
    }
  }
}

int Runner::Run() {
  out_ << "scenario: " << spec_.name << "\n";
  absl::Status up = SetUp();
  if (!up.ok()) {
    err_ << "capif-scenario: setting up the topology failed: " << up.message() << "\n";
    return 2;
  }
  std::vector<StepResult> results;
  out_ << absl::StrFormat("%-4s %-58s %-6s %10s  %s\n", "#", "STEP", "RESULT", "LATENCY", "DETAIL");
  bool all_pass = true;
  for (const json& st : spec_.steps) {
    StepResult r;
    r.expected_ok = st.value("expect", "ok") == "ok";
    absl::Time t0 = absl::Now();
    absl::Status s = Step(st, &r);
    r.latency = absl::Now() - t0;
    r.ok = s.ok();
    if (!s.ok() && r.detail.empty()) r.detail = std::string(s.message());
    if (!s.ok() && r.what.empty()) r.what = st.dump();
    if (st.contains("name")) r.what = st["name"].get<std::string>();
    bool pass = r.ok == r.expected_ok;
    all_pass = all_pass && pass;
    out_ << absl::StrFormat("%-4d %-58s %-6s %7.1f ms  %s\n", results.size() + 1,
                            r.what.substr(0, 58), pass ? "PASS" : "FAIL",
                            absl::ToDoubleMilliseconds(r.latency),
                            (r.expected_ok ? "" : "(expected to fail) ") + r.detail.substr(0, 100));
    results.push_back(std::move(r));
  }
  StopAll();
  CollectLogs();
  WriteReport(results);
  out_ << (all_pass ? "all steps passed" : "SOME STEPS FAILED") << "; report: " << opt_.out_dir
       << "/report.md\n";
  return all_pass ? 0 : 1;
}

}  // namespace

std::string DefaultBinDir(const char* argv0) {
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  std::string exe = n > 0 ? std::string(self, n) : argv0;
  for (int up = 0; up < 3; ++up) exe = exe.substr(0, exe.rfind('/'));
  return exe;
}

int RunScenario(const ScenarioOptions& options, std::ostream& out, std::ostream& err) {
  auto text = ReadFile(options.file);
  if (!text.ok()) {
    err << "capif-scenario: " << text.status().message() << "\n";
    return 2;
  }
  json j = json::parse(*text, nullptr, false);
  if (j.is_discarded()) {
    err << "capif-scenario: " << options.file << " is not valid JSON\n";
    return 2;
  }
  Spec spec;
  if (auto e = ParseSpec(j, &spec)) {
    err << "capif-scenario: " << options.file << ": " << e->field << ": " << e->message << "\n";
    return 2;
  }
  if (!MakeDirectories(options.out_dir, 0700).ok()) {
    err << "capif-scenario: cannot create " << options.out_dir << "\n";
    return 2;
  }
  Runner runner(std::move(spec), options, out, err);
  return runner.Run();
}

}  // namespace capif
