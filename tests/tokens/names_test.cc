// How every program names PKCS#11 providers (paths, p11-kit module names,
// RFC 7512 URIs) and filters token keys by URI; p11-kit module names resolve
// as p11-kit itself resolves them (checked against p11-kit list-modules).
#include <gtest/gtest.h>

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "tessera/tokens/names.h"
#include "test_support.h"

namespace tessera::tokens {
namespace {

using test::TempDir;
using test::write_file;

class ProviderNames : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(dir_.file("user"));
    std::filesystem::create_directories(dir_.file("system"));
    std::filesystem::create_directories(dir_.file("package"));
    std::filesystem::create_directories(dir_.file("lib/pkcs11"));
    write_file(dir_.file("lib/pkcs11/libtoken.so"), "not really a module");
    write_file(dir_.file("lib/p11-kit-proxy.so"), "not really the proxy");
    layout_.user_module_dir = dir_.file("user");
    layout_.system_module_dirs = {dir_.file("system"), dir_.file("package")};
    layout_.user_config_file = dir_.file("user.conf");
    layout_.system_config_file = dir_.file("system.conf");
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

TEST_F(ProviderNames, UserFilesMergeOverSystemFilesKeyByKey) {
  write_file(dir_.file("package/token.module"), "module: libtoken.so\npriority: 1\n");
  // A user file that only disables the module elsewhere keeps the name working.
  write_file(dir_.file("user/token.module"), "disable-in: some-other-program\n");
  auto config = p11kit_module_config("token", layout_);
  ASSERT_TRUE(config.ok()) << config.error().message();
  EXPECT_EQ(config->fields.at("module"), "libtoken.so");
  EXPECT_EQ(config->fields.at("disable-in"), "some-other-program");
  EXPECT_EQ(config->files.size(), 2u);
  EXPECT_EQ(*p11kit_module_path("token", layout_, "tessera-agent"), dir_.file("lib/pkcs11/libtoken.so"));
  // /etc over the package's directory, the user's over both.
  write_file(dir_.file("system/token.module"), "module: /etc-module.so\n");
  EXPECT_EQ(*p11kit_module_path("token", layout_, "tessera-agent"), "/etc-module.so");
  write_file(dir_.file("user/token.module"), "module: /user-module.so\n");
  EXPECT_EQ(*p11kit_module_path("token", layout_, "tessera-agent"), "/user-module.so");
}

TEST_F(ProviderNames, EnableInAndDisableInAreHonoured) {
  write_file(dir_.file("system/token.module"), "module: libtoken.so\ndisable-in: tessera-agent, ssh-agent\n");
  auto disabled = p11kit_module_path("token", layout_, "tessera-agent");
  ASSERT_FALSE(disabled.ok());
  EXPECT_EQ(disabled.error().code(), key::Errc::kInvalidArgument);
  EXPECT_NE(disabled.error().message().find("disabled for tessera-agent"), std::string::npos);
  EXPECT_TRUE(p11kit_module_path("token", layout_, "tessera-keygen").ok());
  EXPECT_TRUE(p11kit_module_path("token", layout_, "tessera").ok());  // a word, not a substring
  write_file(dir_.file("user/token.module"), "enable-in: tessera-keygen\n");
  // enable-in decides alone once set.
  EXPECT_TRUE(p11kit_module_path("token", layout_, "tessera-keygen").ok());
  EXPECT_FALSE(p11kit_module_path("token", layout_, "ssh-add").ok());
  EXPECT_FALSE(resolve_provider("token", allowed_, layout_, "ssh-add").ok());
}

TEST_F(ProviderNames, UserConfigSaysWhetherTheUsersFilesCount) {
  write_file(dir_.file("system/token.module"), "module: /system.so\n");
  write_file(dir_.file("user/token.module"), "module: /user.so\n");
  write_file(dir_.file("user/mine.module"), "module: /mine.so\n");
  write_file(dir_.file("system.conf"), "user-config: none\n");
  EXPECT_EQ(*p11kit_module_path("token", layout_, "x"), "/system.so");
  EXPECT_FALSE(p11kit_module_path("mine", layout_, "x").ok());
  write_file(dir_.file("system.conf"), "# default: merge\n");
  write_file(dir_.file("user.conf"), "user-config: only\n");
  write_file(dir_.file("system/other.module"), "module: /other.so\n");
  EXPECT_EQ(*p11kit_module_path("token", layout_, "x"), "/user.so");
  EXPECT_FALSE(p11kit_module_path("other", layout_, "x").ok());
  write_file(dir_.file("user.conf"), "user-config: sometimes\n");
  auto bad = p11kit_module_path("token", layout_, "x");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("user.conf"), std::string::npos);
}

TEST_F(ProviderNames, AFileP11KitCannotParseIsReportedWithItsLine) {
  write_file(dir_.file("system/token.module"), "# fine\nmodule: libtoken.so\njust words\n");
  auto bad = p11kit_module_path("token", layout_, "x");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), key::Errc::kMalformed);
  EXPECT_NE(bad.error().message().find("token.module line 3"), std::string::npos) << bad.error().message();
  EXPECT_FALSE(p11kit_module_path("../system/token", layout_, "x").ok());
}

