// validate_message: one test per rejected malformation, plus the accepted forms.
#include <gtest/gtest.h>

#include "mesh/membership/codec.hpp"

namespace mesh::membership {
namespace {

const std::string valid_id = "0123456789abcdef0123456789abcdef";

void fill_update(v1::MemberUpdate& update) {
  auto& info = *update.mutable_info();
  info.set_node_id(valid_id);
  info.set_name("worker-1");
  info.set_role(v1::NODE_ROLE_WORKER);
  info.set_address("10.0.0.1:4001");
  info.mutable_ports()->set_p2p(4001);
  info.set_identity_key(std::string(32, '\x01'));
  update.set_state(v1::MEMBER_STATE_ALIVE);
  update.set_incarnation(3);
}

v1::MembershipMessage valid_message() {
  v1::MembershipMessage message;
  message.mutable_ping()->set_sequence(1);
  message.mutable_ping()->set_target_id(valid_id);
  fill_update(*message.add_gossip());
  return message;
}

// Returns the error message, or "" when the message is accepted.
std::string rejection(const v1::MembershipMessage& message, codec_limits limits = {}) {
  const auto checked = validate_message(message, limits);
  if (checked) {
    return "";
  }
  EXPECT_EQ(checked.err().code, errc::decode_error);
  return checked.err().message;
}

TEST(CodecValidate, AcceptsWellFormedMessages) {
  EXPECT_EQ(rejection(valid_message()), "");

  v1::MembershipMessage push_pull;
  push_pull.mutable_push_pull()->set_join(true);
  fill_update(*push_pull.mutable_push_pull()->add_members());
  EXPECT_EQ(rejection(push_pull), "");

  v1::MembershipMessage ack;
  ack.mutable_ack()->set_sequence(9);
  EXPECT_EQ(rejection(ack), "");

  v1::MembershipMessage broadcast;
  broadcast.mutable_broadcast();
  EXPECT_EQ(rejection(broadcast), "");
}

TEST(CodecValidate, RejectsEmptyOneof) {
  v1::MembershipMessage message;
  fill_update(*message.add_gossip());
  EXPECT_NE(rejection(message).find("message has no ping"), std::string::npos);
}

TEST(CodecValidate, RejectsUppercaseNodeId) {
  auto message = valid_message();
  message.mutable_gossip(0)->mutable_info()->set_node_id("0123456789ABCDEF0123456789ABCDEF");
  const auto text = rejection(message);
  EXPECT_NE(text.find("gossip[0].info.node_id"), std::string::npos) << text;
  EXPECT_NE(text.find("0123456789ABCDEF"), std::string::npos) << text;
}

TEST(CodecValidate, RejectsShortNodeId) {
  auto message = valid_message();
  message.mutable_gossip(0)->mutable_info()->set_node_id("abc");
  EXPECT_NE(rejection(message).find("\"abc\" is not 32 lowercase hex"), std::string::npos);
}

TEST(CodecValidate, RejectsNonHexNodeId) {
  auto message = valid_message();
  message.mutable_gossip(0)->mutable_info()->set_node_id(std::string(32, 'g'));
  EXPECT_NE(rejection(message).find("gossip[0].info.node_id"), std::string::npos);
}

TEST(CodecValidate, RejectsBadPingTargetId) {
  auto message = valid_message();
  message.mutable_ping()->set_target_id("xyz");
  EXPECT_NE(rejection(message).find("ping.target_id"), std::string::npos);
}

TEST(CodecValidate, RejectsBadReporterId) {
  auto message = valid_message();
  message.mutable_gossip(0)->set_reporter_id("not-an-id");
  EXPECT_NE(rejection(message).find("gossip[0].reporter_id"), std::string::npos);
}

TEST(CodecValidate, RejectsAddressWithoutPort) {
  auto message = valid_message();
  message.mutable_gossip(0)->mutable_info()->set_address("10.0.0.1");
  const auto text = rejection(message);
  EXPECT_NE(text.find("gossip[0].info.address \"10.0.0.1\""), std::string::npos) << text;
}

TEST(CodecValidate, RejectsPortZero) {
  auto message = valid_message();
  message.mutable_gossip(0)->mutable_info()->set_address("10.0.0.1:0");
  EXPECT_NE(rejection(message).find("port in 1..65535"), std::string::npos);
}

TEST(CodecValidate, RejectsPortAbove65535) {
  auto message = valid_message();
  message.mutable_gossip(0)->mutable_info()->set_address("10.0.0.1:65536");
  EXPECT_NE(rejection(message).find("\"10.0.0.1:65536\""), std::string::npos);
}

TEST(CodecValidate, RejectsEmptyHost) {
  auto message = valid_message();
  message.mutable_gossip(0)->mutable_info()->set_address(":4001");
  EXPECT_NE(rejection(message).find("info.address"), std::string::npos);
}

TEST(CodecValidate, RejectsUnbracketedIpv6) {
  auto message = valid_message();
  message.mutable_gossip(0)->mutable_info()->set_address("::1:4001");
  EXPECT_NE(rejection(message).find("info.address"), std::string::npos);
}

TEST(CodecValidate, AcceptsBracketedIpv6AndHostNames) {
  auto message = valid_message();
  message.mutable_gossip(0)->mutable_info()->set_address("[::1]:4001");
  EXPECT_EQ(rejection(message), "");
  message.mutable_gossip(0)->mutable_info()->set_address("mesh-bootstrap-0.mesh:4001");
  EXPECT_EQ(rejection(message), "");
}

TEST(CodecValidate, RejectsBadPingRequestAddress) {
  v1::MembershipMessage message;
  auto& request = *message.mutable_ping_request();
  request.set_target_id(valid_id);
  request.set_target_address("host:port");
  EXPECT_NE(rejection(message).find("ping_request.target_address \"host:port\""), std::string::npos);
}

TEST(CodecValidate, RejectsPingRequestWithoutTarget) {
  v1::MembershipMessage message;
  message.mutable_ping_request()->set_target_address("10.0.0.1:4001");
  EXPECT_NE(rejection(message).find("ping_request.target_id"), std::string::npos);
}

TEST(CodecValidate, RejectsTooManyGossipEntries) {
  auto message = valid_message();
  for (int i = 0; i < 4; ++i) {
    fill_update(*message.add_gossip());
  }
  codec_limits limits;
  limits.max_gossip = 4;
  EXPECT_NE(rejection(message, limits).find("gossip has 5 entries; the limit is 4"), std::string::npos);
}

TEST(CodecValidate, RejectsTooManyPushPullMembers) {
  v1::MembershipMessage message;
  for (int i = 0; i < 3; ++i) {
    fill_update(*message.mutable_push_pull()->add_members());
  }
  codec_limits limits;
  limits.max_members = 2;
  EXPECT_NE(rejection(message, limits).find("push_pull.members has 3 entries; the limit is 2"),
            std::string::npos);
}

TEST(CodecValidate, RejectsMalformedPushPullMember) {
  v1::MembershipMessage message;
  fill_update(*message.mutable_push_pull()->add_members());
  fill_update(*message.mutable_push_pull()->add_members());
  message.mutable_push_pull()->mutable_members(1)->set_state(v1::MEMBER_STATE_UNSPECIFIED);
  EXPECT_NE(rejection(message).find("push_pull.members[1].state 0"), std::string::npos);
}

TEST(CodecValidate, RejectsUnspecifiedState) {
  auto message = valid_message();
  message.mutable_gossip(0)->set_state(v1::MEMBER_STATE_UNSPECIFIED);
  EXPECT_NE(rejection(message).find("gossip[0].state 0 is not"), std::string::npos);
}

TEST(CodecValidate, RejectsUnknownStateNumber) {
  auto message = valid_message();
  message.mutable_gossip(0)->set_state(static_cast<v1::MemberState>(17));
  EXPECT_NE(rejection(message).find("gossip[0].state 17"), std::string::npos);
}

TEST(CodecValidate, RejectsUnspecifiedRole) {
  auto message = valid_message();
  message.mutable_gossip(0)->mutable_info()->set_role(v1::NODE_ROLE_UNSPECIFIED);
  EXPECT_NE(rejection(message).find("gossip[0].info.role 0"), std::string::npos);
}

TEST(CodecValidate, RejectsIdentityKeyOfWrongLength) {
  auto message = valid_message();
  message.mutable_gossip(0)->mutable_info()->set_identity_key(std::string(31, 'k'));
  EXPECT_NE(rejection(message).find("identity_key has 31 bytes; expected 0 or 32"), std::string::npos);
}

TEST(CodecValidate, AcceptsEmptyIdentityKey) {
  auto message = valid_message();
  message.mutable_gossip(0)->mutable_info()->clear_identity_key();
  EXPECT_EQ(rejection(message), "");
}

TEST(CodecValidate, RejectsLongName) {
  auto message = valid_message();
  message.mutable_gossip(0)->mutable_info()->set_name(std::string(129, 'n'));
  EXPECT_NE(rejection(message).find("is longer than 128 bytes"), std::string::npos);
}

TEST(CodecValidate, RejectsMissingInfo) {
  auto message = valid_message();
  message.mutable_gossip(0)->clear_info();
  EXPECT_NE(rejection(message).find("gossip[0].info is missing"), std::string::npos);
}

TEST(CodecValidate, RejectsPortFieldAbove65535) {
  auto message = valid_message();
  message.mutable_gossip(0)->mutable_info()->mutable_ports()->set_rpc(70000);
  EXPECT_NE(rejection(message).find("gossip[0].info.ports.rpc 70000"), std::string::npos);
}

TEST(CodecConvert, InfoRoundTrips) {
  member_info info;
  info.node_id = valid_id;
  info.name = "agent-7";
  info.role = node_role::agent;
  info.address = "127.0.0.1:4100";
  info.ports = service_ports{4100, 8080, 8081, 3000, 9090};
  info.load = 250;
  info.identity_key = std::string(32, '\x07');
  v1::MemberInfo proto;
  to_proto(info, proto);
  EXPECT_EQ(from_proto(proto), info);
}

TEST(CodecConvert, RoleNamesParse) {
  EXPECT_EQ(parse_role("bootstrap"), node_role::bootstrap);
  EXPECT_EQ(parse_role("worker"), node_role::worker);
  EXPECT_EQ(parse_role("agent"), node_role::agent);
  EXPECT_EQ(parse_role("Worker"), std::nullopt);
  EXPECT_EQ(to_string(node_role::agent), "agent");
  EXPECT_EQ(to_string(member_state::left), "left");
}

}  // namespace
}  // namespace mesh::membership
