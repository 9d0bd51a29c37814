// The status@tessera.dev codec (tessera/agent/status.h): round trips, every
// truncation, the caps on counts and strings, versions and enum values.
#include "tessera/agent/status.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "tessera/agent/protocol.h"

namespace tessera::agent {
namespace {

using key::Reader;
using key::Writer;

StatusReport full_report() {
  StatusReport r;
  r.now = 1'700'000'100;
  r.started = 1'700'000'000;
  r.pid = 4242;
  r.reader_service = ReaderService::kRunning;
  r.readers = {{"Virtual PCD 00 00", true}, {"Yubico YubiKey 01 00", false}};
  StatusToken token{.label = "main",
                    .serial = "1a2b3c",
                    .slot_description = "SoftHSM slot ID 0x1",
                    .manufacturer = "SoftHSM project",
                    .model = "SoftHSM v2",
                    .flags = 0x22,
                    .present = true,
                    .logged_in = true,
                    .pin_cached = true,
                    .keys = 6,
                    .absent_since = 0};
  StatusToken gone = token;
  gone.label = "gone";
  gone.present = false;
  gone.absent_since = 1'700'000'050;
  r.providers.push_back(StatusProvider{.module_path = "/usr/lib/softhsm/libsofthsm2.so",
                                       .filter_uri = "pkcs11:token=main",
                                       .module_description = "SoftHSM",
                                       .state = HelperState::kHung,
                                       .state_since = 1'700'000'001,
                                       .next_start = 0,
                                       .pid = 77,
                                       .in_flight = 2,
                                       .oldest_request_ms = 4500,
                                       .usual_answer_us = 350,
                                       .timeout_ms = 30'000,
                                       .restarts = 3,
                                       .last_error = "token 'main': PIN incorrect",
                                       .last_error_time = 1'700'000'090,
                                       .tokens = {token, gone}});
  StatusProvider restarting;
  restarting.module_path = "/x.so";
  restarting.state = HelperState::kRestarting;
  restarting.next_start = 5;
  r.providers.push_back(restarting);
  r.keys_total = 3;
  r.keys.push_back(StatusKey{.type = "ssh-ed25519",
                             .fingerprint = "SHA256:abc",
                             .comment = "alice@laptop",
                             .source = KeySource::kFile,
                             .location = "",
                             .flags = kStatusKeyConfirm,
                             .destinations = 2,
                             .destination_summary = "a, b>c@d",
                             .has_lifetime = true,
                             .lifetime_left = 59,
                             .signatures = 10,
                             .failures = 1});
  StatusKey token_key;
  token_key.type = "ecdsa-sha2-nistp256-cert-v01@openssh.com";
  token_key.fingerprint = "SHA256:def";
  token_key.comment = "pkcs11:token=main;object=ec256";
  token_key.source = KeySource::kToken;
  token_key.location = "/usr/lib/softhsm/libsofthsm2.so";
  token_key.flags = kStatusKeyCertificate | kStatusKeyAlwaysAuthenticate;
  r.keys.push_back(token_key);
  r.signatures = 10;
  r.failures = {{"confirm_denied", 1}, {"pin_incorrect", 2}};
  return r;
}

// The answer's contents with `body` as the body of a version-1 answer.
ExtensionResponse answer_with_body(const Writer& body, uint32_t version = kStatusVersion,
                                   std::string_view name = kExtStatus) {
  Writer out;
  out.string(name);
  out.u32(version);
  out.string(body);
  return ExtensionResponse{out.take()};
}

// A body up to its reader list, for the tests that break what follows.
void write_head(Writer& body) {
  body.u64(1);
  body.u64(1);
  body.u32(1);
  body.u8(0);
}

TEST(StatusCodec, FullReportRoundTrips) {
  StatusReport report = full_report();
  ExtensionResponse answer = make_status_response(report);
  auto parsed = parse_status_response(answer);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  EXPECT_EQ(*parsed, report);
  // And through the agent protocol's own framing of an extension answer.
  auto response = parse_response(serialize_response(answer));
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(*parse_status_response(std::get<ExtensionResponse>(*response)), report);
}

TEST(StatusCodec, EmptyReportRoundTrips) {
  StatusReport report;
  auto parsed = parse_status_response(make_status_response(report));
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  EXPECT_EQ(*parsed, report);
}

TEST(StatusCodec, SerializedSizeOfAKeyIsWhatItAdds) {
  StatusReport report = full_report();
  const size_t with = make_status_response(report).contents.size();
  const size_t key_size = serialized_size(report.keys.back());
  report.keys.pop_back();
  EXPECT_EQ(make_status_response(report).contents.size() + key_size, with);
}

TEST(StatusCodec, EveryTruncationAndTrailingByteIsRefused) {
  const Bytes contents = make_status_response(full_report()).contents;
  for (size_t n = 0; n < contents.size(); ++n) {
    ExtensionResponse cut{Bytes(contents.begin(), contents.begin() + static_cast<std::ptrdiff_t>(n))};
    EXPECT_FALSE(parse_status_response(cut).ok()) << n;
  }
  ExtensionResponse longer{contents};
  longer.contents.push_back(0);
  EXPECT_EQ(parse_status_response(longer).error().code(), Errc::kTrailingData);

  // A body whose own length covers a byte too many, inside a correct frame.
  Writer body;
  body.bytes(Reader(contents).rest().subspan(4 + kExtStatus.size() + 4 + 4));
  body.u8(0);
  EXPECT_FALSE(parse_status_response(answer_with_body(body)).ok());
}

TEST(StatusCodec, OtherVersionsAndNamesAreRefused) {
  Writer body;
  auto other = parse_status_response(answer_with_body(body, 2));
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.error().code(), Errc::kUnsupported);
  EXPECT_NE(other.error().message().find("version 2"), std::string::npos) << other.error().message();
  auto wrong = parse_status_response(answer_with_body(body, kStatusVersion, "query"));
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().code(), Errc::kMalformed);
}

