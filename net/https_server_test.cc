#include "net/https_server.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <dirent.h>
#include <sys/resource.h>

#include <cerrno>
#include <map>
#include <thread>

#include <gtest/gtest.h>

#include <atomic>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "common/certificate_authority.h"
#include "common/testing/test_credential.h"
#include "common/testing/time_scale.h"
#include "common/clock.h"
#include "common/strict_json.h"

namespace capif {
namespace {

using nlohmann::json;

using Credential = TestCredential;
Credential Issue(const CertificateAuthority& ca, const std::string& uri) {
  return IssueTestCredential(ca, uri);
}

// A test client on a plain socket: TCP, optionally TLS, raw bytes in and out, so that a test can
// misbehave as an attacker would. Every read waits at most 5 s (SO_RCVTIMEO): nothing blocks
// forever.
class RawClient {
 public:
  explicit RawClient(int port) : RawClient(port, socket(AF_INET, SOCK_STREAM, 0)) {}
  // Over a socket made beforehand (when descriptors are about to run out).
  RawClient(int port, int fd) {
    fd_ = fd;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    SetTimeout(absl::Seconds(5));
  }
  ~RawClient() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    if (ctx_ != nullptr) SSL_CTX_free(ctx_);
    if (fd_ >= 0) close(fd_);
  }
  bool connected() const { return connected_; }

  // TLS without verifying the server; `tls12_ciphers` non-empty: TLS 1.2 only, those suites.
  bool Handshake(const std::string& tls12_ciphers = "") {
    ctx_ = SSL_CTX_new(TLS_client_method());
    if (!tls12_ciphers.empty()) {
      SSL_CTX_set_max_proto_version(ctx_, TLS1_2_VERSION);
      if (SSL_CTX_set_cipher_list(ctx_, tls12_ciphers.c_str()) != 1) return false;
    }
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_NONE, nullptr);
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    bool ok = SSL_connect(ssl_) == 1;
    ERR_clear_error();
    return ok;
  }

  bool Send(absl::string_view bytes) {
    if (ssl_ == nullptr) {
      return send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size());
    }
    bool ok = SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size())) ==
              static_cast<int>(bytes.size());
    ERR_clear_error();
    return ok;
  }

  // One response, head and Content-Length body; "" if the connection ended first.
  std::string ReadResponse() {
    std::string in = std::move(pending_);
    pending_.clear();
    size_t head_end;
    while ((head_end = in.find("\r\n\r\n")) == std::string::npos) {
      if (!ReadSome(in)) return "";
    }
    size_t length = 0;
    for (absl::string_view line : absl::StrSplit(in.substr(0, head_end), "\r\n")) {
      if (absl::StartsWithIgnoreCase(line, "content-length:")) {
        if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(line.substr(15)), &length)) length = 0;
      }
    }
    size_t total = head_end + 4 + length;
    while (in.size() < total) {
      if (!ReadSome(in)) return "";
    }
    pending_ = in.substr(total);
    return in.substr(0, total);
  }

  // True if the server ends the connection within `within`; false if it is still open then.
  bool ClosedWithin(absl::Duration within) {
    absl::Time end = absl::Now() + within;
    for (;;) {
      absl::Duration left = end - absl::Now();
      if (left <= absl::ZeroDuration()) return false;
      SetTimeout(left);
      std::string ignored;
      errno = 0;
      if (ReadSome(ignored)) continue;
      bool timed_out = errno == EAGAIN || errno == EWOULDBLOCK;
      SetTimeout(absl::Seconds(5));
      if (!timed_out) return true;
    }
  }

 private:
  void SetTimeout(absl::Duration d) {
    timeval tv = absl::ToTimeval(std::max(d, absl::Milliseconds(1)));
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }

  bool ReadSome(std::string& out) {
    char buf[4096];
    int n = ssl_ != nullptr ? SSL_read(ssl_, buf, sizeof(buf))
                            : static_cast<int>(recv(fd_, buf, sizeof(buf), 0));
    int saved = errno;
    ERR_clear_error();
    errno = saved;
    if (n <= 0) return false;
    out.append(buf, n);
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  std::string pending_;
};

