#pragma once
// The libmesh release version, reported by --version and the mesh_build_info
// metric. A unit test checks it against the VERSION in the top-level
// CMakeLists.txt, so the two cannot drift apart unnoticed.

#include <string_view>

namespace mesh::config {

inline constexpr std::string_view library_version = "0.1.0";

}  // namespace mesh::config
