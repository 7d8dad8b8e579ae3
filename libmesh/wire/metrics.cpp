#include "mesh/wire/metrics.hpp"

#include <cctype>
#include <string>

namespace mesh::wire {

namespace {

constexpr std::array<std::string_view, drop_reason_count> drop_reason_names = {
    "oversized",   "malformed_envelope", "unsupported_version", "unknown_kind",  "malformed_body",
    "queue_full",  "send_failed",        "invalid_address",     "auth_failed",
};

// Label values for the MessageKind enum, built once from the protobuf
// descriptor so that a kind added to envelope.proto gets its label for free.
const std::array<std::string, 16>& kind_labels() {
  static const std::array<std::string, 16> labels = [] {
    std::array<std::string, 16> built;
    constexpr std::string_view prefix = "MESSAGE_KIND_";
    for (int value = 0; value < static_cast<int>(built.size()); ++value) {
      if (!mesh::v1::MessageKind_IsValid(value)) {
        built[static_cast<std::size_t>(value)] = "unknown";
        continue;
      }
      std::string name = mesh::v1::MessageKind_Name(static_cast<mesh::v1::MessageKind>(value));
      if (name.rfind(prefix, 0) == 0) {
        name.erase(0, prefix.size());
      }
      for (char& c : name) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      }
      built[static_cast<std::size_t>(value)] = name;
    }
    return built;
  }();
  return labels;
}

}  // namespace

std::string_view to_string(drop_reason reason) noexcept {
  const auto i = static_cast<std::size_t>(reason);
  return i < drop_reason_names.size() ? drop_reason_names[i] : "unknown";
}

std::string_view kind_label(mesh::v1::MessageKind kind) noexcept {
  const auto value = static_cast<int>(kind);
  if (value < 0 || value >= static_cast<int>(kind_labels().size())) {
    return "unknown";
  }
  return kind_labels()[static_cast<std::size_t>(value)];
}

wire_metrics::wire_metrics(prometheus::Registry& registry)
    : sent_bytes_family_(prometheus::BuildCounter()
                             .Name("mesh_wire_sent_bytes_total")
                             .Help("Bytes of serialized envelopes handed to ZeroMQ, by message kind")
                             .Register(registry)),
      received_bytes_family_(prometheus::BuildCounter()
                                 .Name("mesh_wire_received_bytes_total")
                                 .Help("Bytes of valid inbound envelopes, by message kind")
                                 .Register(registry)),
      sent_messages_family_(prometheus::BuildCounter()
                                .Name("mesh_wire_sent_messages_total")
                                .Help("Envelopes handed to ZeroMQ, by message kind")
                                .Register(registry)),
      received_messages_family_(prometheus::BuildCounter()
                                    .Name("mesh_wire_received_messages_total")
                                    .Help("Valid inbound envelopes passed to a handler, by message kind")
                                    .Register(registry)),
      dropped_family_(prometheus::BuildCounter()
                          .Name("mesh_wire_dropped_messages_total")
                          .Help("Inbound or outbound messages dropped, and failed handshakes, by reason")
                          .Register(registry)),
      handshakes_(prometheus::BuildCounter()
                      .Name("mesh_wire_handshakes_total")
                      .Help("Inbound CURVE handshakes whose client key passed the mesh key check")
                      .Register(registry)
                      .Add({})),
      peers_(prometheus::BuildGauge()
                 .Name("mesh_wire_peers")
                 .Help("Open outbound connections (one ZeroMQ DEALER per peer address)")
                 .Register(registry)
                 .Add({})),
      queue_depth_(prometheus::BuildGauge()
                       .Name("mesh_wire_queue_depth")
                       .Help("Outbound messages accepted by send() and not yet handed to ZeroMQ")
                       .Register(registry)
                       .Add({})) {
  const auto make_kind = [this](const std::string& label) {
    return kind_counters{
        &sent_bytes_family_.Add({{"kind", label}}),
        &received_bytes_family_.Add({{"kind", label}}),
        &sent_messages_family_.Add({{"kind", label}}),
        &received_messages_family_.Add({{"kind", label}}),
    };
  };

  kinds_[kind_slots] = make_kind("unknown");
  for (std::size_t value = 0; value < kind_slots; ++value) {
    if (mesh::v1::MessageKind_IsValid(static_cast<int>(value))) {
      kinds_[value] = make_kind(kind_labels()[value]);
    } else {
      kinds_[value] = kinds_[kind_slots];
    }
  }

  for (std::size_t i = 0; i < drop_reason_count; ++i) {
    dropped_[i] = &dropped_family_.Add({{"reason", std::string(drop_reason_names[i])}});
  }
}

wire_metrics::kind_counters& wire_metrics::counters_for(mesh::v1::MessageKind kind) noexcept {
  const auto value = static_cast<int>(kind);
  if (value < 0 || value >= static_cast<int>(kind_slots)) {
    return kinds_[kind_slots];
  }
  return kinds_[static_cast<std::size_t>(value)];
}

void wire_metrics::record_sent(mesh::v1::MessageKind kind, std::size_t bytes) {
  auto& counters = counters_for(kind);
  counters.sent_messages->Increment();
  counters.sent_bytes->Increment(static_cast<double>(bytes));
}

void wire_metrics::record_received(mesh::v1::MessageKind kind, std::size_t bytes) {
  auto& counters = counters_for(kind);
  counters.received_messages->Increment();
  counters.received_bytes->Increment(static_cast<double>(bytes));
}

void wire_metrics::record_dropped(drop_reason reason, double count) { dropped_[index(reason)]->Increment(count); }

prometheus::Counter& wire_metrics::sent_messages(mesh::v1::MessageKind kind) {
  return *counters_for(kind).sent_messages;
}

prometheus::Counter& wire_metrics::received_messages(mesh::v1::MessageKind kind) {
  return *counters_for(kind).received_messages;
}

}  // namespace mesh::wire
