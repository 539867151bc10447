#include "federation/interconnect_service.h"

#include <gtest/gtest.h>

#include "common/fake_clock.h"
#include "federation/testing/test_domains.h"

namespace capif {
namespace {

namespace fv1 = capif::federation::v1;

class AuthorizeCallTest : public ::testing::Test {
 protected:
  AuthorizeCallTest() : domains_(clock_) {
    directory_ = *PeerDirectory::Create(
        {domains_.PeerFor("b.example", "ccf-b", "127.0.0.1:1",
                          {fv1::OPERATION_NOTIFY_OFFBOARDING}),
         domains_.PeerFor("c.example", "ccf-c", "127.0.0.1:2")});
  }
  static fv1::RequestHeader Header(const std::string& origin, const std::string& id = "r-1") {
    fv1::RequestHeader h;
    h.set_origin_ccf_id(origin);
    h.set_request_id(id);
    return h;
  }
  absl::StatusCode Code(absl::string_view caller, const fv1::RequestHeader& h,
                        fv1::Operation op = fv1::OPERATION_HELLO) {
    return AuthorizeCall(*directory_, caller, h, op).status().code();
  }

  FakeClock clock_;
  TestDomains domains_;
  std::shared_ptr<const PeerDirectory> directory_;
};

constexpr char kB[] = "spiffe://b.example/ccf/ccf-b";

TEST_F(AuthorizeCallTest, AcceptsMatchingOrigin) {
  auto peer = AuthorizeCall(*directory_, kB, Header("ccf-b"), fv1::OPERATION_HELLO);
  ASSERT_TRUE(peer.ok()) << peer.status();
  EXPECT_EQ((*peer)->ccf_id.value(), "ccf-b");
}

TEST_F(AuthorizeCallTest, OriginNamingAnotherCcfIsPermissionDenied) {
  EXPECT_EQ(Code(kB, Header("ccf-c")), absl::StatusCode::kPermissionDenied);
}

TEST_F(AuthorizeCallTest, IncompleteOrMalformedHeaderIsInvalidArgument) {
  EXPECT_EQ(Code(kB, Header("")), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Code(kB, Header("ccf-b", "")), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Code(kB, Header("ccf-b\nFAKE LOG LINE")), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Code(kB, Header("ccf-b", std::string(129, 'x'))),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(AuthorizeCallTest, UnknownOrMissingIdentityIsUnauthenticated) {
  EXPECT_EQ(Code("", Header("ccf-b")), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(Code("spiffe://b.example/ccf/ccf-x", Header("ccf-x")),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(Code("spiffe://c.example/ccf/ccf-b", Header("ccf-b")),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(AuthorizeCallTest, AgreementDecidesOperations) {
  // B may send offboarding notices; C's agreement lists nothing beyond the basics.
  EXPECT_EQ(Code(kB, Header("ccf-b"), fv1::OPERATION_NOTIFY_OFFBOARDING), absl::StatusCode::kOk);
  EXPECT_EQ(Code(kB, Header("ccf-b"), fv1::OPERATION_FORWARD_TOKEN_REQUEST),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Code("spiffe://c.example/ccf/ccf-c", Header("ccf-c"),
                 fv1::OPERATION_NOTIFY_OFFBOARDING),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Code("spiffe://c.example/ccf/ccf-c", Header("ccf-c"), fv1::OPERATION_GET_TRUST_BUNDLE),
            absl::StatusCode::kOk);
}

}  // namespace
}  // namespace capif
