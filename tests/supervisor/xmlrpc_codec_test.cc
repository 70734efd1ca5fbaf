#include "supervisor/xmlrpc_codec.h"

#include <gtest/gtest.h>

namespace drover {
namespace {

using json = nlohmann::json;

TEST(XmlRpcCodecTest, ACallRoundTripsWithEveryType) {
  json params = json::array({"worker:default:0", true, 42, 1LL << 40, 2.5, json::array({1, "two"}),
                             json{{"methodName", "x"}, {"params", json::array()}}});
  Result<XmlRpcCall> call = ParseXmlRpcCall(XmlRpcCallBody("supervisor.startProcess", params));
  ASSERT_TRUE(call.ok()) << call.status().ToString();
  EXPECT_EQ(call->method, "supervisor.startProcess");
  EXPECT_EQ(call->params, params);
}

TEST(XmlRpcCodecTest, ACallWithoutParamsHasAnEmptyArray) {
  Result<XmlRpcCall> call = ParseXmlRpcCall(
      "<?xml version='1.0'?><methodCall><methodName>supervisor.getPID</methodName></methodCall>");
  ASSERT_TRUE(call.ok()) << call.status().ToString();
  EXPECT_EQ(call->params, json::array());
}

TEST(XmlRpcCodecTest, ResponsesAndFaultsDecode) {
  json value = {{"name", "scheduler"}, {"pid", 12}, {"now", 1'800'000'000}};
  Result<XmlRpcOutcome> ok = ParseXmlRpcResponse(XmlRpcResponseBody(value));
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_FALSE(ok->fault);
  EXPECT_EQ(ok->value, value);
  Result<XmlRpcOutcome> fault = ParseXmlRpcResponse(XmlRpcFaultBody(10, "BAD_NAME: x"));
  ASSERT_TRUE(fault.ok()) << fault.status().ToString();
  EXPECT_TRUE(fault->fault);
  EXPECT_EQ(fault->value["faultCode"], 10);
  EXPECT_EQ(fault->value["faultString"], "BAD_NAME: x");
}

TEST(XmlRpcCodecTest, SoundI8sStillDecode) {
  for (auto [v, n] : {std::pair<std::string, std::int64_t>{"<i8>-9223372036854775808</i8>", INT64_MIN},
                      {"<ex:i8>+12</ex:i8>", 12},
                      {"<i8>9223372036854775807</i8>", INT64_MAX}}) {
    Result<XmlRpcCall> call = ParseXmlRpcCall("<methodCall><methodName>x</methodName><params><param><value>" +
                                              v + "</value></param></params></methodCall>");
    ASSERT_TRUE(call.ok()) << v << ": " << call.status().ToString();
    EXPECT_EQ(call->params[0], n) << v;
  }
}

TEST(XmlRpcCodecTest, BytesXmlCannotCarryAreReplaced) {
  std::string text = std::string("ok \xC3\xA9 \x01 cut \xE2\x82") + " \xFF end\n";
  Result<XmlRpcOutcome> r = ParseXmlRpcResponse(XmlRpcResponseBody(text));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->value, "ok \xC3\xA9 \xEF\xBF\xBD cut \xEF\xBF\xBD\xEF\xBF\xBD \xEF\xBF\xBD end\n");
}

TEST(XmlRpcCodecTest, MalformedCallsAreErrorsNotExceptions) {
  for (std::string body : {"", "not xml", "<methodCall><methodName>x</methodName><params><param>",
                           "<methodCall><params/></methodCall>",
                           "<methodCall><methodName>x</methodName><params><param><value><int>zz</int>"
                           "</value></param></params></methodCall>"}) {
    Result<XmlRpcCall> call = ParseXmlRpcCall(body);
    EXPECT_FALSE(call.ok()) << body;
  }
}

// The library behind the codec crashes on these (see I8ElementsAreSound).
TEST(XmlRpcCodecTest, ABadI8IsRefusedBeforeTheLibrarySeesIt) {
  for (std::string v :
       {"<i8>.</i8>", "<i8>zz</i8>", "<i8>99999999999999999999999</i8>", "<i8>9223372036854775808</i8>",
        "<ex:i8>.</ex:i8>", "<i8 >-</i8>", "<i8>1&#50;</i8>", "<i8>+-1</i8>"}) {
    std::string body = "<methodCall><methodName>x</methodName><params><param><value>" + v +
                       "</value></param></params></methodCall>";
    Result<XmlRpcCall> call = ParseXmlRpcCall(body);
    EXPECT_FALSE(call.ok()) << body;
  }
}

// Entity expansion ("billion laughs"): a kilobyte that the parser would blow up to gigabytes.
// Refused at once, before the library sees it, with a message that says why.
TEST(XmlRpcCodecTest, DoctypesAndEntityDeclarationsAreRefused) {
  std::string laughs = "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [<!ENTITY lol \"lol\">";
  std::string prev = "lol";
  for (int i = 1; i <= 9; ++i) {
    std::string name = "lol" + std::to_string(i);
    laughs += "<!ENTITY " + name + " \"";
    for (int k = 0; k < 10; ++k) laughs += "&" + prev + ";";
    laughs += "\">";
    prev = name;
  }
  laughs += "]>\n<methodCall><methodName>&" + prev + ";</methodName></methodCall>";
  ASSERT_LT(laughs.size(), 1200u);
  for (const std::string& body :
       {laughs, std::string("<!DOCTYPE methodCall SYSTEM \"file:///etc/passwd\"><methodCall/>"),
        std::string("<methodCall><!ELEMENT x ANY><methodName>x</methodName></methodCall>")}) {
    Result<XmlRpcCall> call = ParseXmlRpcCall(body);
    ASSERT_FALSE(call.ok()) << body;
    EXPECT_NE(call.status().message().find("DOCTYPE"), std::string::npos) << call.status().message();
  }
  // Comments and CDATA are not declarations.
  Result<XmlRpcCall> call = ParseXmlRpcCall(
      "<?xml version=\"1.0\"?><!-- a comment --><methodCall><methodName><![CDATA[system.listMethods]]>"
      "</methodName></methodCall>");
  ASSERT_TRUE(call.ok()) << call.status().ToString();
  EXPECT_EQ(call->method, "system.listMethods");
}

}  // namespace
}  // namespace drover
