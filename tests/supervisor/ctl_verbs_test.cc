#include "supervisor/ctl_verbs.h"

#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>

namespace drover {
namespace {

std::string ReadSource(const std::string& path) {
  std::ifstream in(std::string(DROVER_SOURCE_DIR) + "/" + path);
  EXPECT_TRUE(in) << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(CtlVerbsTest, EveryVerbHasAUniqueNameAUsageAndAHandler) {
  std::set<std::string_view> names;
  for (const CtlVerb& v : CtlVerbs()) {
    EXPECT_TRUE(names.insert(v.name).second) << v.name;
    EXPECT_EQ(v.usage.substr(0, v.name.size()), v.name);
    EXPECT_FALSE(v.what.empty()) << v.name;
    EXPECT_NE(v.run, nullptr) << v.name;
    EXPECT_EQ(FindCtlVerb(v.name), &v);
    EXPECT_NE(VerbHelp(std::string(v.name)).find(std::string(v.usage)), std::string::npos);
    EXPECT_NE(VerbHelp("").find("  " + std::string(v.name)), std::string::npos) << v.name;
  }
  EXPECT_EQ(FindCtlVerb("frobnicate"), nullptr);
  EXPECT_EQ(VerbHelp("frobnicate"), "");
}

// An unknown verb is a usage error: it reaches no handler (and so nothing destructive).
TEST(CtlVerbsTest, AnUnknownVerbRunsNothing) {
  std::ostringstream out, err;
  CtlContext ctx;
  ctx.config.supervisor.database = "/nonexistent/dir/drover.db";
  ctx.out = &out;
  ctx.err = &err;
  for (const char* verb : {"frobnicate", "delet", "DELETE", "cancel-all", ""}) {
    EXPECT_EQ(RunVerb(ctx, {verb, "1"}), kExitUsage) << verb;
    EXPECT_NE(err.str().find("unknown verb"), std::string::npos) << verb;
    EXPECT_EQ(out.str(), "");
  }
}

TEST(CtlVerbsTest, TheBashCompletionOffersExactlyTheVerbs) {
  std::string text = ReadSource("packaging/bash-completion/droverctl");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(text, m, std::regex("verbs=\"([^\"]*)\""))) << "no verbs=\"...\" line";
  std::istringstream words(m[1].str());
  std::set<std::string> offered{std::istream_iterator<std::string>(words), {}};
  std::set<std::string> table;
  for (const CtlVerb& v : CtlVerbs()) table.insert(std::string(v.name));
  EXPECT_EQ(offered, table);
}

TEST(CtlVerbsTest, TheManPageDescribesEveryVerb) {
  std::string man = ReadSource("packaging/man/droverctl.1");
  for (const CtlVerb& v : CtlVerbs()) {
    std::string name(v.name);
    bool bold = man.find("\\fB" + name + "\\fR") != std::string::npos ||
                std::regex_search(man, std::regex("\\n\\.BR? (.*[\" ])?" + name + "[\" ,\\n]"));
    EXPECT_TRUE(bold) << "droverctl.1 does not describe \"" << name << "\"";
  }
}

}  // namespace
}  // namespace drover
