// The reader watcher's pure parts: pcscd's reader list (untrusted bytes),
// the match of PKCS#11 slot descriptions to reader names, and the option
// that turns reader events off. The watcher against a real pcscd is in
// tests/pcsc.
#include <gtest/gtest.h>

#include <string>
#include <variant>
#include <vector>

#include "daemon/options.h"
#include "daemon/readers.h"

namespace tessera::agent::daemon {
namespace {

key::Result<ReaderList> parse(const std::string& bytes) {
  return parse_reader_list(std::span<const char>(bytes.data(), bytes.size()));
}

using Names = std::vector<std::string>;

TEST(ReaderListTest, NamesEndedByAnEmptyName) {
  auto list = parse(std::string("Reader A 00 00\0Reader B 01 00\0\0", 31));
  ASSERT_TRUE(list.ok()) << list.error().message();
  EXPECT_EQ(list->names, (Names{"Reader A 00 00", "Reader B 01 00"}));
  EXPECT_EQ(list->skipped, 0u);
}

TEST(ReaderListTest, EmptyListsAndAListEndingAfterAName) {
  auto empty = parse(std::string("\0", 1));
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->names.empty());
  auto nothing = parse("");
  ASSERT_TRUE(nothing.ok());
  EXPECT_TRUE(nothing->names.empty());
  auto unended = parse(std::string("Only\0", 5));
  ASSERT_TRUE(unended.ok());
  EXPECT_EQ(unended->names, (Names{"Only"}));
}

TEST(ReaderListTest, RejectsANameWithoutItsNulAndBytesAfterTheEnd) {
  auto cut = parse(std::string("Reader A\0Reader B", 17));
  ASSERT_FALSE(cut.ok());
  EXPECT_EQ(cut.error().code(), key::Errc::kTruncated);
  auto trailing = parse(std::string("Reader A\0\0junk", 14));
  ASSERT_FALSE(trailing.ok());
  EXPECT_EQ(trailing.error().code(), key::Errc::kTrailingData);
  EXPECT_NE(trailing.error().message().find("4 bytes after its end"), std::string::npos);
  auto no_nul_at_all = parse("Reader");
  EXPECT_FALSE(no_nul_at_all.ok());
}

TEST(ReaderListTest, SkipsLongNamesControlCharactersRepeatsAndThePnpReader) {
  std::string longest(kMaxReaderNameBytes, 'x');
  std::string too_long(kMaxReaderNameBytes + 1, 'y');
  std::string bytes = longest + '\0' + too_long + '\0' + "Bad\nName" + '\0' + "Bell\x07" + '\0' + "Del\x7f" + '\0' +
                      "Same" + '\0' + "Same" + '\0' + "\\\\?PnP?\\Notification" + '\0' + "Caf\xc3\xa9 00 00" +
                      '\0' + '\0';
  auto list = parse(bytes);
  ASSERT_TRUE(list.ok()) << list.error().message();
  EXPECT_EQ(list->names, (Names{longest, "Same", "Caf\xc3\xa9 00 00"}));
  EXPECT_EQ(list->skipped, 6u);
}

TEST(ReaderListTest, FollowsAtMostkMaxReaders) {
  std::string bytes;
  for (size_t i = 0; i < kMaxReaders + 3; ++i) bytes += "Reader " + std::to_string(i) + '\0';
  bytes += '\0';
  auto list = parse(bytes);
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->names.size(), kMaxReaders);
  EXPECT_EQ(list->skipped, 3u);
}

TEST(SlotNamesReaderTest, ExactNameWithTrailingSpacesTrimmed) {
  EXPECT_TRUE(slot_names_reader("Virtual PCD 00 00", "Virtual PCD 00 00"));
  EXPECT_TRUE(slot_names_reader("Virtual PCD 00 00   ", "Virtual PCD 00 00"));
  EXPECT_FALSE(slot_names_reader("Virtual PCD 00 01", "Virtual PCD 00 00"));
  EXPECT_FALSE(slot_names_reader("Virtual PCD", "Virtual PCD 00 00"));  // a prefix only counts at 64 bytes
  EXPECT_FALSE(slot_names_reader("", "Virtual PCD 00 00"));
  EXPECT_FALSE(slot_names_reader("   ", ""));
  EXPECT_FALSE(slot_names_reader("SoftHSM slot ID 0x2a", "Virtual PCD 00 00"));
}

TEST(SlotNamesReaderTest, ANameCutAtTheSlotDescriptionsSixtyFourBytes) {
  const std::string reader = "Yubico YubiKey OTP+FIDO+CCID with a name much longer than sixty-four bytes 00 00";
  ASSERT_GT(reader.size(), kSlotDescriptionBytes);
  EXPECT_TRUE(slot_names_reader(reader.substr(0, kSlotDescriptionBytes), reader));
  EXPECT_TRUE(slot_names_reader(reader, reader));
  EXPECT_FALSE(slot_names_reader(reader.substr(0, kSlotDescriptionBytes - 1), reader));
  // Cut where the name has a space: the module's padding and the name's
  // own space are both trimmed.
  const std::string spaced = std::string(63, 'r') + " and more";
  EXPECT_TRUE(slot_names_reader(std::string(63, 'r'), spaced));
}

TEST(ReaderEventTest, DescribesEachKind) {
  EXPECT_EQ(describe({ReaderEvent::Kind::kCardRemoved, "R", false}), "reader 'R': card removed");
  EXPECT_EQ(describe({ReaderEvent::Kind::kCardInserted, "R", true}), "reader 'R': card inserted");
  EXPECT_EQ(describe({ReaderEvent::Kind::kReaderAdded, "R", true}), "reader 'R': plugged in, with a card");
  EXPECT_EQ(describe({ReaderEvent::Kind::kReaderRemoved, "R", false}), "reader 'R': unplugged");
}

TEST(ReaderOptionsTest, NoReaderEvents) {
  auto parsed = parse_command_line({"tessera-agent", "--no-reader-events"});
  ASSERT_TRUE(std::holds_alternative<Options>(parsed));
  EXPECT_TRUE(std::get<Options>(parsed).no_reader_events);
  auto defaults = parse_command_line({"tessera-agent"});
  ASSERT_TRUE(std::holds_alternative<Options>(defaults));
  EXPECT_FALSE(std::get<Options>(defaults).no_reader_events);
  auto valued = parse_command_line({"tessera-agent", "--no-reader-events=1"});
  EXPECT_TRUE(std::holds_alternative<CommandLineError>(valued));
}

TEST(ReaderWatcherTest, SnapshotBeforeStartAndAfterStop) {
  auto loop = EventLoop::create();
  ASSERT_TRUE(loop.ok());
  ReaderWatcher watcher(**loop, [](const ReaderEvent&) {});
  EXPECT_EQ(watcher.snapshot().service, ReadersSnapshot::Service::kNotWatched);
  watcher.stop();
  watcher.stop();
  EXPECT_EQ(watcher.snapshot().service, ReadersSnapshot::Service::kNotWatched);
}

}  // namespace
}  // namespace tessera::agent::daemon