TEST(StatusCodec, CountsOverTheirLimitsAreRefusedBeforeReading) {
  // A count far beyond the limit, with nothing after it: refused as too
  // large, not read as a truncated list.
  for (int list = 0; list < 4; ++list) {
    Writer body;
    write_head(body);
    if (list == 0) {
      body.u32(static_cast<uint32_t>(kMaxStatusReaders + 1));
    } else {
      body.u32(0);  // readers
      if (list == 1) {
        body.u32(static_cast<uint32_t>(kMaxStatusProviders + 1));
      } else {
        body.u32(0);  // providers
        body.u32(0);  // keys_total
        if (list == 2) {
          body.u32(0xffffffff);
        } else {
          body.u32(0);  // keys
          body.u64(0);  // signatures
          body.u32(static_cast<uint32_t>(kMaxStatusCounters + 1));
        }
      }
    }
    auto parsed = parse_status_response(answer_with_body(body));
    ASSERT_FALSE(parsed.ok()) << list;
    EXPECT_EQ(parsed.error().code(), Errc::kTooLarge) << list << ": " << parsed.error().message();
  }
}

TEST(StatusCodec, TokensPerProviderAreCapped) {
  StatusReport report = full_report();
  report.providers[0].tokens.assign(kMaxStatusTokens + 5, report.providers[0].tokens[0]);
  // The serializer cuts the list; a parser never sees more than the limit.
  auto parsed = parse_status_response(make_status_response(report));
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  EXPECT_EQ(parsed->providers[0].tokens.size(), kMaxStatusTokens);
}

TEST(StatusCodec, LongStringsAreCutByTheWriterAndRefusedByTheReader) {
  StatusReport report;
  // 'é' (two bytes) across the limit: the cut keeps whole characters.
  std::string comment(kMaxStatusTextBytes - 1, 'a');
  comment += "\xc3\xa9 and more";
  StatusKey key;
  key.type = "ssh-ed25519";
  key.comment = comment;
  report.keys.push_back(key);
  report.keys_total = 1;
  auto parsed = parse_status_response(make_status_response(report));
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  EXPECT_EQ(parsed->keys[0].comment, std::string(kMaxStatusTextBytes - 1, 'a'));

  // A string over the limit, as a broken or hostile agent might send.
  Writer body;
  write_head(body);
  body.u32(1);
  body.string(std::string(kMaxStatusTextBytes + 1, 'r'));
  body.boolean(true);
  auto refused = parse_status_response(answer_with_body(body));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), Errc::kTooLarge);
}

