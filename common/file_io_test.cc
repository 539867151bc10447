#include "common/file_io.h"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

namespace capif {
namespace {

std::string TmpPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
}

TEST(FileIoTest, WriteThenReadRoundTripsWithMode) {
  std::string path = TmpPath("key.pem");
  ASSERT_TRUE(WriteFileAtomic(path, "secret\n", 0600).ok());
  auto content = ReadFile(path);
  ASSERT_TRUE(content.ok());
  EXPECT_EQ(*content, "secret\n");
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_TRUE(WriteFileAtomic(path, "replaced", 0600).ok());
  EXPECT_EQ(*ReadFile(path), "replaced");
}

TEST(FileIoTest, MissingFileIsNotFoundAndNamesPath) {
  auto r = ReadFile(TmpPath("nope"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("nope"), absl::string_view::npos);
}

TEST(FileIoTest, OversizeFileIsRefused) {
  std::string path = TmpPath("big");
  ASSERT_TRUE(WriteFileAtomic(path, std::string(100, 'x')).ok());
  EXPECT_EQ(ReadFile(path, 50).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(FileIoTest, WriteIntoMissingDirectoryFailsAndLeavesNothing) {
  EXPECT_FALSE(WriteFileAtomic(TmpPath("no/such/dir/f"), "x").ok());
}

TEST(FileIoTest, MakeDirectoriesCreatesParentsAndIsIdempotent) {
  std::string dir = TmpPath("a/b/c");
  ASSERT_TRUE(MakeDirectories(dir).ok());
  ASSERT_TRUE(MakeDirectories(dir).ok());
  ASSERT_TRUE(WriteFileAtomic(dir + "/f", "x").ok());
  EXPECT_EQ(MakeDirectories(dir + "/f").code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace capif
