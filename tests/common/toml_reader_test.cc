#include "common/toml_reader.h"

#include <gtest/gtest.h>

namespace drover {
namespace {

toml::table Parse(const char* text) {
  return toml::parse(std::string_view(text), std::string_view("t.toml"));
}

TEST(TomlReaderTest, ReadsTypedKeysWithinTheirBounds) {
  toml::table t =
      Parse("name = \"x\"\nn = 7\nflag = true\nwait = \"1s500ms\"\nsize = \"2KiB\"\nlist = [\"a\", \"b\"]\n");
  Errors errors("t.toml");
  std::string name;
  int n = 0;
  bool flag = false;
  Duration wait{};
  std::uint64_t size = 0;
  std::vector<std::string> list;
  {
    TableReader r(t, "s", &errors);
    r.String("name", &name);
    r.Integer("n", &n, 1, 10);
    r.Bool("flag", &flag);
    r.DurationKey("wait", &wait);
    r.Size("size", &size);
    r.StringList("list", &list, false);
  }
  EXPECT_TRUE(errors.empty()) << errors.Joined();
  EXPECT_EQ(name, "x");
  EXPECT_EQ(n, 7);
  EXPECT_TRUE(flag);
  EXPECT_EQ(wait, Duration(1500));
  EXPECT_EQ(size, 2048u);
  EXPECT_EQ(list, (std::vector<std::string>{"a", "b"}));
}

// Every problem is collected, each naming file, line, section and key; values stay untouched.
TEST(TomlReaderTest, NamesFileLineSectionAndKeyOfEveryProblem) {
  toml::table t = Parse("n = 70\nname = 3\nmode = \"loud\"\ntypo = 1\n");
  Errors errors("t.toml");
  int n = 5;
  std::string name = "kept";
  bool on = false;
  {
    TableReader r(t, "pools.default", &errors);
    r.Integer("n", &n, 1, 10);
    r.String("name", &name);
    r.Switch("mode", "quiet", "verbose", &on);
  }  // unknown keys are reported when the reader is done
  EXPECT_EQ(n, 5);
  EXPECT_EQ(name, "kept");
  EXPECT_EQ(errors.Joined(),
            "t.toml:1: [pools.default] n: must be between 1 and 10 (got 70)\n"
            "t.toml:2: [pools.default] name: expected a string, got an integer\n"
            "t.toml:3: [pools.default] mode: must be \"quiet\" or \"verbose\" (got \"loud\")\n"
            "t.toml:4: [pools.default] typo: unknown key (check the spelling; see drover.toml(5))");
}

TEST(TomlReaderTest, EmptyStringsAndListsAreRefusedUnlessAllowed) {
  toml::table t = Parse("a = \"\"\nb = \"\"\nl = []\n");
  Errors errors("t.toml");
  std::string a = "x", b = "x";
  std::vector<std::string> l;
  {
    TableReader r(t, "s", &errors);
    r.String("a", &a);
    r.String("b", &b, /*allow_empty=*/true);
    r.StringList("l", &l, false);
  }
  EXPECT_EQ(a, "x");
  EXPECT_EQ(b, "");
  EXPECT_EQ(errors.Joined(), "t.toml:1: [s] a: must not be empty\nt.toml:3: [s] l: must not be empty");
}

}  // namespace
}  // namespace drover