TEST(StatusCodec, UnknownEnumValuesAndFlagsAreRefused) {
  {
    Writer body;
    body.u64(1);
    body.u64(1);
    body.u32(1);
    body.u8(kMaxReaderService + 1);
    EXPECT_EQ(parse_status_response(answer_with_body(body)).error().code(), Errc::kMalformed);
  }
  auto corrupt_key = [&](auto change) {
    StatusReport report;
    report.keys.push_back(full_report().keys[0]);
    change(report.keys[0]);
    return make_status_response(report);
  };
  // A key source of 0 (none) or past the last one.
  auto no_source = corrupt_key([](StatusKey& k) { k.source = static_cast<KeySource>(0); });
  EXPECT_EQ(parse_status_response(no_source).error().code(), Errc::kMalformed);
  auto far_source = corrupt_key([](StatusKey& k) { k.source = static_cast<KeySource>(kMaxKeySource + 1); });
  EXPECT_EQ(parse_status_response(far_source).error().code(), Errc::kMalformed);
  // A helper state past the last one.
  StatusReport report;
  report.providers.emplace_back();
  report.providers[0].state = static_cast<HelperState>(kMaxHelperState + 1);
  EXPECT_EQ(parse_status_response(make_status_response(report)).error().code(), Errc::kMalformed);
  // Unknown key flag bits: the writer never sends them, so put one in by
  // hand, just before the destination count (a marker to find).
  StatusReport flagged;
  flagged.keys.emplace_back();
  flagged.keys[0].type = "t";
  flagged.keys[0].destinations = 0x5a5b5c5d;
  Bytes bytes = make_status_response(flagged).contents;
  const Bytes marker = {0x5a, 0x5b, 0x5c, 0x5d};
  auto at = std::search(bytes.begin(), bytes.end(), marker.begin(), marker.end());
  ASSERT_NE(at, bytes.end());
  *(at - 4) = 0x80;  // the flags' most significant byte
  auto parsed = parse_status_response(ExtensionResponse{bytes});
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.error().message().find("flags"), std::string::npos) << parsed.error().message();
}

TEST(StatusCodec, RequestCarriesTheClientsVersion) {
  Bytes request = serialize_request(StatusRequest{kStatusVersion});
  auto parsed = parse_request(request);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  ASSERT_TRUE(std::holds_alternative<StatusRequest>(*parsed));
  EXPECT_EQ(std::get<StatusRequest>(*parsed).version, kStatusVersion);
  // A newer client's version is read as it is: the agent answers with its own.
  EXPECT_EQ(std::get<StatusRequest>(*parse_request(serialize_request(StatusRequest{7}))).version, 7u);

  auto with = [](auto fill) {
    Writer w;
    w.u8(static_cast<uint8_t>(MessageType::kExtension));
    w.string(kExtStatus);
    fill(w);
    return parse_request(w.take());
  };
  EXPECT_FALSE(with([](Writer&) {}).ok());                          // no version
  EXPECT_FALSE(with([](Writer& w) { w.u32(0); }).ok());             // version 0
  EXPECT_FALSE(with([](Writer& w) { w.u32(1); w.u8(0); }).ok());    // trailing data
  EXPECT_FALSE(with([](Writer& w) { w.u8(0); w.u8(1); }).ok());     // half a version
}

TEST(StatusCodec, NamesOfEnumValues) {
  EXPECT_EQ(reader_service_name(ReaderService::kAbsent), "absent");
  EXPECT_EQ(helper_state_name(HelperState::kHung), "hung");
  EXPECT_EQ(helper_state_name(HelperState::kRestarting), "restarting");
  EXPECT_EQ(key_source_name(KeySource::kSecurityKey), "security_key");
}

}  // namespace
}  // namespace tessera::agent
