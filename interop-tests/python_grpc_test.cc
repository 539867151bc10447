// A gRPC client nobody here wrote: Debian's python3-grpcio, with stubs generated from
// proto/interconnect.proto by protoc's gRPC Python plugin, calls Hello on a real ccfd: accepted
// with a configured peer's certificate, refused without one or with an unconfigured identity.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "common/subprocess.h"
#include "common/testing/test_paths.h"
#include "interop-tests/ccfd_fixture.h"

namespace capif {
namespace {

using nlohmann::json;

TEST(PythonGrpcTest, HelloFromPythonNeedsAConfiguredPeerCertificate) {
  // B's PKI (its ccfd is not needed), then A naming B as a peer.
  std::string b_dir;
  {
    CcfdProcess b("py-b", "b");
    b_dir = b.dir();
    ASSERT_EQ(b.Stop(), 0);
  }
  CcfdProcess a("py-a", "a",
                absl::StrCat(R"([{"ccf_id": "ccf-b", "trust_domain": "operator-b.example",
                    "endpoint": "127.0.0.1:1", "trust_bundle": ")", b_dir,
                             R"(/pki/ca/ca.pem", "relation": "CAPIF-6e"}])"));
  auto hello = [&](std::vector<std::string> extra, const std::string& origin) {
    std::vector<std::string> argv = {"/usr/bin/python3", Runfile("interop-tests/python/grpc_hello.py"),
                                     "--proto", Runfile("proto/interconnect.proto"),
                                     "--out", TestTmpDir("py-stubs"), "--target",
                                     a.bus_endpoint(), "--ca", a.ca_path(), "--origin", origin};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto r = RunToCompletion(argv, absl::Seconds(60));
    EXPECT_TRUE(r.ok()) << r.status();
    json out = json::parse(r.ok() ? r->out : "{}", nullptr, false);
    EXPECT_TRUE(out.is_object()) << (r.ok() ? r->out + r->err : "");
    return std::make_pair(r.ok() ? r->exit_code : -1, out);
  };
  auto [code, out] = hello({"--cert", b_dir + "/pki/ccf/cert.pem", "--key",
                            b_dir + "/pki/ccf/key.pem"}, "ccf-b");
  EXPECT_EQ(code, 0) << out.dump();
  EXPECT_EQ(out["ccf_id"], "ccf-a");
  EXPECT_EQ(out["authenticated_caller"], "spiffe://operator-b.example/ccf/ccf-b");
  EXPECT_EQ(out["protocol_version"], "capif.federation.v1");
  // No client certificate: the handshake is refused.
  auto [code2, out2] = hello({}, "ccf-b");
  EXPECT_EQ(code2, 1);
  EXPECT_EQ(out2["code"], "UNAVAILABLE") << out2.dump();
  // A's own CCF certificate is no peer of A.
  auto [code3, out3] = hello({"--cert", a.dir() + "/pki/ccf/cert.pem", "--key",
                              a.dir() + "/pki/ccf/key.pem"}, "ccf-a");
  EXPECT_EQ(code3, 1);
  EXPECT_NE(out3["code"], "OK") << out3.dump();
  // A configured peer naming another origin: PERMISSION_DENIED.
  auto [code4, out4] = hello({"--cert", b_dir + "/pki/ccf/cert.pem", "--key",
                              b_dir + "/pki/ccf/key.pem"}, "ccf-c");
  EXPECT_EQ(code4, 1);
  EXPECT_EQ(out4["code"], "PERMISSION_DENIED") << out4.dump();
}

}  // namespace
}  // namespace capif
