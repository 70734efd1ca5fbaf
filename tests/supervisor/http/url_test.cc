#include "supervisor/http/url.h"

#include <gtest/gtest.h>

namespace drover {
namespace {

TEST(UrlTest, TargetsSplitIntoPathAndQuery) {
  EXPECT_EQ(SplitTarget("/jobs?state=failed&x"),
            std::make_pair(std::string("/jobs"), std::string("state=failed&x")));
  EXPECT_EQ(SplitTarget("/"), std::make_pair(std::string("/"), std::string()));
}

TEST(UrlTest, DecodingUndoesEncoding) {
  EXPECT_EQ(UrlDecode("a+b%2Fc%zz%4"), "a b/c%zz%4");
  const std::string odd = "queue/with spaces&=?#\xc3\xa9";
  EXPECT_EQ(UrlEncode(odd), "queue%2Fwith%20spaces%26%3D%3F%23%C3%A9");
  EXPECT_EQ(UrlDecode(UrlEncode(odd)), odd);
}

TEST(UrlTest, FormsReadAsNameValuePairs) {
  auto f = ParseForm("csrf=abc&back=%2Fqueues&empty=&flag&&x=1&x=2");
  EXPECT_EQ(f["csrf"], "abc");
  EXPECT_EQ(f["back"], "/queues");
  EXPECT_EQ(f["empty"], "");
  EXPECT_TRUE(f.count("flag"));
  EXPECT_EQ(f["x"], "2");
  EXPECT_TRUE(ParseForm("").empty());
}

}  // namespace
}  // namespace drover
