#include "common/subprocess.h"

#include <signal.h>

#include <gtest/gtest.h>

namespace capif {
namespace {

TEST(SubprocessTest, CapturesOutputAndExitCode) {
  auto r = RunToCompletion({"/bin/sh", "-c", "echo out; echo err >&2; exit 3"}, absl::Seconds(30));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(r->out, "out\n");
  EXPECT_EQ(r->err, "err\n");
}

TEST(SubprocessTest, ReadsLinesThenSignals) {
  auto p = Subprocess::Start({"/bin/sh", "-c", "echo ready; exec sleep 60"});
  ASSERT_TRUE(p.ok());
  auto line = (*p)->ReadStdoutLine(absl::Seconds(30));
  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_EQ(*line, "ready");
  (*p)->Signal(SIGTERM);
  auto code = (*p)->Wait(absl::Seconds(30));
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 128 + SIGTERM);
}

TEST(SubprocessTest, WaitsForStderrText) {
  auto p = Subprocess::Start({"/bin/sh", "-c", "echo one >&2; echo two >&2; exec sleep 60"});
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE((*p)->WaitForStderr("two", absl::Seconds(30)).ok());
  EXPECT_EQ((*p)->WaitForStderr("three", absl::Milliseconds(50)).code(),
            absl::StatusCode::kDeadlineExceeded);
}

TEST(SubprocessTest, EndOfOutputIsOutOfRange) {
  auto p = Subprocess::Start({"/bin/true"});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ((*p)->ReadStdoutLine(absl::Seconds(30)).status().code(),
            absl::StatusCode::kOutOfRange);
}

TEST(SubprocessTest, MissingProgramExits127) {
  auto r = RunToCompletion({"/nonexistent/program"}, absl::Seconds(30));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 127);
}

}  // namespace
}  // namespace capif
