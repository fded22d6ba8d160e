// StaticFiles: which request paths map to which files, content types, cache headers, and that
// nothing outside the root is served (dot-dot, encoded or not, dot files, links out of the root).
#include "api/static_files.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace orion::api {
namespace {

namespace fs = std::filesystem;

class StaticFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = fs::temp_directory_path() / ("orion-static-" + std::to_string(::getpid()));
    fs::remove_all(base_);
    root_ = base_ / "web";
    fs::create_directories(root_ / "assets");
    write(root_ / "index.html", "<!doctype html>");
    write(root_ / "app-3F2K7QZ1.js", "console.log(1)");
    write(root_ / "assets" / "style.css", "body{}");
    write(root_ / ".secret.txt", "hidden");
    write(root_ / "notes.exe", "binary");
    write(base_ / "outside.txt", "outside");
    fs::create_symlink(base_ / "outside.txt", root_ / "link.txt");
  }
  void TearDown() override { fs::remove_all(base_); }
  static void write(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }

  fs::path base_, root_;
};

TEST_F(StaticFilesTest, ServesIndexAndFilesWithTypesAndCacheHeaders) {
  auto files = StaticFiles::open(root_.string());
  ASSERT_TRUE(files) << files.error().message;
  auto index = files->find("/");
  ASSERT_TRUE(index);
  EXPECT_EQ(index->body, "<!doctype html>");
  EXPECT_EQ(index->content_type, "text/html; charset=utf-8");
  EXPECT_EQ(index->cache_control, "no-cache");
  auto js = files->find("/app-3F2K7QZ1.js");
  ASSERT_TRUE(js);
  EXPECT_EQ(js->content_type, "text/javascript; charset=utf-8");
  EXPECT_EQ(js->cache_control, "public, max-age=31536000, immutable");
  auto css = files->find("/assets/style.css");
  ASSERT_TRUE(css);
  EXPECT_EQ(css->body, "body{}");
  EXPECT_EQ(css->cache_control, "no-cache");
}

TEST_F(StaticFilesTest, RefusesTraversalDotFilesLinksOutAndUnknownTypes) {
  auto files = StaticFiles::open(root_.string());
  ASSERT_TRUE(files);
  for (const char* p :
       {"/../outside.txt", "/assets/../../outside.txt", "/%2e%2e/outside.txt", "/..",
        "/.secret.txt", "/link.txt", "/notes.exe", "/assets/", "//index.html", "/assets\\style.css",
        "index.html", "", "/nosuch.js", "/assets"}) {
    EXPECT_FALSE(files->find(p)) << p;
  }
  EXPECT_FALSE(files->find(std::string_view("/index.html\0x", 13)));
}

TEST_F(StaticFilesTest, OpenNamesWhatIsMissing) {
  auto none = StaticFiles::open((base_ / "nosuch").string());
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, "web.no_root");
  fs::remove(root_ / "index.html");
  auto empty = StaticFiles::open(root_.string());
  ASSERT_FALSE(empty);
  EXPECT_NE(empty.error().message.find("index.html"), std::string::npos);
}

TEST(StaticFilesRules, HashedNamesAndPaths) {
  EXPECT_TRUE(static_name_is_hashed("app-3F2K7QZ1.js"));
  EXPECT_TRUE(static_name_is_hashed("x/app-ABCDEFGH.css"));
  EXPECT_FALSE(static_name_is_hashed("index.html"));
  EXPECT_FALSE(static_name_is_hashed("app-3f2k7qz1.js"));
  EXPECT_FALSE(static_name_is_hashed("app_3F2K7QZ1.js"));
  EXPECT_EQ(static_relative_path("/"), "index.html");
  EXPECT_EQ(static_relative_path("/a/b.js"), "a/b.js");
  EXPECT_FALSE(static_relative_path("/a//b.js"));
  EXPECT_FALSE(static_content_type("x.sh"));
}

}  // namespace
}  // namespace orion::api
