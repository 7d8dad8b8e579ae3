#pragma once
// Byte-level encoding of envelopes and batch frames, private to the wire.
// The transport writes Envelope messages itself instead of building and
// serializing an Envelope per message; the bytes equal those of
// Envelope::SerializeToString. docs/wire-format.md has the layout.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>

#include "mesh/v1/envelope.pb.h"

namespace mesh::wire::detail {

// First byte of a batch frame. A serialized Envelope never starts with it,
// because a protobuf tag byte of 0 would name field number 0, which is invalid.
constexpr unsigned char batch_marker = 0x00;

// Protobuf tags of Envelope.kind (field 4, varint) and Envelope.body (field
// 5, length-delimited): (field number << 3) | wire type.
constexpr char kind_tag = (4 << 3) | 0;
constexpr char body_tag = (5 << 3) | 2;

// Returns the number of bytes of `value` as a protobuf base-128 varint.
inline std::size_t varint_size(std::uint64_t value) {
  std::size_t size = 1;
  while (value >= 0x80U) {
    value >>= 7U;
    ++size;
  }
  return size;
}

// Writes `value` as a protobuf base-128 varint and returns the end.
inline char* write_varint(char* out, std::uint64_t value) {
  while (value >= 0x80U) {
    *out++ = static_cast<char>((value & 0x7FU) | 0x80U);
    value >>= 7U;
  }
  *out++ = static_cast<char>(value);
  return out;
}

// Reads a base-128 varint from [*in, end) and advances *in past it. Returns
// nullopt when the input ends inside the varint or it is longer than 10 bytes.
inline std::optional<std::uint64_t> read_varint(const unsigned char** in, const unsigned char* end) {
  std::uint64_t value = 0;
  for (unsigned shift = 0; shift < 64 && *in < end; shift += 7) {
    const unsigned char byte = *(*in)++;
    value |= static_cast<std::uint64_t>(byte & 0x7FU) << shift;
    if ((byte & 0x80U) == 0) {
      return value;
    }
  }
  return std::nullopt;
}

// Protobuf encodes an enum as the varint of its int64 value, so a negative
// kind takes 10 bytes.
inline std::uint64_t kind_wire_value(mesh::v1::MessageKind kind) {
  return static_cast<std::uint64_t>(static_cast<std::int64_t>(kind));
}

// Returns the size of the Envelope that write_envelope() produces. Proto3
// omits fields with default values, and so does this encoding.
inline std::size_t envelope_size(std::size_t header_bytes, mesh::v1::MessageKind kind, std::size_t body_bytes) {
  std::size_t size = header_bytes;
  if (kind != 0) {
    size += 1 + varint_size(kind_wire_value(kind));
  }
  if (body_bytes != 0) {
    size += 1 + varint_size(body_bytes) + body_bytes;
  }
  return size;
}

// Writes the serialized Envelope. `header` contains fields 1-3, the same in
// every message of a node, then fields 4 and 5 follow. Returns the end.
inline char* write_envelope(char* out, const std::string& header, mesh::v1::MessageKind kind,
                            const std::string& body) {
  std::memcpy(out, header.data(), header.size());
  out += header.size();
  if (kind != 0) {
    *out++ = kind_tag;
    out = write_varint(out, kind_wire_value(kind));
  }
  if (!body.empty()) {
    *out++ = body_tag;
    out = write_varint(out, body.size());
    std::memcpy(out, body.data(), body.size());
    out += body.size();
  }
  return out;
}

}  // namespace mesh::wire::detail
