#include "supervisor/http_auth.h"

#include <gtest/gtest.h>

#include <fstream>

#include "common/time_util.h"
#include "tests/temp_dir.h"

namespace drover {
namespace {

std::string Basic(const std::string& user_password) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < user_password.size(); i += 3) {
    std::uint32_t n = static_cast<unsigned char>(user_password[i]) << 16;
    if (i + 1 < user_password.size()) n |= static_cast<unsigned char>(user_password[i + 1]) << 8;
    if (i + 2 < user_password.size()) n |= static_cast<unsigned char>(user_password[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < user_password.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += i + 2 < user_password.size() ? kAlphabet[n & 63] : '=';
  }
  return "Basic " + out;
}

TEST(HttpAuthTest, Base64DecodesAndRefusesGarbage) {
  std::string out;
  ASSERT_TRUE(DecodeBase64("dXNlcjpwYXNzd29yZA==", &out));
  EXPECT_EQ(out, "user:password");
  ASSERT_TRUE(DecodeBase64("dXNlcjpwYXNzd29yZA", &out));  // padding optional
  EXPECT_EQ(out, "user:password");
  EXPECT_FALSE(DecodeBase64("dXNl*jpw", &out));
  EXPECT_FALSE(DecodeBase64("A", &out));
}

TEST(HttpAuthTest, NoneConfiguredAcceptsNothing) {
  Result<HttpAuth> a = HttpAuth::Load("");
  ASSERT_TRUE(a.ok());
  EXPECT_FALSE(a->configured());
  EXPECT_FALSE(a->Check(Basic("x:")));
  EXPECT_FALSE(a->Check("Bearer "));
}

TEST(HttpAuthTest, ATokenIsTheBasicPasswordOrABearerToken) {
  TempDir dir;
  std::string path = dir.path() + "/token";
  std::ofstream(path) << "0123456789abcdef0123\n";
  Result<HttpAuth> a = HttpAuth::Load("token-file:" + path);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_TRUE(a->configured());
  EXPECT_TRUE(a->Check(Basic("anyone:0123456789abcdef0123")));
  EXPECT_TRUE(a->Check("Bearer 0123456789abcdef0123"));
  EXPECT_FALSE(a->Check(Basic("anyone:0123456789abcdef012")));
  EXPECT_FALSE(a->Check(Basic("anyone:0123456789abcdef01234")));
  EXPECT_FALSE(a->Check("Bearer nope"));
  EXPECT_FALSE(a->Check("Basic !!!"));
  EXPECT_FALSE(a->Check(""));
  std::ofstream(path) << "short\n";
  Result<HttpAuth> weak = HttpAuth::Load("token-file:" + path);
  ASSERT_FALSE(weak.ok());
  EXPECT_NE(weak.status().message().find("at least 16 characters"), std::string::npos)
      << weak.status().ToString();
  Result<HttpAuth> missing = HttpAuth::Load("token-file:" + dir.path() + "/nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find(dir.path() + "/nope"), std::string::npos);
}

TEST(HttpAuthTest, HtpasswdChecksBcryptAndShaCryptHashes) {
  TempDir dir;
  std::string path = dir.path() + "/htpasswd";
  // "secret" for both: bcrypt as `htpasswd -B -C 5` writes it, and SHA-512 crypt.
  std::ofstream(path)
      << "# operators\n"
         "ops:$2y$05$abcdefghijklmnopqrstuuOQiyCxlgf/oeuTqixKmWdcYUh4Hjl0a\n"
         "\n"
         "ci:$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN."
         "Pq.H91p5hVO1\n";
  Result<HttpAuth> a = HttpAuth::Load("htpasswd:" + path);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_TRUE(a->Check(Basic("ops:secret")));
  EXPECT_TRUE(a->Check(Basic("ci:secret")));
  EXPECT_FALSE(a->Check(Basic("ops:Secret")));
  EXPECT_FALSE(a->Check(Basic("nobody:secret")));
  EXPECT_FALSE(a->Check(Basic("ops")));
  EXPECT_FALSE(a->Check("Bearer secret"));
}

// A name not in the file costs a hash too: the time taken does not tell which names are there.
TEST(HttpAuthTest, AnUnknownUserCostsAHashLikeAKnownOne) {
  TempDir dir;
  std::string path = dir.path() + "/htpasswd";
  std::ofstream(path)
      << "ops:$2b$12$abcdefghijklmnopqrstuuT1Iwu6o8Wx7BoOyIMHfgVJq6JO/IJhW\n";  // "secret", cost 12
  Result<HttpAuth> a = HttpAuth::Load("htpasswd:" + path);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  auto seconds = [&](const std::string& user_password) {
    std::int64_t t0 = MonotonicUs();
    EXPECT_FALSE(a->Check(Basic(user_password))) << user_password;
    return static_cast<double>(MonotonicUs() - t0) / 1e6;
  };
  double known = seconds("ops:wrong"), unknown = seconds("nobody:wrong");
  // The same work both times (a cost-12 bcrypt, ~0.3 s here); a missing user was 0.001 s.
  EXPECT_GT(unknown, 0.3 * known) << "known " << known << " s, unknown " << unknown << " s";
}

TEST(HttpAuthTest, HtpasswdHashesItCannotCheckAreRefusedWithTheLine) {
  TempDir dir;
  std::string path = dir.path() + "/htpasswd";
  for (std::string entry :
       {"ops:$apr1$abc$def", "ops:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", "ops:plain", "no-colon"}) {
    std::ofstream(path) << "ok:$6$saltsalt$x\n" << entry << "\n";
    Result<HttpAuth> a = HttpAuth::Load("htpasswd:" + path);
    ASSERT_FALSE(a.ok()) << entry;
    EXPECT_NE(a.status().message().find(path + ":2:"), std::string::npos) << a.status().ToString();
  }
  std::ofstream(path) << "# nobody\n";
  EXPECT_FALSE(HttpAuth::Load("htpasswd:" + path).ok());
}

}  // namespace
}  // namespace drover
