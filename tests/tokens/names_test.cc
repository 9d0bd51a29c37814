// How tessera-agent names PKCS#11 providers (paths, p11-kit module names,
// RFC 7512 URIs) and filters token keys by URI.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "daemon/pkcs11_providers.h"
#include "daemon/providers.h"
#include "test_support.h"

namespace tessera::agent::daemon {
namespace {

using test::TempDir;
using test::write_file;

class ProviderNames : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(dir_.file("user"));
    std::filesystem::create_directories(dir_.file("system"));
    std::filesystem::create_directories(dir_.file("lib/pkcs11"));
    write_file(dir_.file("lib/pkcs11/libtoken.so"), "not really a module");
    write_file(dir_.file("lib/p11-kit-proxy.so"), "not really the proxy");
    layout_.config_dirs = {dir_.file("user"), dir_.file("system")};
    layout_.module_dir = dir_.file("lib/pkcs11");
    layout_.proxy_module = dir_.file("lib/p11-kit-proxy.so");
    allowed_ = dir_.path().string() + "/*";
  }
  std::string canonical(const std::string& path) { return std::filesystem::canonical(path).string(); }

  TempDir dir_;
  P11KitLayout layout_;
  std::string allowed_;
};

TEST_F(ProviderNames, ModuleFilesResolveRelativeAndAbsolutePaths) {
  write_file(dir_.file("system/token.module"), "# comment\nmodule: libtoken.so\npriority: 1\n");
  write_file(dir_.file("system/abs.module"), "module:   " + dir_.file("lib/p11-kit-proxy.so") + "  \n");
  EXPECT_EQ(*p11kit_module_path("token", layout_), dir_.file("lib/pkcs11/libtoken.so"));
  EXPECT_EQ(*p11kit_module_path("abs", layout_), dir_.file("lib/p11-kit-proxy.so"));
  // The user's directory comes first.
  write_file(dir_.file("user/token.module"), "module: " + dir_.file("lib/p11-kit-proxy.so") + "\n");
  EXPECT_EQ(*p11kit_module_path("token", layout_), dir_.file("lib/p11-kit-proxy.so"));
  // No such name; a file with no module line.
  EXPECT_FALSE(p11kit_module_path("missing", layout_).ok());
  write_file(dir_.file("system/empty.module"), "priority: 3\n");
  auto empty = p11kit_module_path("empty", layout_);
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.error().message().find("names no module"), std::string::npos);
}

TEST_F(ProviderNames, PathsNamesAndUrisResolveThroughTheAllowlist) {
  write_file(dir_.file("system/token.module"), "module: libtoken.so\n");
  std::string token = canonical(dir_.file("lib/pkcs11/libtoken.so"));

  auto by_path = resolve_provider(dir_.file("lib/pkcs11/libtoken.so"), allowed_, layout_);
  ASSERT_TRUE(by_path.ok()) << by_path.error().message();
  EXPECT_EQ(by_path->module_path, token);
  EXPECT_TRUE(by_path->filter_uri.empty());

  auto by_name = resolve_provider("token", allowed_, layout_);
  ASSERT_TRUE(by_name.ok()) << by_name.error().message();
  EXPECT_EQ(by_name->module_path, token);

  auto by_uri = resolve_provider("pkcs11:token=main;object=key?module-name=token", allowed_, layout_);
  ASSERT_TRUE(by_uri.ok()) << by_uri.error().message();
  EXPECT_EQ(by_uri->module_path, token);
  EXPECT_EQ(by_uri->filter_uri, "pkcs11:token=main;object=key?module-name=token");

  auto by_module_path = resolve_provider("pkcs11:?module-path=" + dir_.file("lib/pkcs11/libtoken.so"), allowed_, layout_);
  ASSERT_TRUE(by_module_path.ok()) << by_module_path.error().message();
  EXPECT_EQ(by_module_path->module_path, token);

  auto proxy = resolve_provider("pkcs11:token=main", allowed_, layout_);
  ASSERT_TRUE(proxy.ok()) << proxy.error().message();
  EXPECT_EQ(proxy->module_path, canonical(dir_.file("lib/p11-kit-proxy.so")));
}

TEST_F(ProviderNames, BadNamesAreRefusedWithAReason) {
  auto denied = resolve_provider(dir_.file("lib/pkcs11/libtoken.so"), "/usr/lib*/*", layout_);
  ASSERT_FALSE(denied.ok());
  EXPECT_NE(denied.error().message().find("not allowed by -P"), std::string::npos);
  EXPECT_FALSE(resolve_provider("nonexistent-module", allowed_, layout_).ok());
  EXPECT_FALSE(resolve_provider("pkcs11:token=%zz", allowed_, layout_).ok());
  auto path_form = resolve_provider("pkcs11:module-name=token;token=main", allowed_, layout_);
  ASSERT_FALSE(path_form.ok());
  EXPECT_NE(path_form.error().message().find("belong in the query"), std::string::npos);
}

TEST(KeyMatchesUri, TokenAndObjectAttributesSelectKeys) {
  pkcs11::KeyInfo key;
  key.id.token = {"0123abcd", "SoftHSM slot ID 0x1"};
  key.id.cka_id = {0x03};
  key.token_label = "main";
  key.label = "ec256";
  key.uri = "pkcs11:model=SoftHSM%20v2;manufacturer=SoftHSM%20project;serial=0123abcd;token=main;id=%03;object=ec256";
  EXPECT_TRUE(key_matches_uri(key, ""));
  EXPECT_TRUE(key_matches_uri(key, "pkcs11:token=main"));
  EXPECT_TRUE(key_matches_uri(key, "pkcs11:serial=0123abcd;object=ec256?module-name=softhsm2"));
  EXPECT_TRUE(key_matches_uri(key, "pkcs11:id=%03"));
  EXPECT_FALSE(key_matches_uri(key, "pkcs11:token=other"));
  EXPECT_FALSE(key_matches_uri(key, "pkcs11:object=ec384"));
  EXPECT_FALSE(key_matches_uri(key, "pkcs11:id=%04"));
  EXPECT_FALSE(key_matches_uri(key, "pkcs11:manufacturer=Nobody"));
}

}  // namespace
}  // namespace tessera::agent::daemon