// The server counts an event just after the client sees its effect (a closed socket): wait for
// the counter, at most 5 s.
bool Eventually(const std::function<bool()>& done) {
  for (int i = 0; i < 5000; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return done();
}

int StatusOf(const std::string& response) {
  int status = 0;
  if (response.size() < 12 || !absl::SimpleAtoi(response.substr(9, 3), &status)) return 0;
  return status;
}

std::string BodyOf(const std::string& response) {
  size_t at = response.find("\r\n\r\n");
  return at == std::string::npos ? "" : response.substr(at + 4);
}

class HttpsServerTest : public ::testing::Test {
 protected:
  virtual HttpsServer::Options ServerOptions() { return {"127.0.0.1", 0, 1024}; }

  NorthboundTls Tls() {
    return {*server_cred_.cert.ToPem(), *server_cred_.key.PrivateKeyPem(),
            *TrustBundle::FromPem(*ca_.certificate().ToPem())};
  }

  void SetUp() override {
    signal(SIGPIPE, SIG_IGN);  // a test writing to a connection the server cut must not die
    HttpsServer::Options options = ServerOptions();
    options.metrics = &metrics_;
    auto server = HttpsServer::Create(Tls(), options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    server_->Route("POST", "/echo", [](const RestRequest& r) -> absl::StatusOr<RestResponse> {
      // An error quoting the (possibly invalid UTF-8) input, as a careless handler would.
      return InvalidParamError("body", r.body);
    });
    server_->Route("GET", "/whoami", [](const RestRequest& r) -> absl::StatusOr<RestResponse> {
      return RestResponse::Json(200, {{"caller", r.caller ? r.caller->ToString() : ""},
                                      {"tls", r.ssl != nullptr}});
    });
    server_->Route("POST", "/things/([^/]+)",
                   [](const RestRequest& r) -> absl::StatusOr<RestResponse> {
                     auto body = ParseJsonBody(r);
                     if (!body.ok()) return body.status();
                     if (!body->contains("name")) return InvalidParamError("name", "is required");
                     return RestResponse::Json(201, {{"id", r.path_params[0]}});
                   });
    server_->Route("GET", "/outage/([^/]+)",
                   [](const RestRequest& r) -> absl::StatusOr<RestResponse> {
                     if (r.path_params[0] == "own") {
                       return RetryLaterResponse(absl::UnavailableError("peer down"), 7);
                     }
                     if (r.path_params[0] == "deadline") {
                       return absl::DeadlineExceededError("peer too slow");
                     }
                     return absl::UnavailableError("peer down");
                   });
    server_->Route("GET", "/boom", [](const RestRequest&) -> absl::StatusOr<RestResponse> {
      throw std::runtime_error("secret internals");
    });
    ASSERT_TRUE(server_->Start().ok());
  }

  std::unique_ptr<httplib::SSLClient> Client(const Credential* cred) {
    auto c = cred ? std::make_unique<httplib::SSLClient>("127.0.0.1", server_->port(),
                                                        cred->cert.get(), cred->key.get())
                  : std::make_unique<httplib::SSLClient>("127.0.0.1", server_->port());
    X509_STORE* store = X509_STORE_new();
    X509_STORE_add_cert(store, ca_.certificate().get());
    c->set_ca_cert_store(store);
    c->enable_server_certificate_verification(true);
    return c;
  }

  CertificateAuthority ca_ =
      *CertificateAuthority::CreateRoot(TrustDomain("a.example"), Clock::Real(), absl::Hours(2));
  CertificateAuthority other_ca_ =
      *CertificateAuthority::CreateRoot(TrustDomain("x.example"), Clock::Real(), absl::Hours(2));
  Credential server_cred_ = Issue(ca_, "spiffe://a.example/ccf/ccf-a");
  Credential invoker_ = Issue(ca_, "spiffe://a.example/invoker/inv-1");
  RequestMetrics metrics_;
  std::unique_ptr<HttpsServer> server_;
};

// Issue 10 (metrics): each answer is counted by route (the pattern's first segment), method and
// status; a path no route matches is "unmatched", whatever it is.
TEST_F(HttpsServerTest, AnswersAreCountedByApiMethodAndStatus) {
  ASSERT_EQ(Client(&invoker_)->Get("/whoami")->status, 200);
  ASSERT_EQ(Client(&invoker_)->Get("/whoami")->status, 200);
  ASSERT_EQ(Client(&invoker_)->Get("/no-such/thing")->status, 404);
  std::map<std::string, uint64_t> counts;
  for (const RequestMetrics::Series& s : metrics_.Snapshot()) {
    counts[absl::StrCat(s.labels[0], " ", s.labels[1], " ", s.labels[2])] = s.count;
    EXPECT_GE(s.sum_seconds, 0);
  }
  EXPECT_EQ(counts["whoami GET 200"], 2u);
  EXPECT_EQ(counts["unmatched GET 404"], 1u);
  EXPECT_EQ(counts.size(), 2u);
}

TEST_F(HttpsServerTest, CallerComesFromTheClientCertificate) {
  auto res = Client(&invoker_)->Get("/whoami");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(json::parse(res->body)["caller"], "spiffe://a.example/invoker/inv-1");
  // Same connection, second request: the cached identity is used.
  auto c = Client(&invoker_);
  c->set_keep_alive(true);
  EXPECT_EQ(json::parse(c->Get("/whoami")->body)["caller"], "spiffe://a.example/invoker/inv-1");
  EXPECT_EQ(json::parse(c->Get("/whoami")->body)["caller"], "spiffe://a.example/invoker/inv-1");
}

TEST_F(HttpsServerTest, NoClientCertificateMeansNoCaller) {
  auto res = Client(nullptr)->Get("/whoami");
  ASSERT_TRUE(res);
  EXPECT_EQ(json::parse(res->body)["caller"], "");
  EXPECT_EQ(json::parse(res->body)["tls"], true);
}

TEST_F(HttpsServerTest, ForeignClientCertificateFailsTheHandshake) {
  Credential foreign = Issue(other_ca_, "spiffe://a.example/invoker/inv-1");
  auto res = Client(&foreign)->Get("/whoami");
  EXPECT_FALSE(res && res->status == 200);
}

TEST_F(HttpsServerTest, ErrorsAreProblemDetails) {
  auto c = Client(&invoker_);
  auto not_found = c->Get("/nowhere");
  ASSERT_TRUE(not_found);
  EXPECT_EQ(not_found->status, 404);
  EXPECT_EQ(not_found->get_header_value("Content-Type"), "application/problem+json");
  EXPECT_EQ(json::parse(not_found->body)["status"], 404);

  auto missing = c->Post("/things/t1", R"({"colour":"red"})", "application/json");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 400);
  json p = json::parse(missing->body);
  EXPECT_EQ(p["invalidParams"][0]["param"], "/name");
  EXPECT_EQ(p["cause"], "INVALID_PARAMETER");

  auto malformed = c->Post("/things/t1", R"({"name":1,"name":2})", "application/json");
  EXPECT_EQ(malformed->status, 400);
  EXPECT_EQ(json::parse(malformed->body)["cause"], "INVALID_MSG_FORMAT");

  auto wrong_type = c->Post("/things/t1", "name=x", "application/x-www-form-urlencoded");
  EXPECT_EQ(wrong_type->status, 415);
  EXPECT_EQ(json::parse(wrong_type->body)["status"], 415);

  auto too_big = c->Post("/things/t1", std::string(4096, ' ') + "{}", "application/json");
  ASSERT_TRUE(too_big);
  EXPECT_EQ(too_big->status, 413);
  EXPECT_EQ(json::parse(too_big->body)["status"], 413);

  auto boom = c->Get("/boom");
  EXPECT_EQ(boom->status, 500);
  EXPECT_EQ(json::parse(boom->body)["detail"], "internal error");  // internals stay in the log

  auto ok = c->Post("/things/t1", R"({"name":"n"})", "application/json; charset=utf-8");
  EXPECT_EQ(ok->status, 201);
  EXPECT_EQ(json::parse(ok->body)["id"], "t1");
}

// Every 503 and 504 says when to retry, whichever layer produced it; a handler's own value wins.
TEST_F(HttpsServerTest, UnavailableAndTimedOutAnswersCarryRetryAfter) {
  auto c = Client(&invoker_);
  auto plain = c->Get("/outage/plain");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->status, 503);
  EXPECT_EQ(plain->get_header_value("Retry-After"), "5");
  auto deadline = c->Get("/outage/deadline");
  ASSERT_TRUE(deadline);
  EXPECT_EQ(deadline->status, 504);
  EXPECT_EQ(deadline->get_header_value("Retry-After"), "5");
  auto own = c->Get("/outage/own");
  ASSERT_TRUE(own);
  EXPECT_EQ(own->status, 503);
  EXPECT_EQ(own->get_header_value_count("Retry-After"), 1u);
  EXPECT_EQ(own->get_header_value("Retry-After"), "7");
  auto fine = c->Get("/nowhere");
  ASSERT_TRUE(fine);
  EXPECT_FALSE(fine->has_header("Retry-After"));
}

