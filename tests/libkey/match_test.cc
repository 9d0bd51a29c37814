#include "tessera/key/match.h"

#include <gtest/gtest.h>

namespace tessera::key {
namespace {

TEST(Match, Patterns) {
  EXPECT_TRUE(match_pattern("/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so", "/usr/lib*/*"));
  EXPECT_FALSE(match_pattern("/opt/lib/p11.so", "/usr/lib*/*"));
  EXPECT_TRUE(match_pattern("abc", "a?c"));
  EXPECT_FALSE(match_pattern("abc", "a?"));
  EXPECT_TRUE(match_pattern("", "*"));
  EXPECT_FALSE(match_pattern("", "?"));
  EXPECT_TRUE(match_pattern("aXbXc", "a*b*c"));
  EXPECT_FALSE(match_pattern("aXbXd", "a*b*c"));
  EXPECT_FALSE(match_pattern("ABC", "abc"));
}

TEST(Match, Lists) {
  EXPECT_EQ(match_pattern_list("host.example.com", "*.example.com,other"), 1);
  EXPECT_EQ(match_pattern_list("bad.example.com", "*.example.com,!bad.*"), -1);
  EXPECT_EQ(match_pattern_list("bad.example.com", "!bad.*,*.example.com"), -1);
  EXPECT_EQ(match_pattern_list("elsewhere", "*.example.com"), 0);
  EXPECT_EQ(match_pattern_list("Host.Example.COM", "*.example.com"), 0);
  EXPECT_EQ(match_pattern_list("Host.Example.COM", "*.EXAMPLE.com", true), 1);
  EXPECT_EQ(match_pattern_list("x", ""), 0);
}

}  // namespace
}  // namespace tessera::key
