// tessera-ssh's command line as OpenSSH 9.2's ssh reads it.
#include "client/options.h"

#include <gtest/gtest.h>

namespace tessera::ssh::client {
namespace {

std::vector<std::pair<std::string, std::vector<std::string>>> settings(const CommandLine& cl) {
  std::vector<std::pair<std::string, std::vector<std::string>>> out;
  for (const auto& o : cl.options) out.emplace_back(o.keyword.empty() ? "-o " + o.text : o.keyword, o.args);
  return out;
}

TEST(CommandLine, DestinationsAndCommands) {
  auto cl = parse_command_line({"-p", "2222", "alice@example.com", "ls", "-l", "/tmp"});
  ASSERT_TRUE(cl.ok());
  EXPECT_EQ(cl->host, "example.com");
  EXPECT_EQ(cl->user, "alice");
  EXPECT_EQ(cl->command, (std::vector<std::string>{"ls", "-l", "/tmp"}));

  auto url = parse_command_line({"ssh://bob@[::1]:2200", "true"});
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(url->host, "::1");
  EXPECT_EQ(url->user, "bob");
  EXPECT_EQ(url->port, 2200);
  auto url2 = parse_command_line({"ssh://host.example:22/"});
  ASSERT_TRUE(url2.ok());
  EXPECT_EQ(url2->host, "host.example");
  EXPECT_FALSE(parse_command_line({"ssh://host:99999"}).ok());
  EXPECT_FALSE(parse_command_line({"ssh://[::1"}).ok());
  // The last '@' separates the user, as OpenSSH.
  auto at = parse_command_line({"a@b@host"});
  ASSERT_TRUE(at.ok());
  EXPECT_EQ(at->user, "a@b");
  EXPECT_EQ(at->host, "host");
}

TEST(CommandLine, OptionsAfterTheDestinationAndCombinedFlags) {
  auto cl = parse_command_line({"host", "-vvv", "-tt", "-p2222", "-oUser=carol", "cmd", "-x"});
  ASSERT_TRUE(cl.ok());
  EXPECT_EQ(cl->verbose, 3);
  EXPECT_EQ(cl->force_tty, 2);
  EXPECT_EQ(cl->command, (std::vector<std::string>{"cmd", "-x"}));
  auto s = settings(*cl);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].first, "Port");
  EXPECT_EQ(s[0].second, std::vector<std::string>{"2222"});
  EXPECT_EQ(s[1].first, "-o User=carol");
}

TEST(CommandLine, UserFromLAndDestinationInCommandLineOrder) {
  // The first of -l and user@ wins; both are handed on in order.
  auto cl = parse_command_line({"-l", "first", "second@host"});
  ASSERT_TRUE(cl.ok());
  auto s = settings(*cl);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].second, std::vector<std::string>{"first"});
  EXPECT_EQ(s[1].second, std::vector<std::string>{"second"});
}

TEST(CommandLine, LocalForwardsSplitIntoListenAndTarget) {
  const std::vector<std::pair<std::string, std::pair<std::string, std::string>>> cases = {
      {"8080:localhost:80", {"8080", "localhost:80"}},
      {"127.0.0.1:8080:db:5432", {"127.0.0.1:8080", "db:5432"}},
      {"[::1]:8080:[fe80::1]:22", {"[::1]:8080", "[fe80::1]:22"}},
      {"8080:/run/app.sock", {"8080", "/run/app.sock"}},
      {"/tmp/local.sock:host:80", {"/tmp/local.sock", "host:80"}},
  };
  for (const auto& [spec, want] : cases) {
    auto cl = parse_command_line({"-L", spec, "host"});
    ASSERT_TRUE(cl.ok()) << spec;
    auto s = settings(*cl);
    ASSERT_EQ(s.size(), 1u);
    EXPECT_EQ(s[0].first, "LocalForward");
    EXPECT_EQ(s[0].second, (std::vector<std::string>{want.first, want.second})) << spec;
  }
  EXPECT_FALSE(parse_command_line({"-L", "8080", "host"}).ok());
}

TEST(CommandLine, UsageErrors) {
  EXPECT_FALSE(parse_command_line({}).ok());
  EXPECT_FALSE(parse_command_line({"-z", "host"}).ok());
  EXPECT_FALSE(parse_command_line({"host", "-p"}).ok());
  EXPECT_FALSE(parse_command_line({"-1", "host"}).ok());
  EXPECT_FALSE(parse_command_line({"-O", "check", "host"}).ok());
  auto version = parse_command_line({"-V"});
  ASSERT_TRUE(version.ok());
  EXPECT_TRUE(version->version);
  auto query = parse_command_line({"-Q", "cipher"});
  ASSERT_TRUE(query.ok());
  EXPECT_EQ(query->query, "cipher");
}

}  // namespace
}  // namespace tessera::ssh::client
