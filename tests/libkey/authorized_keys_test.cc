// authorized_keys lines (sshd(8) AUTHORIZED_KEYS FILE FORMAT).
#include <gtest/gtest.h>

#include <string>

#include "tessera/key/format.h"

namespace tessera::key {
namespace {

constexpr std::string_view kKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBIXZjElDnzk1gWgdlAU7kDXu7Zuw70CC2dHE2z0z0Jc";

AuthorizedKeysEntry parse_ok(const std::string& line) {
  auto parsed = parse_authorized_keys_line(line);
  EXPECT_TRUE(parsed.ok()) << line << ": " << (parsed.ok() ? "" : parsed.error().message());
  if (!parsed.ok() || !parsed->has_value()) {
    ADD_FAILURE() << "no entry for " << line;
    auto key = parse_public_key_line(kKey);
    return AuthorizedKeysEntry{{}, key->key, {}};
  }
  return std::move(**parsed);
}

void expect_error(const std::string& line, Errc code = Errc::kMalformed) {
  auto parsed = parse_authorized_keys_line(line);
  ASSERT_FALSE(parsed.ok()) << "accepted: " << line;
  EXPECT_EQ(parsed.error().code(), code) << line << ": " << parsed.error().message();
}

TEST(AuthorizedKeys, BlankAndCommentLinesGiveNothing) {
  for (std::string line : {"", "\n", "   \t\r\n", "# a comment", "   # indented comment ssh-ed25519 AAAA",
                           "#no-pty ssh-ed25519 garbage"}) {
    auto parsed = parse_authorized_keys_line(line);
    ASSERT_TRUE(parsed.ok()) << line;
    EXPECT_FALSE(parsed->has_value()) << line;
  }
}

TEST(AuthorizedKeys, KeyWithoutOptions) {
  auto entry = parse_ok(std::string(kKey) + " alice@laptop\n");
  EXPECT_TRUE(entry.options.empty());
  EXPECT_EQ(entry.key.type(), KeyType::kEd25519);
  EXPECT_EQ(entry.comment, "alice@laptop");
  entry = parse_ok("  " + std::string(kKey));
  EXPECT_TRUE(entry.options.empty());
  EXPECT_EQ(entry.comment, "");
}

TEST(AuthorizedKeys, FlagOptions) {
  auto entry = parse_ok("no-pty,NO-X11-forwarding,restrict,cert-authority,pty,no-touch-required,"
                        "verify-required,no-user-rc,agent-forwarding,port-forwarding " +
                        std::string(kKey) + " c");
  ASSERT_EQ(entry.options.size(), 10u);
  EXPECT_EQ(entry.options[0].name, "no-pty");
  EXPECT_FALSE(entry.options[0].value.has_value());
  EXPECT_EQ(entry.options[1].name, "NO-X11-forwarding");  // kept as written
  EXPECT_EQ(entry.options[2].name, "restrict");
  EXPECT_EQ(entry.comment, "c");
}

TEST(AuthorizedKeys, ValueOptionsWithQuotesSpacesAndEscapes) {
  auto entry = parse_ok(R"(command="echo \"hi there\", bye",from="10.0.0.0/8,!10.1.*",)"
                        R"(environment="PATH=/bin:/usr/bin",permitopen="host:22",permitlisten="8080",)"
                        R"(principals="alice,bob",tunnel="1",expiry-time="20300101",no-pty	)" +
                        std::string(kKey) + " comment with spaces");
  ASSERT_EQ(entry.options.size(), 9u);
  EXPECT_EQ(entry.options[0].name, "command");
  EXPECT_EQ(entry.options[0].value, R"(echo "hi there", bye)");
  EXPECT_EQ(entry.options[1].value, "10.0.0.0/8,!10.1.*");
  EXPECT_EQ(entry.options[2].value, "PATH=/bin:/usr/bin");
  EXPECT_EQ(entry.options[3].value, "host:22");
  EXPECT_EQ(entry.options[4].value, "8080");
  EXPECT_EQ(entry.options[5].value, "alice,bob");
  EXPECT_EQ(entry.options[6].value, "1");
  EXPECT_EQ(entry.options[7].value, "20300101");
  EXPECT_EQ(entry.options[8].name, "no-pty");
  EXPECT_EQ(entry.comment, "comment with spaces");
  EXPECT_EQ(entry.key.type(), KeyType::kEd25519);
}

TEST(AuthorizedKeys, BackslashWithoutQuoteIsKept) {
  auto entry = parse_ok(R"(command="a\b\\c" )" + std::string(kKey));
  ASSERT_EQ(entry.options.size(), 1u);
  EXPECT_EQ(entry.options[0].value, R"(a\b\\c)");
  entry = parse_ok(R"(command="" )" + std::string(kKey));
  EXPECT_EQ(entry.options[0].value, "");
}

TEST(AuthorizedKeys, EmptyOptionsBetweenCommasAreSkippedAsSshdDoes) {
  auto entry = parse_ok("no-pty,,no-user-rc " + std::string(kKey));
  ASSERT_EQ(entry.options.size(), 2u);
}

TEST(AuthorizedKeys, RejectsBadOptionSyntax) {
  const std::string key(kKey);
  expect_error("no-pty, " + key);                     // trailing comma
  expect_error("no-pty," + key);                      // the key type is no option
  expect_error("bogus-option " + key);               // unknown name
  expect_error("ptyx " + key);                       // prefix of a known name is not enough
  expect_error("no-restrict " + key);                // restrict cannot be negated
  expect_error("no-cert-authority " + key);
  expect_error("command " + key);                    // needs a value
  expect_error("command=ls " + key);                 // value must be quoted
  expect_error("command=\"ls " + key);               // unterminated quote
  expect_error("command=\"ls\"x " + key);            // junk after the closing quote
  expect_error("no-pty=\"1\" " + key);               // flags take no value
  expect_error("command=\"a\",command=\"b\" " + key);  // at most one command
  expect_error("from=\"a\",FROM=\"b\" " + key);
  expect_error("environment=\"NOEQUALS\" " + key);
  expect_error("environment=\"=x\" " + key);
  expect_error("environment=\"BAD-NAME=x\" " + key);
  expect_error("no-pty");                            // options but no key
  expect_error("no-pty   ");
  expect_error("no-pty ssh-ed25519");
}

TEST(AuthorizedKeys, RejectsBadKeys) {
  expect_error("ssh-ed25519 AAAA!!!");
  expect_error("no-pty ssh-ed25519 AAAA!!!");
  expect_error("ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIBIXZjElDnzk1gWgdlAU7kDXu7Zuw70CC2dHE2z0z0Jc");
  // An unknown key type is reported as such, not as a bad option.
  expect_error("ssh-dss AAAAB3NzaC1kc3M= c", Errc::kUnsupported);
  expect_error("no-pty ssh-dss AAAAB3NzaC1kc3M= c", Errc::kUnsupported);
  expect_error(std::string(kKey) + " a\nb");
  expect_error(std::string(70 * 1024, 'x'), Errc::kTooLarge);
}

}  // namespace
}  // namespace tessera::key
