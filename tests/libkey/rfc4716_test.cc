// RFC 4716 public key files.
#include <gtest/gtest.h>

#include <string>

#include "tessera/key/format.h"

namespace tessera::key {
namespace {

// Written by OpenSSH 9.2's ssh-keygen -e.
constexpr std::string_view kSshKeygenOutput =
    "---- BEGIN SSH2 PUBLIC KEY ----\n"
    "Comment: \"256-bit ECDSA, converted by root@vm from OpenSSH\"\n"
    "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBN5U9Lg+l/85Th8i6h\n"
    "L45+RcnsXJ8o11kBOcUGtgORLpgk7YX8kvchJ/CwkzzfzBTt5hq2vfWsGc1As9PkKWXfM=\n"
    "---- END SSH2 PUBLIC KEY ----\n";
constexpr std::string_view kBody =
    "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBN5U9Lg+l/85Th8i6h\n"
    "L45+RcnsXJ8o11kBOcUGtgORLpgk7YX8kvchJ/CwkzzfzBTt5hq2vfWsGc1As9PkKWXfM=\n";

std::string file(std::string_view headers, std::string_view body = kBody) {
  return "---- BEGIN SSH2 PUBLIC KEY ----\n" + std::string(headers) + std::string(body) +
         "---- END SSH2 PUBLIC KEY ----\n";
}

TEST(Rfc4716, ParsesAndReproducesSshKeygenOutput) {
  auto parsed = parse_rfc4716(kSshKeygenOutput);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  EXPECT_EQ(parsed->key.type(), KeyType::kEcdsaP256);
  EXPECT_EQ(parsed->comment, "256-bit ECDSA, converted by root@vm from OpenSSH");
  ASSERT_EQ(parsed->headers.size(), 1u);
  EXPECT_EQ(parsed->headers[0].first, "Comment");
  EXPECT_EQ(format_rfc4716(parsed->key, parsed->comment), kSshKeygenOutput);
}

TEST(Rfc4716, NoCommentWritesNoHeader) {
  auto parsed = parse_rfc4716(kSshKeygenOutput);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(format_rfc4716(parsed->key, ""), file(""));
  auto again = parse_rfc4716(file(""));
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->headers.empty());
  EXPECT_EQ(again->comment, "");
}

TEST(Rfc4716, HeadersContinuationsAndLineEndings) {
  std::string text = file(
      "Subject: alice\n"
      "x-private: \"quoted\"\n"
      "comment: \"This is a long comment that goes on \\\n"
      "and on over two \\\n"
      "lines\"\n");
  auto parsed = parse_rfc4716(text);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  ASSERT_EQ(parsed->headers.size(), 3u);
  EXPECT_EQ(parsed->headers[0], (std::pair<std::string, std::string>("Subject", "alice")));
  EXPECT_EQ(parsed->headers[1].second, "quoted");
  EXPECT_EQ(parsed->comment, "This is a long comment that goes on and on over two lines");

  // CRLF and bare CR line endings (RFC 4716 section 3.1), blank lines around.
  std::string crlf;
  for (char c : "\n\n" + text + "\n") {
    if (c == '\n') crlf += "\r\n";
    else if (c != '\0') crlf += c;
  }
  auto from_crlf = parse_rfc4716(crlf);
  ASSERT_TRUE(from_crlf.ok()) << from_crlf.error().message();
  EXPECT_EQ(from_crlf->comment, parsed->comment);
  std::string cr = text;
  for (char& c : cr) if (c == '\n') c = '\r';
  auto from_cr = parse_rfc4716(cr);
  ASSERT_TRUE(from_cr.ok()) << from_cr.error().message();
  EXPECT_EQ(from_cr->key, parsed->key);
}

TEST(Rfc4716, LongCommentsWrapAt72AndRoundTrip) {
  auto key = PrivateKey::generate(KeyType::kEd25519);
  ASSERT_TRUE(key.ok());
  for (std::string comment : {std::string(61, 'x'), std::string(62, 'y'), std::string(300, 'z'),
                              std::string("ends with backslash \\"), std::string("\"quoted\" inside"),
                              std::string(70, 'a') + "\xc3\xa9\xc3\xa9\xc3\xa9" + std::string(70, 'b')}) {
    std::string text = format_rfc4716(key->public_key(), comment);
    size_t start = 0;
    while (start < text.size()) {
      size_t end = text.find('\n', start);
      ASSERT_NE(end, std::string::npos);
      EXPECT_LE(end - start, 72u) << text;
      start = end + 1;
    }
    auto parsed = parse_rfc4716(text);
    ASSERT_TRUE(parsed.ok()) << parsed.error().message() << "\n" << text;
    EXPECT_EQ(parsed->comment, comment);
    EXPECT_EQ(parsed->key, key->public_key());
  }
  // The UTF-8 sequence is not split across lines.
  std::string text = format_rfc4716(key->public_key(), std::string(60, 'a') + "\xc3\xa9\xc3\xa9\xc3\xa9");
  EXPECT_EQ(text.find("\xc3\\\n"), std::string::npos);
}

TEST(Rfc4716, BodyLinesOf70Columns) {
  auto key = PrivateKey::generate(KeyType::kEcdsaP521);
  ASSERT_TRUE(key.ok());
  std::string text = format_rfc4716(key->public_key(), "c");
  auto first_body = text.find('\n', text.find("Comment:")) + 1;
  EXPECT_EQ(text.find('\n', first_body) - first_body, 70u);
}

void expect_error(const std::string& text, Errc code = Errc::kMalformed) {
  auto parsed = parse_rfc4716(text);
  ASSERT_FALSE(parsed.ok()) << "accepted:\n" << text;
  EXPECT_EQ(parsed.error().code(), code) << text << "\n" << parsed.error().message();
}

TEST(Rfc4716, RejectsMalformedFiles) {
  expect_error("");
  expect_error("\n\n");
  expect_error(std::string(kBody));
  expect_error("---- BEGIN SSH2 PUBLIC KEY ----\n" + std::string(kBody), Errc::kTruncated);
  expect_error("---- BEGIN SSH2 PUBLIC KEY ----\n---- END SSH2 PUBLIC KEY ----\n");
  expect_error(file("", "AAAA!!!!\n"));
  expect_error(file("", "AAAAC3NzaC1lZDI1NTE5\n"), Errc::kTruncated);
  expect_error(file("", std::string(kBody) + "Comment: late\n"));
  // A continuation that swallows the first body line leaves a broken key.
  EXPECT_FALSE(parse_rfc4716(file("Comment: \"a \\\n")).ok());
  expect_error("---- BEGIN SSH2 PUBLIC KEY ----\nComment: \\\n", Errc::kTruncated);
  expect_error(file(": no tag\n"));
  expect_error(file("Bad Tag: x\n"));
  expect_error(file(std::string(65, 't') + ": x\n"));
  expect_error(file("Comment: " + std::string(1025, 'c') + "\n"), Errc::kTooLarge);
  std::string many;
  for (int i = 0; i < 65; ++i) many += "x-h: v\n";
  expect_error(file(many), Errc::kTooLarge);
  expect_error(file("") + "trailing junk\n", Errc::kTrailingData);
  expect_error(file("", std::string(kBody) + "---- BEGIN SSH2 PUBLIC KEY ----\n"));
  expect_error("---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----\n", Errc::kUnsupported);
  expect_error(file("", std::string(30000, 'A') + "\n"), Errc::kTooLarge);
  expect_error(std::string(kMaxKeyFileBytes + 1, '\n'), Errc::kTooLarge);
}

}  // namespace
}  // namespace tessera::key