// p11-kit list-modules prints "NAME: MODULE" for every module it enables for
// itself, from the real system configuration and a user configuration under
// a temporary HOME. p11-kit ignores a user configuration when it runs as root,
// so as root the tool runs as nobody (setpriv), and the layout here is that of
// a user.
class AgainstP11Kit : public ::testing::Test {
 protected:
  void SetUp() override {
    if (test::run({"sh", "-c", "command -v p11-kit"}).exit_code != 0) GTEST_SKIP() << "p11-kit is not installed";
    if (::getuid() == 0 && test::run({"sh", "-c", "command -v setpriv"}).exit_code != 0) {
      GTEST_SKIP() << "setpriv (util-linux) is needed to run p11-kit as a user";
    }
    std::filesystem::create_directories(home_.file(".config/pkcs11/modules"));
    // SoftHSM2 initialises (and p11-kit lists it) only with a configuration
    // and token directory the user running p11-kit can read.
    std::filesystem::create_directories(home_.file("tokens"));
    write_file(home_.file("softhsm2.conf"), "directories.tokendir = " + home_.file("tokens") + "\n", 0644);
    std::filesystem::permissions(home_.path(), std::filesystem::perms::owner_all | std::filesystem::perms::others_read |
                                                   std::filesystem::perms::others_exec);
    layout_ = P11KitLayout::system();
    layout_.user_config_file = home_.file(".config/pkcs11/pkcs11.conf");
    layout_.user_module_dir = home_.file(".config/pkcs11/modules");
    layout_.user_config_allowed = true;
  }
  void user_file(const std::string& name, const std::string& text) {
    write_file(home_.file(".config/pkcs11/" + name), text, 0644);
  }
  // What p11-kit lists: name -> module path (resolved as p11-kit loads it).
  std::map<std::string, std::string> listed() {
    std::vector<std::string> argv = {"env", "HOME=" + home_.path().string(),
                                     "SOFTHSM2_CONF=" + home_.file("softhsm2.conf"), "p11-kit", "list-modules"};
    if (::getuid() == 0) {
      argv.insert(argv.begin(), {"setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"});
    }
    auto result = test::run(argv);
    EXPECT_EQ(result.exit_code, 0) << result.err;
    std::map<std::string, std::string> modules;
    size_t pos = 0;
    while (pos < result.out.size()) {
      size_t nl = result.out.find('\n', pos);
      std::string line = result.out.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
      pos = nl == std::string::npos ? result.out.size() : nl + 1;
      if (line.empty() || line[0] == ' ') continue;
      size_t colon = line.find(": ");
      if (colon == std::string::npos) continue;
      std::string module = line.substr(colon + 2);
      modules[line.substr(0, colon)] = module[0] == '/' ? module : layout_.module_dir + "/" + module;
    }
    return modules;
  }
  // Every module p11-kit lists resolves to the same path here.
  void expect_same_paths(const std::map<std::string, std::string>& modules) {
    for (const auto& [name, path] : modules) {
      auto ours = p11kit_module_path(name, layout_, "p11-kit");
      ASSERT_TRUE(ours.ok()) << name << ": " << ours.error().message();
      EXPECT_EQ(*ours, path) << name;
    }
  }

  TempDir home_;
  P11KitLayout layout_;
};

TEST_F(AgainstP11Kit, SystemModulesResolveToTheSamePaths) {
  auto modules = listed();
  ASSERT_TRUE(modules.contains("softhsm2")) << "softhsm2's .module is part of the test setup";
  expect_same_paths(modules);
}

TEST_F(AgainstP11Kit, AUserFileThatOnlyDisablesElsewhereKeepsTheName) {
  user_file("modules/softhsm2.module", "disable-in: some-other-program\n");
  auto modules = listed();
  ASSERT_TRUE(modules.contains("softhsm2"));
  expect_same_paths(modules);
}

TEST_F(AgainstP11Kit, ModulesDisabledForAProgramAreRefusedAsP11KitRefusesThem) {
  user_file("modules/softhsm2.module", "disable-in: p11-kit\n");
  auto modules = listed();
  EXPECT_FALSE(modules.contains("softhsm2"));
  expect_same_paths(modules);
  auto refused = p11kit_module_path("softhsm2", layout_, "p11-kit");
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message().find("disabled for p11-kit"), std::string::npos);
  EXPECT_TRUE(p11kit_module_path("softhsm2", layout_, "tessera-agent").ok());
}

