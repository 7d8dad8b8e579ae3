// Unit tests for the strict JSON syntax check and for from_json, which
// applies it before protobuf's more lenient parser.

#include <gtest/gtest.h>

#include <string>

#include "mesh/http/json_syntax.hpp"
#include "mesh/http/proto_json.hpp"
#include "mesh/v1/dag_api.pb.h"

namespace {

using mesh::http::check_json_syntax;

TEST(JsonSyntax, AcceptsEveryKindOfValue) {
  const char* valid[] = {
      "{}",
      "[]",
      R"({"a":1,"b":[true,false,null],"c":{"d":"e"}})",
      " \t\r\n{ \"a\" : [ 1 , 2 ] } \n",
      "0",
      "-0.5e+10",
      "12E3",
      R"("escapes \" \\ \/ \b \f \n \r \t \u00e9 \uD83D\uDE00")",
      "\"caf\xc3\xa9\"",
      "null",
  };
  for (const char* text : valid) {
    const auto checked = check_json_syntax(text);
    EXPECT_TRUE(checked.has_value()) << text << ": " << checked.err().message;
  }
}

TEST(JsonSyntax, RejectsWhatProtobufAccepts) {
  // protobuf 3.21's JSON parser accepts each of these into a google.protobuf.Struct.
  const char* lenient[] = {
      "{content_type: \"text/plain\"}",
      "{'content_type': 'text/plain'}",
      "{\"a\": 1,}",
      "{\"a\": [1, 2,]}",
  };
  for (const char* text : lenient) {
    EXPECT_FALSE(check_json_syntax(text).has_value()) << text;
  }
}

TEST(JsonSyntax, ErrorNamesOffsetAndExpectation) {
  const auto checked = check_json_syntax("{\"a\": 1, b: 2}");
  ASSERT_FALSE(checked.has_value());
  EXPECT_EQ(checked.err().code, mesh::errc::invalid_argument);
  EXPECT_NE(checked.err().message.find("at byte 9"), std::string::npos) << checked.err().message;
  EXPECT_NE(checked.err().message.find("object key in double quotes"), std::string::npos)
      << checked.err().message;
  EXPECT_NE(checked.err().message.find("found 'b'"), std::string::npos) << checked.err().message;
}

TEST(JsonSyntax, RejectsMalformedValues) {
  const char* invalid[] = {
      "",
      "   ",
      "{",
      "[1 2]",
      "{\"a\" 1}",
      "{\"a\":}",
      "01",
      "1.",
      ".5",
      "-",
      "1e",
      "+1",
      "tru",
      "nul",
      "True",
      "\"unterminated",
      "\"bad escape \\x\"",
      "\"short \\u12\"",
      "\"raw\ttab\"",
      "{} {}",
      "{}x",
      "NaN",
      "// comment\n{}",
  };
  for (const char* text : invalid) {
    EXPECT_FALSE(check_json_syntax(text).has_value()) << '"' << text << '"';
  }
}

TEST(JsonSyntax, NestingLimit) {
  const std::string at_limit = std::string(mesh::http::max_json_depth, '[') +
                               std::string(mesh::http::max_json_depth, ']');
  EXPECT_TRUE(check_json_syntax(at_limit).has_value());

  const std::string too_deep = std::string(mesh::http::max_json_depth + 1, '[') +
                               std::string(mesh::http::max_json_depth + 1, ']');
  const auto checked = check_json_syntax(too_deep);
  ASSERT_FALSE(checked.has_value());
  EXPECT_NE(checked.err().message.find("levels of nesting"), std::string::npos) << checked.err().message;

  // A hundred thousand open brackets end in an error, not a stack overflow.
  EXPECT_FALSE(check_json_syntax(std::string(100000, '[')).has_value());
}

TEST(FromJson, UnquotedKeyRejectedBeforeProtobuf) {
  mesh::v1::SubmitVertexRequest request;
  const auto parsed = mesh::http::from_json("{content_type: \"text/plain\"}", request);
  ASSERT_FALSE(parsed.has_value());
  EXPECT_NE(parsed.err().message.find("request body: invalid JSON at byte 1"), std::string::npos)
      << parsed.err().message;
  EXPECT_TRUE(request.content_type().empty());
}

TEST(FromJson, ValidBodyFillsMessage) {
  mesh::v1::SubmitVertexRequest request;
  const auto parsed = mesh::http::from_json(R"({"content_type": "text/plain", "payload": "aGk="})", request);
  ASSERT_TRUE(parsed.has_value()) << parsed.err().message;
  EXPECT_EQ(request.content_type(), "text/plain");
  EXPECT_EQ(request.payload(), "hi");
}

TEST(FromJson, UnknownFieldStillRejected) {
  mesh::v1::SubmitVertexRequest request;
  const auto parsed = mesh::http::from_json(R"({"no_such_field": 1})", request);
  ASSERT_FALSE(parsed.has_value());
  EXPECT_NE(parsed.err().message.find("no_such_field"), std::string::npos) << parsed.err().message;
}

}  // namespace
