#include "tools/capif-scenario/chaos.h"

#include <unistd.h>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace capif {
namespace {

using nlohmann::json;

const std::set<std::string> kCcfs = {"ccf-a", "ccf-b"};

TEST(ChaosPlanTest, FaultsRepeatEachCycleAndPausesEndWithTheRun) {
  auto plan = ParseChaosPlan(json::parse(R"({"chaos": "alice", "seconds": 50, "cycle": 20,
      "faults": [{"at": 2, "kill": "ccf-a"}, {"at": 15, "pause": "ccf-b", "for": 10},
                 {"at": 5, "rotate_token_key": "ccf-a"}]})"),
                             kCcfs);
  ASSERT_TRUE(plan.ok()) << plan.status();
  std::vector<std::pair<double, std::string>> got;
  for (const ChaosAction& a : plan->Timeline()) {
    got.emplace_back(absl::ToDoubleSeconds(a.at), std::string(ChaosActionName(a.kind)) + " " + a.ccf);
  }
  std::vector<std::pair<double, std::string>> want = {
      {2, "kill ccf-a"},   {5, "rotate_token_key ccf-a"}, {15, "pause ccf-b"},
      {22, "kill ccf-a"},  {25, "resume ccf-b"},          {25, "rotate_token_key ccf-a"},
      {35, "pause ccf-b"}, {42, "kill ccf-a"},            {45, "resume ccf-b"},
      {45, "rotate_token_key ccf-a"}};
  EXPECT_EQ(got, want);
  // A pause that would outlast the run ends with it; one that starts after it never happens.
  auto late = ParseChaosPlan(json::parse(R"({"chaos": "x", "seconds": 30,
      "faults": [{"at": 25, "fd_limit": "ccf-b", "for": 60}]})"), kCcfs);
  ASSERT_TRUE(late.ok()) << late.status();
  auto t = late->Timeline();
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[1].kind, ChaosAction::kRestoreFds);
  EXPECT_EQ(t[1].at, absl::Seconds(30));
}

TEST(ChaosPlanTest, RefusesWhatIsOutOfRangeNamingTheField) {
  auto refused = [](const char* text) {
    auto plan = ParseChaosPlan(json::parse(text), kCcfs);
    return plan.ok() ? std::string("accepted") : std::string(plan.status().message());
  };
  EXPECT_EQ(refused(R"({"chaos": "x", "seconds": 5})"), "chaos.seconds: must be 10 to 3600");
  EXPECT_EQ(refused(R"({"chaos": "x", "faults": [{"at": 1, "kill": "ccf-z"}]})"),
            "chaos.faults[0].kill: must name a CCF of the scenario");
  EXPECT_EQ(refused(R"({"chaos": "x", "faults": [{"at": 1}]})"),
            "chaos.faults[0]: needs exactly one of kill, restart, pause, rotate_token_key, fd_limit");
  EXPECT_EQ(refused(R"({"chaos": "x", "faults": [{"at": 1, "pause": "ccf-a"}]})"),
            "chaos.faults[0].for: is required (seconds)");
  EXPECT_EQ(refused(R"({"chaos": "x", "faults": [{"kill": "ccf-a"}]})"),
            "chaos.faults[0].at: is required (seconds into the cycle)");
  EXPECT_EQ(refused(R"({"chaos": "x", "seconds": 60, "cycle": 30, "faults": [{"at": 31, "kill": "ccf-a"}]})"),
            "chaos.faults[0].at: must be 0 to 30");
  EXPECT_EQ(refused(R"({"chaos": "x", "in_flight": 0})"), "chaos.in_flight: must be 1 to 64");
  EXPECT_EQ(refused(R"({"chaos": "x", "speed": 1})"), "chaos.speed: unknown field");
}

TEST(ChaosProbesTest, ReadThisProcess) {
  EXPECT_GT(ResidentMb(getpid()), 0.0);
  int open = OpenFds(getpid());
  EXPECT_GT(open, 2);
  long before = 0, during = 0;
  ASSERT_TRUE(SetFdLimit(getpid(), open + 16, &before).ok());
  ASSERT_TRUE(SetFdLimit(getpid(), before, &during).ok());
  EXPECT_EQ(during, open + 16);
  EXPECT_EQ(ResidentMb(-1), 0.0);
  EXPECT_EQ(OpenFds(-1), -1);
}

}  // namespace
}  // namespace capif
