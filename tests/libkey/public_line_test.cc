// Public key lines: "type base64 comment".
#include <gtest/gtest.h>

#include <string>

#include "tessera/key/encoding.h"
#include "tessera/key/format.h"

namespace tessera::key {
namespace {

// Written by OpenSSH 9.2's ssh-keygen.
constexpr std::string_view kEd25519Line =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBIXZjElDnzk1gWgdlAU7kDXu7Zuw70CC2dHE2z0z0Jc alice@example.com";
constexpr std::string_view kEd25519Base64 = "AAAAC3NzaC1lZDI1NTE5AAAAIBIXZjElDnzk1gWgdlAU7kDXu7Zuw70CC2dHE2z0z0Jc";
// ssh-keygen -C '' leaves a trailing space.
constexpr std::string_view kEcdsa384Line =
    "ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBKxZ/7NgyE3ODY45wOBDD5/DiFZBENfPIhks"
    "H+kWf87WdVfmi5LJ+gCflO4VFioxsldUJBfh8Zkl08Ybz9kf7Bkh5ODTFSZsFjHXWIf6TSHXgFOKjKiUC/PR7rxb4yBm3w== \n";

std::string line_with(std::string_view type, std::string_view b64, std::string_view comment = "") {
  std::string s(type);
  s += ' ';
  s += b64;
  if (!comment.empty()) {
    s += ' ';
    s += comment;
  }
  return s;
}

TEST(PublicLine, ParsesOpensshLine) {
  auto parsed = parse_public_key_line(kEd25519Line);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  EXPECT_EQ(parsed->key.type(), KeyType::kEd25519);
  EXPECT_EQ(parsed->comment, "alice@example.com");
  EXPECT_EQ(format_public_key_line(parsed->key, parsed->comment), kEd25519Line);
}

TEST(PublicLine, EmptyCommentAndTrailingSpaceAndNewline) {
  auto parsed = parse_public_key_line(kEcdsa384Line);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  EXPECT_EQ(parsed->key.type(), KeyType::kEcdsaP384);
  EXPECT_EQ(parsed->comment, "");
  std::string expected(kEcdsa384Line.substr(0, kEcdsa384Line.size() - 2));
  EXPECT_EQ(format_public_key_line(parsed->key, ""), expected);
}

TEST(PublicLine, NoCommentAtAll) {
  auto parsed = parse_public_key_line(line_with("ssh-ed25519", kEd25519Base64));
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  EXPECT_EQ(parsed->comment, "");
}

TEST(PublicLine, CommentKeepsInnerWhitespace) {
  auto parsed = parse_public_key_line(std::string("  \tssh-ed25519\t ") + std::string(kEd25519Base64) +
                                      "   my key\t on  laptop \t\r\n");
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  EXPECT_EQ(parsed->comment, "my key\t on  laptop");
  auto again = parse_public_key_line(format_public_key_line(parsed->key, parsed->comment));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->key, parsed->key);
  EXPECT_EQ(again->comment, parsed->comment);
}

TEST(PublicLine, RoundTripsEveryGeneratedType) {
  for (KeyType type : {KeyType::kEd25519, KeyType::kEcdsaP256, KeyType::kEcdsaP384, KeyType::kEcdsaP521}) {
    auto key = PrivateKey::generate(type);
    ASSERT_TRUE(key.ok()) << key.error().message();
    std::string line = format_public_key_line(key->public_key(), "user@host");
    EXPECT_TRUE(line.starts_with(std::string(key->public_key().ssh_name()) + " AAAA"));
    auto parsed = parse_public_key_line(line);
    ASSERT_TRUE(parsed.ok()) << parsed.error().message();
    EXPECT_EQ(parsed->key, key->public_key());
    EXPECT_EQ(parsed->comment, "user@host");
  }
}

TEST(PublicLine, FormatReplacesLineBreaksInComment) {
  auto parsed = parse_public_key_line(kEd25519Line);
  ASSERT_TRUE(parsed.ok());
  std::string line = format_public_key_line(parsed->key, "a\nb\rc");
  EXPECT_EQ(line.find('\n'), std::string::npos);
  auto again = parse_public_key_line(line);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->comment, "a b c");
}

void expect_error(std::string_view line, Errc code) {
  auto parsed = parse_public_key_line(line);
  ASSERT_FALSE(parsed.ok()) << "accepted: " << line;
  EXPECT_EQ(parsed.error().code(), code) << line << ": " << parsed.error().message();
  EXPECT_FALSE(parsed.error().message().empty());
}

TEST(PublicLine, RejectsMalformedLines) {
  expect_error("", Errc::kMalformed);
  expect_error("   \t \n", Errc::kMalformed);
  expect_error("ssh-ed25519", Errc::kMalformed);
  expect_error("ssh-ed25519   ", Errc::kMalformed);
  expect_error("ssh-ed25519 !!!!", Errc::kMalformed);
  expect_error("ssh-ed25519 AAAA", Errc::kTruncated);  // decodes, but the blob is cut short
  expect_error(line_with("ssh-ed25519", std::string(kEd25519Base64).substr(0, 40)), Errc::kTruncated);
  expect_error("foo-key " + std::string(kEd25519Base64), Errc::kUnsupported);
  expect_error("ssh-dss " + std::string(kEd25519Base64), Errc::kUnsupported);
  // The type name must match the blob.
  expect_error(line_with("ssh-rsa", kEd25519Base64), Errc::kMalformed);
  expect_error(line_with("ecdsa-sha2-nistp256", kEd25519Base64), Errc::kMalformed);
  // Line breaks or NUL inside one line.
  expect_error(line_with("ssh-ed25519", kEd25519Base64, "a\nb"), Errc::kMalformed);
  expect_error(line_with("ssh-ed25519", kEd25519Base64, "a\rb"), Errc::kMalformed);
  expect_error(line_with("ssh-ed25519", kEd25519Base64, std::string("a\0b", 3)), Errc::kMalformed);
  expect_error(line_with("ssh-ed25519", kEd25519Base64) + "\n\n", Errc::kMalformed);
  // Trailing bytes inside the blob.
  auto blob = base64_decode(kEd25519Base64);
  ASSERT_TRUE(blob.ok());
  blob->push_back(0);
  expect_error(line_with("ssh-ed25519", base64_encode(*blob)), Errc::kTrailingData);
}

TEST(PublicLine, RejectsOversizedInput) {
  expect_error(std::string("ssh-rsa ") + std::string(30000, 'A'), Errc::kTooLarge);
  expect_error(line_with("ssh-ed25519", kEd25519Base64, std::string(70000, 'c')), Errc::kTooLarge);
}

}  // namespace
}  // namespace tessera::key
