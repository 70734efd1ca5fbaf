#include "jobs/job_json.h"

#include <gtest/gtest.h>

namespace drover {
namespace {

using json = nlohmann::json;

ClaimedJob AJob() {
  ClaimedJob j;
  j.id = 42;
  j.type = "resize";
  j.queue = "images";
  j.payload = R"({"path": "/a.png", "w": 100})";
  j.attempt = 1;
  j.max_attempts = 3;
  return j;
}

TEST(JobJsonTest, EnvelopeOfAFirstAttemptHasANullCheckpoint) {
  json e = json::parse(EnvelopeJson(AJob()));
  EXPECT_EQ(e, json::parse(R"({"id": 42, "type": "resize", "queue": "images", "attempt": 1, "max_attempts": 3,
                               "payload": {"path": "/a.png", "w": 100}, "checkpoint": null})"));
}

TEST(JobJsonTest, EnvelopeCarriesTheLastCheckpointAsJson) {
  ClaimedJob j = AJob();
  j.attempt = 2;
  j.checkpoint = R"({"row": 1000})";
  json e = json::parse(EnvelopeJson(j));
  EXPECT_EQ(e["attempt"], 2);
  EXPECT_EQ(e["checkpoint"], json::parse(R"({"row": 1000})"));
}

TEST(JobJsonTest, EnvelopeKeepsAPayloadThatIsNotJsonAsAString) {
  ClaimedJob j = AJob();
  j.payload = "plain text from an SQL insert";
  json e = json::parse(EnvelopeJson(j));
  EXPECT_EQ(e["payload"], "plain text from an SQL insert");
}

TEST(JobJsonTest, UniqueKeyIgnoresKeyOrderAndWhiteSpace) {
  EXPECT_EQ(UniqueKeyFor("t", R"({"a":1,"b":2})"), UniqueKeyFor("t", R"({ "b": 2, "a": 1 })"));
  EXPECT_NE(UniqueKeyFor("t", R"({"a":1})"), UniqueKeyFor("t", R"({"a":2})"));
  EXPECT_NE(UniqueKeyFor("t", R"({"a":1})"), UniqueKeyFor("u", R"({"a":1})"));
  EXPECT_EQ(UniqueKeyFor("t", "{}").rfind("t:", 0), 0u);
}

}  // namespace
}  // namespace drover
