#include "supervisor/credential_checker.h"

#include <gtest/gtest.h>

#include <fstream>

#include "tests/readable.h"
#include "tests/temp_dir.h"

namespace drover {
namespace {

using Verdict = CredentialChecker::Verdict;

// "Authorization: Basic" for ops:secret and ops:wrong.
constexpr const char* kGood = "Basic b3BzOnNlY3JldA==";
constexpr const char* kWrong = "Basic b3BzOndyb25n";
constexpr std::int64_t kNow = 1'000'000'000;

class CredentialCheckerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<std::unique_ptr<CredentialChecker>> c = CredentialChecker::Create();
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    checker_ = std::move(c).value();
  }
  HttpAuth Load(const std::string& kind, const std::string& text) {
    std::string path = dir_.path() + "/" + kind;
    std::ofstream(path) << text;
    Result<HttpAuth> a = HttpAuth::Load(kind + ":" + path);
    EXPECT_TRUE(a.ok()) << a.status().ToString();
    return a.ok() ? *a : HttpAuth();
  }
  void UseHtpasswd() {  // "secret", bcrypt as `htpasswd -B -C 5` writes it
    checker_->SetAuth(Load("htpasswd", "ops:$2y$05$abcdefghijklmnopqrstuuOQiyCxlgf/oeuTqixKmWdcYUh4Hjl0a\n"));
  }
  // The outcome of the one check under way.
  CredentialChecker::Outcome Next(std::int64_t now = kNow) {
    EXPECT_TRUE(Readable(checker_->fd(), 10'000));
    std::vector<CredentialChecker::Outcome> done = checker_->Done(now);
    EXPECT_EQ(done.size(), 1u);
    return done.empty() ? CredentialChecker::Outcome{} : done[0];
  }

  TempDir dir_;
  std::unique_ptr<CredentialChecker> checker_;
};

TEST_F(CredentialCheckerTest, ATokenIsComparedAtOnce) {
  checker_->SetAuth(Load("token-file", "0123456789abcdef0123\n"));
  EXPECT_EQ(checker_->Check("Bearer 0123456789abcdef0123", "10.0.0.1", 1, kNow), Verdict::kGood);
  EXPECT_EQ(checker_->Check("Bearer nope", "10.0.0.1", 2, kNow), Verdict::kBad);
  EXPECT_FALSE(Readable(checker_->fd(), 0));
}

TEST_F(CredentialCheckerTest, AHashIsCheckedOffTheCallersThreadAndAGoodOneRemembered) {
  UseHtpasswd();
  ASSERT_EQ(checker_->Check(kGood, "10.0.0.1", 7, kNow), Verdict::kPending);
  CredentialChecker::Outcome o = Next();
  EXPECT_EQ(o.ticket, 7u);
  EXPECT_TRUE(o.good);
  EXPECT_EQ(checker_->Check(kGood, "10.0.0.2", 8, kNow + kRememberGoodUs - 1), Verdict::kGood);
  EXPECT_EQ(checker_->Check(kGood, "10.0.0.2", 9, kNow + kRememberGoodUs),
            Verdict::kPending);  // checked again
  EXPECT_TRUE(Next().good);
  ASSERT_EQ(checker_->Check(kWrong, "10.0.0.1", 10, kNow), Verdict::kPending);
  EXPECT_FALSE(Next().good);
  // New credentials: what was remembered is forgotten.
  UseHtpasswd();
  EXPECT_EQ(checker_->Check(kGood, "10.0.0.1", 11, kNow), Verdict::kPending);
  EXPECT_TRUE(Next().good);
}

TEST_F(CredentialCheckerTest, AnAddressThatFailsTooOftenIsRefusedForAWhile) {
  UseHtpasswd();
  for (int i = 0; i < kMaxFailures; ++i) {
    ASSERT_EQ(checker_->Check(kWrong, "10.0.0.1", i, kNow), Verdict::kPending) << i;
    EXPECT_FALSE(Next().good);
  }
  // No hash is computed for it any more, not even for the right password; others go on.
  EXPECT_EQ(checker_->Check(kGood, "10.0.0.1", 100, kNow + 1), Verdict::kRefused);
  EXPECT_EQ(checker_->Check(kGood, "10.0.0.2", 101, kNow + 1), Verdict::kPending);
  EXPECT_TRUE(Next().good);
  // Once its window has passed, the address is heard again.
  EXPECT_EQ(checker_->Check(kWrong, "10.0.0.1", 102, kNow + kFailureWindowUs), Verdict::kPending);
  EXPECT_FALSE(Next(kNow + kFailureWindowUs).good);
  // Tokens count failures too.
  checker_->SetAuth(Load("token-file", "0123456789abcdef0123\n"));
  for (int i = 0; i < kMaxFailures; ++i) checker_->Check("Bearer x", "10.0.0.3", 0, kNow);
  EXPECT_EQ(checker_->Check("Bearer 0123456789abcdef0123", "10.0.0.3", 0, kNow), Verdict::kRefused);
}

}  // namespace
}  // namespace drover