TEST_F(HttpsServerTest, PortInUseIsUnavailable) {
  NorthboundTls tls{*server_cred_.cert.ToPem(), *server_cred_.key.PrivateKeyPem(),
                    *TrustBundle::FromPem(*ca_.certificate().ToPem())};
  auto second = HttpsServer::Create(tls, {"127.0.0.1", server_->port(), 1024});
  ASSERT_TRUE(second.ok());
  EXPECT_EQ((*second)->Start().code(), absl::StatusCode::kUnavailable);
}

TEST(HttpsServerCreateTest, MismatchedKeyIsRefused) {
  auto ca = *CertificateAuthority::CreateRoot(TrustDomain("a.example"), Clock::Real(),
                                              absl::Hours(1));
  Credential c = Issue(ca, "spiffe://a.example/ccf/ccf-a");
  NorthboundTls tls{*c.cert.ToPem(), *EvpKey::GenerateEcP256()->PrivateKeyPem(),
                    *TrustBundle::FromPem(*ca.certificate().ToPem())};
  EXPECT_EQ(HttpsServer::Create(tls, {}).status().code(), absl::StatusCode::kInvalidArgument);
}


// --- Hostile input: nothing aborts the process, malformed input is 400 (issue 10, 1 and 2). ---

TEST_F(HttpsServerTest, InvalidUtf8PathIsBadRequestAndTheServerLives) {
  for (const char* target : {"/%ff", "/%C0%AF", "/caf%e9", "/%zz"}) {
    RawClient c(server_->port());
    ASSERT_TRUE(c.Handshake());
    ASSERT_TRUE(c.Send(absl::StrCat("GET ", target, " HTTP/1.1\r\nHost: x\r\n\r\n")));
    std::string res = c.ReadResponse();
    EXPECT_EQ(StatusOf(res), 400) << target;
    EXPECT_TRUE(absl::StrContains(res, "application/problem+json")) << res;
    json problem = json::parse(BodyOf(res), nullptr, false);
    EXPECT_EQ(problem["status"], 400) << BodyOf(res);
  }
  // A valid UTF-8 path that names nothing is 404, its path quoted in the detail.
  RawClient c(server_->port());
  ASSERT_TRUE(c.Handshake());
  ASSERT_TRUE(c.Send("GET /caf%C3%A9 HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string res = c.ReadResponse();
  EXPECT_EQ(StatusOf(res), 404);
  EXPECT_EQ(json::parse(BodyOf(res))["detail"], "no resource at /caf\xc3\xa9");
  auto ok = Client(&invoker_)->Get("/whoami");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
}

TEST_F(HttpsServerTest, InvalidUtf8BodyIsBadRequest) {
  auto c = Client(&invoker_);
  auto json_body = c->Post("/things/t1", "{\"name\":\"\xff\"}", "application/json");
  ASSERT_TRUE(json_body);
  EXPECT_EQ(json_body->status, 400);
  EXPECT_EQ(json::parse(json_body->body)["cause"], "INVALID_MSG_FORMAT");
  // A handler whose error quotes the bad bytes still answers valid JSON, 400.
  auto echoed = c->Post("/echo", "\xff\xfe", "text/plain");
  ASSERT_TRUE(echoed);
  EXPECT_EQ(echoed->status, 400);
  EXPECT_FALSE(json::parse(echoed->body, nullptr, false).is_discarded());
  // Form fields are checked after percent-decoding.
  auto form = c->Post("/echo", "token=%ff", "application/x-www-form-urlencoded");
  ASSERT_TRUE(form);
  EXPECT_EQ(form->status, 400);
  // The strict parser itself says InvalidArgument (400), not an internal error.
  EXPECT_EQ(ParseStrictJson("{\"a\":\"\xff\"}").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(c->Get("/whoami")->status, 200);
}

// --- Limits (issue 10, 3 and 4), with deadlines short enough for a test. ---

class HttpsServerLimitsTest : public HttpsServerTest {
 protected:
  HttpsServer::Options ServerOptions() override {
    HttpsServer::Options o;
    o.max_body_bytes = 1024;
    o.handshake_timeout = Scaled(absl::Milliseconds(500));
    o.header_timeout = Scaled(absl::Milliseconds(500));
    o.body_timeout = Scaled(absl::Milliseconds(500));
    o.idle_timeout = Scaled(absl::Milliseconds(300));
    o.max_header_bytes = 4096;
    o.max_header_count = 20;
    o.max_target_bytes = 1024;
    return o;
  }

  int Request(const std::string& raw) {
    RawClient c(server_->port());
    if (!c.Handshake() || !c.Send(raw)) return 0;
    return StatusOf(c.ReadResponse());
  }
};

TEST_F(HttpsServerLimitsTest, SlowlorisIsCutAtTheHeaderDeadline) {
  std::vector<std::unique_ptr<RawClient>> slow;
  for (int i = 0; i < 8; ++i) {
    slow.push_back(std::make_unique<RawClient>(server_->port()));
    ASSERT_TRUE(slow.back()->Handshake());
  }
  const std::string header = "GET /whoami HTTP/1.1\r\nHost: x\r\nX-Slow: " + std::string(200, 'a');
  std::vector<bool> closed(slow.size(), false);
  size_t open = slow.size();
  // One byte per connection per round; each round waits (on the sockets) about 80 ms. A
  // per-byte deadline would never fire; the 500 ms whole-header deadline must.
  for (size_t round = 0; round < 60 && open > 0; ++round) {
    for (size_t i = 0; i < slow.size(); ++i) {
      if (closed[i]) continue;
      slow[i]->Send(header.substr(round, 1));
      if (slow[i]->ClosedWithin(absl::Milliseconds(10))) {
        closed[i] = true;
        --open;
      }
    }
    if (round == 1) {
      auto res = Client(&invoker_)->Get("/whoami");  // served while they trickle
      ASSERT_TRUE(res);
      EXPECT_EQ(res->status, 200);
    }
  }
  EXPECT_EQ(open, 0u) << "slow headers were not cut at the deadline";
  EXPECT_TRUE(Eventually([&] { return server_->stats().timeouts >= 8; }));
}

TEST_F(HttpsServerLimitsTest, IdleTcpConnectionsDoNotStopService) {
  std::vector<std::unique_ptr<RawClient>> idle;
  for (int i = 0; i < 16; ++i) {
    idle.push_back(std::make_unique<RawClient>(server_->port()));
    ASSERT_TRUE(idle.back()->connected());
  }
  auto res = Client(&invoker_)->Get("/whoami");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  for (auto& c : idle) EXPECT_TRUE(c->ClosedWithin(absl::Seconds(5)));  // handshake deadline
  EXPECT_TRUE(Eventually([&] { return server_->stats().timeouts >= 16; }));
}

TEST_F(HttpsServerLimitsTest, IdleKeepAliveIsClosed) {
  RawClient c(server_->port());
  ASSERT_TRUE(c.Handshake());
  for (int i = 0; i < 20; ++i) {  // keep-alive has no small request cap
    ASSERT_TRUE(c.Send("GET /whoami HTTP/1.1\r\nHost: x\r\n\r\n"));
    ASSERT_EQ(StatusOf(c.ReadResponse()), 200) << "request " << i;
  }
  EXPECT_TRUE(c.ClosedWithin(absl::Seconds(5)));
  EXPECT_TRUE(Eventually([&] { return server_->stats().idle_closes >= 1; }));
}

TEST_F(HttpsServerLimitsTest, ChunkedBodyCountsDecodedBytes) {
  std::string head =
      "POST /things/t1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\n\r\n";
  EXPECT_EQ(Request(head + "6\r\n{\"name\r\n6\r\n\":\"n\"}\r\n0\r\n\r\n"), 201);
  std::string chunk = "200\r\n" + std::string(512, ' ') + "\r\n";
  EXPECT_EQ(Request(head + chunk + chunk + chunk + "2\r\n{}\r\n0\r\n\r\n"), 413);
  EXPECT_EQ(Request("POST /things/t1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n"), 413);
}

TEST_F(HttpsServerLimitsTest, ContentEncodingIsRefused) {
  EXPECT_EQ(Request("POST /things/t1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    "Content-Encoding: gzip\r\nContent-Length: 4\r\n\r\nabcd"),
            415);
  EXPECT_EQ(Request("POST /things/t1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"),
            501);
}

TEST_F(HttpsServerLimitsTest, OversizedHeadersAreRefused) {
  std::string many = "GET /whoami HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 30; ++i) absl::StrAppend(&many, "X-H", i, ": v\r\n");
  EXPECT_EQ(Request(many + "\r\n"), 431);
  EXPECT_EQ(Request("GET /whoami HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(5000, 'b') +
                    "\r\n\r\n"),
            431);
  EXPECT_EQ(Request("GET /" + std::string(2000, 'p') + " HTTP/1.1\r\nHost: x\r\n\r\n"), 414);
  EXPECT_EQ(Request("GET /whoami HTTP/1.1\r\nHost: x\r\n\r\n"), 200);
}

TEST_F(HttpsServerLimitsTest, AcceptResumesAfterFileDescriptorExhaustion) {
  // Leave this process no free descriptor, so that the server's accept fails with EMFILE while
  // a client waits in the listen queue; once descriptors are free again it must be served.
  int highest = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (dirent* e = readdir(d)) highest = std::max(highest, atoi(e->d_name));
    closedir(d);
  }
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  rlimit low = saved;
  low.rlim_cur = static_cast<rlim_t>(highest + 16);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  // The client's socket is made first: no other thread can take its descriptor.
  int client_socket = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(client_socket, 0);
  std::vector<int> filler;
  for (int fd; (fd = dup(0)) >= 0;) filler.push_back(fd);
  ASSERT_FALSE(filler.empty());
  auto client = std::make_unique<RawClient>(server_->port(), client_socket);
  bool failed = Eventually([&] { return server_->stats().accept_errors >= 1; });
  for (int fd : filler) close(fd);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &saved), 0);
  ASSERT_TRUE(client->connected());
  EXPECT_TRUE(failed) << "accept did not run out of descriptors";
  ASSERT_TRUE(client->Handshake());
  ASSERT_TRUE(client->Send("GET /whoami HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(StatusOf(client->ReadResponse()), 200);
}

TEST_F(HttpsServerLimitsTest, OnlyAeadSuitesOverTls12) {
  EXPECT_FALSE(RawClient(server_->port()).Handshake("ECDHE-ECDSA-AES128-SHA:AES128-SHA"));
  EXPECT_FALSE(RawClient(server_->port()).Handshake("ECDHE-ECDSA-AES128-SHA256"));
  EXPECT_TRUE(RawClient(server_->port()).Handshake("ECDHE-ECDSA-AES128-GCM-SHA256"));
  EXPECT_TRUE(RawClient(server_->port()).Handshake("ECDHE-ECDSA-CHACHA20-POLY1305"));
  EXPECT_TRUE(RawClient(server_->port()).Handshake());  // TLS 1.3
}

// --- Overload and connection limits (503, refusals). ---

class HttpsServerOverloadTest : public HttpsServerTest {
 protected:
  HttpsServer::Options ServerOptions() override {
    HttpsServer::Options o;
    o.worker_threads = 1;
    o.max_queued_requests = 0;
    o.max_connections = 3;
    return o;
  }
  void SetUp() override {
    HttpsServerTest::SetUp();
    if (HasFatalFailure()) return;
    // A second server (same options) with a handler that holds the only worker.
    auto server = HttpsServer::Create(Tls(), ServerOptions());
    ASSERT_TRUE(server.ok());
    blocking_ = *std::move(server);
    blocking_->Route("GET", "/block", [this](const RestRequest&) -> absl::StatusOr<RestResponse> {
      entered_.Notify();
      release_.WaitForNotificationWithTimeout(absl::Seconds(20));
      return RestResponse::Json(200, {{"released", true}});
    });
    blocking_->Route("GET", "/whoami", [](const RestRequest&) -> absl::StatusOr<RestResponse> {
      return RestResponse::Json(200, json::object());
    });
    // A handler whose answer waits for something else (a peer): it keeps no worker meanwhile.
    blocking_->Route("GET", "/deferred/([^/]+)",
                     [this](const RestRequest& r) -> absl::StatusOr<RestResponse> {
                       bool drop = r.path_params[0] == "drop";
                       return RestResponse::Deferred([this, drop](RestResponder done) {
                         if (drop) return;  // never answers: the server must still answer
                         deferred_thread_ = std::thread([this, done] {
                           release_.WaitForNotificationWithTimeout(absl::Seconds(20));
                           answered_ = true;
                           done(RestResponse::Json(200, {{"deferred", true}}));
                         });
                       });
                     });
    ASSERT_TRUE(blocking_->Start().ok());
  }
  void TearDown() override {
    if (!release_.HasBeenNotified()) release_.Notify();
    if (blocked_.joinable()) blocked_.join();
    if (deferred_thread_.joinable()) deferred_thread_.join();
  }

  absl::Notification entered_, release_;
  std::unique_ptr<HttpsServer> blocking_;
  std::thread blocked_, deferred_thread_;
  std::atomic<bool> answered_{false};
};

// A deferred answer still outstanding at Stop(): Stop waits for it, so it never reaches a
// destroyed server (ASan would see that).
TEST_F(HttpsServerOverloadTest, StopWaitsForOutstandingDeferredAnswers) {
  RawClient waiting(blocking_->port());
  ASSERT_TRUE(waiting.Handshake());
  ASSERT_TRUE(waiting.Send("GET /deferred/later HTTP/1.1\r\nHost: x\r\n\r\n"));
  // The request is being deferred once another request on the only worker gets through.
  RawClient other(blocking_->port());
  ASSERT_TRUE(other.Handshake());
  ASSERT_TRUE(other.Send("GET /whoami HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_EQ(StatusOf(other.ReadResponse()), 200);
  absl::Notification stopping;
  bool answered_when_stopped = false;
  std::thread stopper([&] {
    stopping.Notify();
    blocking_->Stop();
    answered_when_stopped = answered_.load();
  });
  stopping.WaitForNotification();
  release_.Notify();
  stopper.join();
  EXPECT_TRUE(answered_when_stopped);
}

// Issue 10: a request waiting for a peer holds no worker: with one worker, other requests are
// served meanwhile; the deferred answer arrives when it is ready; one never given is a 500.
TEST_F(HttpsServerOverloadTest, DeferredAnswersFreeTheWorker) {
  RawClient waiting(blocking_->port());
  ASSERT_TRUE(waiting.Handshake());
  ASSERT_TRUE(waiting.Send("GET /deferred/later HTTP/1.1\r\nHost: x\r\n\r\n"));
  // Served by the only worker while the first request waits for its answer.
  for (int i = 0; i < 3; ++i) {
    RawClient other(blocking_->port());
    ASSERT_TRUE(other.Handshake());
    ASSERT_TRUE(other.Send("GET /whoami HTTP/1.1\r\nHost: x\r\n\r\n"));
    EXPECT_EQ(StatusOf(other.ReadResponse()), 200);
  }
  release_.Notify();
  std::string answer = waiting.ReadResponse();
  EXPECT_EQ(StatusOf(answer), 200);
  EXPECT_EQ(json::parse(BodyOf(answer))["deferred"], true);

  RawClient dropped(blocking_->port());
  ASSERT_TRUE(dropped.Handshake());
  ASSERT_TRUE(dropped.Send("GET /deferred/drop HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(StatusOf(dropped.ReadResponse()), 500);
}

TEST_F(HttpsServerOverloadTest, FullPoolAnswers503WithRetryAfter) {
  int blocked_status = 0;
  blocked_ = std::thread([&] {
    RawClient c(blocking_->port());
    if (c.Handshake() && c.Send("GET /block HTTP/1.1\r\nHost: x\r\n\r\n")) {
      blocked_status = StatusOf(c.ReadResponse());
    }
  });
  ASSERT_TRUE(entered_.WaitForNotificationWithTimeout(absl::Seconds(10)));
  RawClient c(blocking_->port());
  ASSERT_TRUE(c.Handshake());
  ASSERT_TRUE(c.Send("GET /whoami HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string busy = c.ReadResponse();
  EXPECT_EQ(StatusOf(busy), 503);
  EXPECT_TRUE(absl::StrContains(busy, "Retry-After: 1\r\n")) << busy;
  EXPECT_EQ(json::parse(BodyOf(busy))["status"], 503);
  EXPECT_EQ(blocking_->stats().overloaded_requests, 1u);
  release_.Notify();
  blocked_.join();
  EXPECT_EQ(blocked_status, 200);
  // The same connection is still usable once the pool has room.
  ASSERT_TRUE(c.Send("GET /whoami HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(StatusOf(c.ReadResponse()), 200);
}

TEST_F(HttpsServerOverloadTest, ConnectionsBeyondTheLimitAreRefused) {
  std::vector<std::unique_ptr<RawClient>> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(std::make_unique<RawClient>(server_->port()));
    ASSERT_TRUE(held.back()->Handshake());
  }
  RawClient extra(server_->port());
  EXPECT_FALSE(extra.Handshake());
  EXPECT_GE(server_->stats().refused_connections, 1u);
  EXPECT_EQ(server_->stats().open_connections, 3u);
  for (auto& c : held) {
    ASSERT_TRUE(c->Send("GET /whoami HTTP/1.1\r\nHost: x\r\n\r\n"));
    EXPECT_EQ(StatusOf(c->ReadResponse()), 200);
  }
}

}  // namespace
}  // namespace capif
