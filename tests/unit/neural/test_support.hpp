#pragma once
// Shared helpers of the neural unit tests: generated problems and the
// location of the FANN benchmark data sets.

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <numbers>
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include "mesh/neural/dataset.hpp"

namespace mesh::neural::testing {

// Folder with the FANN benchmark sets: $MESH_DATASETS_DIR, else
// <source>/../shared/datasets/fann; nullopt when neither exists.
inline std::optional<std::filesystem::path> fann_datasets_dir() {
  if (const char* env = std::getenv("MESH_DATASETS_DIR"); env != nullptr && *env != '\0') {
    std::filesystem::path dir(env);
    if (std::filesystem::is_directory(dir)) {
      return dir;
    }
  }
  std::filesystem::path dir = std::filesystem::path(MESH_SOURCE_DIR) / ".." / "shared" / "datasets" / "fann";
  if (std::filesystem::is_directory(dir)) {
    return dir;
  }
  return std::nullopt;
}

// scikit-learn's bundled CSV files, unpacked by scripts/install-deps.
inline std::filesystem::path sklearn_data_dir() {
  const char* home = std::getenv("HOME");
  return std::filesystem::path(home != nullptr ? home : "/root") / ".cache" / "libmesh-tools" /
         "root" / "usr" / "lib" / "python3" / "dist-packages" / "sklearn" / "datasets" / "data";
}

// XOR with symmetric targets (-1, 1).
inline dataset make_xor() {
  matrix inputs(2, 4);
  matrix outputs(1, 4);
  inputs << -1, -1, 1, 1, -1, 1, -1, 1;
  outputs << -1, 1, 1, -1;
  return std::move(*dataset::create(inputs, outputs));
}

// n-bit parity with inputs and targets in {-1, 1}.
inline dataset make_parity(int bits) {
  const int count = 1 << bits;
  matrix inputs(bits, count);
  matrix outputs(1, count);
  for (int sample = 0; sample < count; ++sample) {
    int ones = 0;
    for (int bit = 0; bit < bits; ++bit) {
      const bool set = ((sample >> bit) & 1) != 0;
      ones += set ? 1 : 0;
      inputs(bit, sample) = set ? 1.0f : -1.0f;
    }
    outputs(0, sample) = (ones % 2 == 1) ? 1.0f : -1.0f;
  }
  return std::move(*dataset::create(inputs, outputs));
}

// Lang and Witbrock's two-spiral problem: `per_spiral` points on each of two
// interleaved spirals of `turns` turns, radius up to 1, targets -1 and 1.
inline dataset make_two_spiral(int per_spiral, double turns) {
  matrix inputs(2, 2 * per_spiral);
  matrix outputs(1, 2 * per_spiral);
  for (int i = 0; i < per_spiral; ++i) {
    const double fraction = static_cast<double>(i) / static_cast<double>(per_spiral);
    const double angle = fraction * turns * 2.0 * std::numbers::pi;
    const double radius = 0.1 + 0.9 * fraction;
    const auto x = static_cast<scalar>(radius * std::cos(angle));
    const auto y = static_cast<scalar>(radius * std::sin(angle));
    inputs(0, 2 * i) = x;
    inputs(1, 2 * i) = y;
    outputs(0, 2 * i) = 1.0f;
    inputs(0, 2 * i + 1) = -x;
    inputs(1, 2 * i + 1) = -y;
    outputs(0, 2 * i + 1) = -1.0f;
  }
  return std::move(*dataset::create(inputs, outputs));
}

// Share of samples whose single output has the sign of the target.
inline double sign_accuracy(const matrix& outputs, const matrix& targets) {
  int correct = 0;
  for (Eigen::Index i = 0; i < outputs.cols(); ++i) {
    correct += ((outputs(0, i) > 0.0f) == (targets(0, i) > 0.0f)) ? 1 : 0;
  }
  return static_cast<double>(correct) / static_cast<double>(outputs.cols());
}

}  // namespace mesh::neural::testing
