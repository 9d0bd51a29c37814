// Truncated and bit-flipped versions of valid keys in every format give
// clean errors: no crash, no hang, no exception, and an error message a
// person can read. A flip that lands in a comment may still parse; anything
// that parses must then be a complete, usable key.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "tessera/key/encoding.h"
#include "tessera/key/format.h"
#include "tessera/key/key.h"

namespace tessera::key {
namespace {

const SecretBytes& passphrase() {
  static const SecretBytes p = SecretBytes::copy_of(std::string_view("correct horse"));
  return p;
}

// What a parser reported: ok, or an error with a message.
struct Outcome {
  bool ok;
  std::string message;
};

using Parser = std::function<Outcome(std::string_view)>;

void expect_clean(const Outcome& o, const std::string& what) {
  if (!o.ok) {
    EXPECT_FALSE(o.message.empty()) << what << ": error without a message";
  }
}

// Every truncation of text, and a bit flip in every `stride`-th byte.
void torture_text(const std::string& text, const Parser& parse, size_t stride, const std::string& name) {
  ASSERT_TRUE(parse(text).ok) << name << ": the untouched input must parse";
  size_t truncations_ok = 0;
  for (size_t n = 0; n < text.size(); n += std::max<size_t>(1, stride / 4)) {
    Outcome o = parse(std::string_view(text).substr(0, n));
    expect_clean(o, name + " truncated to " + std::to_string(n));
    if (o.ok) ++truncations_ok;
  }
  // Only the loss of trailing whitespace may leave a valid key.
  EXPECT_LE(truncations_ok, 2u) << name;
  for (size_t i = 0; i < text.size(); i += stride) {
    for (int bit = 0; bit < 8; bit += 3) {
      std::string flipped = text;
      flipped[i] = static_cast<char>(flipped[i] ^ (1 << bit));
      expect_clean(parse(flipped), name + " bit " + std::to_string(bit) + " of byte " + std::to_string(i));
    }
  }
}

// Flips bits of the base64-decoded body of an armored file, so that the
// binary parser underneath sees every kind of damage, not just bad base64.
// Bytes in [skip_begin, skip_end) of the body are not flipped.
void torture_armored_binary(const std::string& text, const Parser& parse, size_t stride,
                            const std::string& name, size_t skip_begin = 0, size_t skip_end = 0) {
  size_t begin = text.find('\n') + 1;
  size_t end = text.find("-----END");
  ASSERT_NE(end, std::string::npos);
  auto body = base64_decode(text.substr(begin, end - begin));
  ASSERT_TRUE(body.ok());
  std::string head = text.substr(0, begin), tail = text.substr(end);
  auto rearm = [&](const Bytes& b) {
    std::string b64 = base64_encode(b), out = head;
    for (size_t i = 0; i < b64.size(); i += 70) out += b64.substr(i, 70) + "\n";
    return out + tail;
  };
  for (size_t i = 0; i < body->size(); i += stride) {
    Bytes flipped = *body;
    flipped[i] ^= static_cast<uint8_t>(1u << (i % 8));
    if (i < skip_begin || i >= skip_end) {
      expect_clean(parse(rearm(flipped)), name + " binary byte " + std::to_string(i));
    }
    Bytes cut(body->begin(), body->begin() + static_cast<long>(i));
    Outcome o = parse(rearm(cut));
    expect_clean(o, name + " binary truncated to " + std::to_string(i));
    EXPECT_FALSE(o.ok) << name << " binary truncated to " << i << " parsed";
  }
}

template <typename R>
Outcome outcome(const R& r) {
  return r.ok() ? Outcome{true, {}} : Outcome{false, r.error().message()};
}

Parser private_parser() {
  return [](std::string_view t) { return outcome(parse_private_key(t, passphrase())); };
}

struct KeyCase {
  KeyType type;
  unsigned bits;
  const char* name;
};

class Robustness : public ::testing::TestWithParam<KeyCase> {
 protected:
  void SetUp() override {
    auto k = PrivateKey::generate(GetParam().type, GetParam().bits);
    ASSERT_TRUE(k.ok());
    key_ = std::make_unique<PrivateKey>(std::move(*k));
  }
  std::unique_ptr<PrivateKey> key_;
};

// The lines carry no comment: a truncated comment would still be a valid line.
TEST_P(Robustness, PublicKeyLine) {
  std::string line = format_public_key_line(key_->public_key(), "");
  torture_text(line, [](std::string_view t) { return outcome(parse_public_key_line(t)); }, 3, "public line");
}

TEST_P(Robustness, AuthorizedKeysLine) {
  std::string line = "command=\"echo hi\",no-pty " + format_public_key_line(key_->public_key(), "");
  torture_text(line, [](std::string_view t) {
    auto r = parse_authorized_keys_line(t);
    return r.ok() ? Outcome{true, {}} : Outcome{false, r.error().message()};
  }, 3, "authorized_keys");
}

TEST_P(Robustness, Rfc4716) {
  std::string text = format_rfc4716(key_->public_key(), "robust");
  torture_text(text, [](std::string_view t) { return outcome(parse_rfc4716(t)); }, 5, "rfc4716");
}

TEST_P(Robustness, OpensshUnencrypted) {
  auto text = format_openssh_private_key(*key_, "robust", SecretBytes());
  ASSERT_TRUE(text.ok()) << text.error().message();
  torture_text(*text, private_parser(), 7, "openssh");
  torture_armored_binary(*text, private_parser(), 3, "openssh");
}

TEST_P(Robustness, OpensshEncrypted) {
  // One KDF round keeps thousands of parses fast.
  const std::string cipher = "aes256-gcm@openssh.com";
  auto text = format_openssh_private_key(*key_, "robust", passphrase(), {cipher, 1});
  ASSERT_TRUE(text.ok()) << text.error().message();
  // A flipped bit in the KDF rounds field asks for up to 2^31 rounds: a valid
  // (if hostile) file that takes minutes to open, so those four bytes are
  // left alone. They sit at the end of the kdf options: magic, cipher and
  // kdf names, then string(string salt(16), uint32 rounds).
  size_t rounds_at = 15 + (4 + cipher.size()) + (4 + 6) + 4 + (4 + 16);
  torture_armored_binary(*text, private_parser(), 11, "openssh encrypted", rounds_at, rounds_at + 4);
}

TEST_P(Robustness, Pkcs8AndPem) {
  // Ed25519 has no traditional PEM form, only PKCS#8.
  std::vector<PemFlavor> flavors{PemFlavor::kPkcs8};
  if (GetParam().type != KeyType::kEd25519) flavors.push_back(PemFlavor::kTraditional);
  for (PemFlavor flavor : flavors) {
    auto text = format_pem_private_key(*key_, flavor, SecretBytes());
    ASSERT_TRUE(text.ok()) << text.error().message();
    torture_text(*text, private_parser(), 13, "pem");
    torture_armored_binary(*text, private_parser(), 5, "pem");
  }
}

INSTANTIATE_TEST_SUITE_P(Types, Robustness,
                         ::testing::Values(KeyCase{KeyType::kEd25519, 0, "ed25519"},
                                           KeyCase{KeyType::kEcdsaP256, 0, "ecdsa256"},
                                           KeyCase{KeyType::kEcdsaP521, 0, "ecdsa521"},
                                           KeyCase{KeyType::kRsa, 2048, "rsa2048"}),
                         [](const auto& test_info) { return std::string(test_info.param.name); });

}  // namespace
}  // namespace tessera::key