TEST_F(AgainstP11Kit, AUsersOwnModuleIsListedUnderItsName) {
  // A copy in the temporary HOME: p11-kit runs as nobody here, who may not
  // reach the build tree (a checkout under a 0700 directory from mktemp -d).
  const std::string module = home_.file("mine.so");
  std::filesystem::copy_file(TESSERA_P11_FAULT_PATH, module);
  std::filesystem::permissions(module, std::filesystem::perms::owner_all | std::filesystem::perms::group_read |
                                           std::filesystem::perms::group_exec | std::filesystem::perms::others_read |
                                           std::filesystem::perms::others_exec);
  user_file("modules/mine.module", "module: " + module + "\n");
  auto modules = listed();
  EXPECT_TRUE(modules.contains("mine"));
  expect_same_paths(modules);
}

TEST_F(AgainstP11Kit, RootsUserConfigurationIsIgnoredAsP11KitIgnoresIt) {
  if (::getuid() != 0) GTEST_SKIP() << "only as root";
  user_file("modules/softhsm2.module", "disable-in: p11-kit\n");
  P11KitLayout root = layout_;
  root.user_config_allowed = P11KitLayout::system().user_config_allowed;
  EXPECT_FALSE(root.user_config_allowed);
  EXPECT_TRUE(p11kit_module_path("softhsm2", root, "p11-kit").ok());
}

TEST_F(AgainstP11Kit, AUserConfigOfNoneIgnoresTheUsersModules) {
  user_file("modules/softhsm2.module", "disable-in: p11-kit\n");
  user_file("pkcs11.conf", "user-config: none\n");
  auto modules = listed();
  EXPECT_TRUE(modules.contains("softhsm2"));
  expect_same_paths(modules);
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

TEST(UriTokenFields, TheTokenFieldsOfAKeysUri) {
  auto fields = uri_token_fields(
      "pkcs11:model=SoftHSM%20v2;manufacturer=SoftHSM%20project;serial=0123abcd;token=main%20token;id=%03;object=k");
  EXPECT_EQ(fields.label, "main token");
  EXPECT_EQ(fields.manufacturer, "SoftHSM project");
  EXPECT_EQ(fields.model, "SoftHSM v2");
  EXPECT_EQ(fields.serial, "0123abcd");
  // What the URI lacks stays empty; so does everything of a text that is no URI.
  auto partial = uri_token_fields("pkcs11:token=t");
  EXPECT_EQ(partial.label, "t");
  EXPECT_EQ(partial.model, "");
  EXPECT_EQ(uri_token_fields("not a uri").label, "");
  EXPECT_EQ(uri_token_fields("pkcs11:token=%zz").label, "");
}

}  // namespace
}  // namespace tessera::tokens

namespace tessera::tokens {
namespace {

TEST(UriPin, PinValueAndPinSourceFromTheQuery) {
  auto value = uri_pin("pkcs11:token=host;object=k?module-path=/x.so&pin-value=12%334");
  ASSERT_TRUE(value.ok()) << value.error().message();
  ASSERT_TRUE(value->value.has_value());
  EXPECT_EQ(value->value->reveal_text(), "1234");
  EXPECT_EQ(value->source, "");
  auto source = uri_pin("pkcs11:token=host?pin-source=file:///etc/ssh/pin");
  ASSERT_TRUE(source.ok()) << source.error().message();
  EXPECT_FALSE(source->value.has_value());
  EXPECT_EQ(source->source, "file:///etc/ssh/pin");
  auto neither = uri_pin("pkcs11:token=host");
  ASSERT_TRUE(neither.ok());
  EXPECT_FALSE(neither->value.has_value());
  EXPECT_EQ(neither->source, "");
  EXPECT_EQ(uri_pin("/usr/lib/x.so").error().code(), key::Errc::kInvalidArgument);
  EXPECT_EQ(uri_pin("pkcs11:token=%zz").error().code(), key::Errc::kInvalidArgument);
}

TEST(UriPin, PinValuesAreRedacted) {
  EXPECT_EQ(without_pin_value("pkcs11:token=h?module-path=/x.so&pin-value=1234"),
            "pkcs11:token=h?module-path=/x.so&pin-value=REDACTED");
  EXPECT_EQ(without_pin_value("pkcs11:token=h?pin-value=1234&module-path=/x.so"),
            "pkcs11:token=h?pin-value=REDACTED&module-path=/x.so");
  // Where RFC 7512 does not put it, too; and twice.
  EXPECT_EQ(without_pin_value("pkcs11:token=h;pin-value=1;object=k?pin-value=2"),
            "pkcs11:token=h;pin-value=REDACTED;object=k?pin-value=REDACTED");
  // Not an attribute of that name.
  EXPECT_EQ(without_pin_value("pkcs11:object=xpin-value=1"), "pkcs11:object=xpin-value=1");
  EXPECT_EQ(without_pin_value("pkcs11:token=h?pin-source=/p"), "pkcs11:token=h?pin-source=/p");
  EXPECT_EQ(without_pin_value("/path/pin-value=1"), "/path/pin-value=1");
}

}  // namespace
}  // namespace tessera::tokens
