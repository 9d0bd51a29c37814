// OpenSSH's convtime() as the one parser of -t lifetimes, validity
// intervals and ssh_config times.
#include "tessera/sys/convtime.h"

#include <gtest/gtest.h>

namespace tessera::sys {
namespace {

TEST(Convtime, ReadsWhatOpenSshReads) {
  EXPECT_EQ(parse_convtime("90"), 90);
  EXPECT_EQ(parse_convtime("90s"), 90);
  EXPECT_EQ(parse_convtime("10m"), 600);
  EXPECT_EQ(parse_convtime("1h30m"), 5400);
  EXPECT_EQ(parse_convtime("2d"), 172800);
  EXPECT_EQ(parse_convtime("1W"), 604800);
  EXPECT_EQ(parse_convtime("1h 30m"), 5400);  // strtol skips the blank
  EXPECT_EQ(parse_convtime("+5"), 5);
  EXPECT_EQ(parse_convtime("-0"), 0);
  EXPECT_EQ(parse_convtime("2147483647"), 2147483647);
}

TEST(Convtime, RefusesWhatOpenSshRefuses) {
  for (const char* bad : {"", "m", "5x", "-5", "1h-1", "2147483648", "3551w", "1ms", "h1"}) {
    EXPECT_FALSE(parse_convtime(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace tessera::sys
