#include "sdk/aef/psk_identity.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace capif {
namespace {

std::string Parse(const std::vector<unsigned char>& ext) {
  return FirstPskIdentity(ext.data(), ext.size());
}

// identities list of one "inv-1" (ticket age 0), then a 33-byte binder list.
std::vector<unsigned char> WellFormed() {
  std::vector<unsigned char> ext = {0, 11, 0, 5, 'i', 'n', 'v', '-', '1', 0, 0, 0, 0, 0, 33, 32};
  ext.resize(ext.size() + 32, 0xab);
  return ext;
}

TEST(FirstPskIdentityTest, ReadsTheFirstIdentity) {
  EXPECT_EQ(Parse(WellFormed()), "inv-1");
  // A second identity after the first does not change the answer.
  std::vector<unsigned char> two = {0, 20, 0, 5, 'i', 'n', 'v', '-', '1', 0, 0, 0, 0,
                                    0, 3,  'x', 'y', 'z', 0, 0, 0, 0};
  EXPECT_EQ(Parse(two), "inv-1");
}

TEST(FirstPskIdentityTest, RefusesWhatDoesNotFit) {
  EXPECT_EQ(FirstPskIdentity(nullptr, 0), "");
  EXPECT_EQ(Parse({}), "");
  EXPECT_EQ(Parse({0}), "");
  EXPECT_EQ(Parse({0, 0}), "");                      // an empty list
  EXPECT_EQ(Parse({0, 11, 0, 5, 'i', 'n', 'v'}), "");  // the list is longer than the bytes
  EXPECT_EQ(Parse({0, 6, 0, 0, 0, 0, 0, 0}), "");     // an empty identity
  // The identity fits the bytes but its ticket age does not fit the list.
  EXPECT_EQ(Parse({0, 7, 0, 5, 'i', 'n', 'v', '-', '1', 0, 0, 0, 0}), "");
  // The identity's length runs past the list.
  EXPECT_EQ(Parse({0, 11, 0, 200, 'i', 'n', 'v', '-', '1', 0, 0, 0, 0}), "");
}

}  // namespace
}  // namespace capif
