// Data set readers: FANN training files, CSV (scikit-learn's files, gzip),
// malformed input, split and scaling.

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include <gtest/gtest.h>

#include "mesh/neural/dataset.hpp"
#include "test_support.hpp"

namespace mesh::neural {
namespace {

class DatasetFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("mesh_neural_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path write(const std::string& name, const std::string& text) {
    const auto path = dir_ / name;
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }

  std::filesystem::path dir_;
};

TEST_F(DatasetFiles, FannFileRoundTrip) {
  const dataset original = testing::make_two_spiral(20, 1.0);
  const auto path = dir_ / "spiral.train";
  ASSERT_TRUE(write_fann_file(original, path).has_value());

  auto read = read_fann_file(path);
  ASSERT_TRUE(read.has_value()) << read.err().message;
  EXPECT_EQ(read->num_samples(), 40u);
  EXPECT_EQ(read->num_inputs(), 2u);
  EXPECT_EQ(read->num_outputs(), 1u);
  EXPECT_EQ(read->inputs(), original.inputs());
  EXPECT_EQ(read->outputs(), original.outputs());
  EXPECT_EQ(read->source_sha256.size(), 64u);
}

struct malformed_case {
  const char* name;
  const char* text;
  const char* line;
  const char* detail;
};

TEST_F(DatasetFiles, MalformedFannFilesNameFileAndLine) {
  const malformed_case cases[] = {
      {"bad_header", "2 two 1\n0 0\n0\n", ":1:", "header"},
      {"too_many_inputs", "2 2 1\n0 0\n1\n0 1 1\n0\n", ":4:", "expected 2 input values, found 3"},
      {"not_a_number", "2 2 1\n0 0\n1\n0 x\n0\n", ":4:", "'x' is not a finite number"},
      {"nan", "1 2 1\n0 nan\n1\n", ":2:", "'nan'"},
      {"inf", "1 2 1\n0 1\ninf\n", ":3:", "'inf'"},
      {"truncated", "3 2 1\n0 0\n1\n0 1\n0\n1 1\n", ":6:", "truncated"},
      {"extra", "1 2 1\n0 0\n1\n5 5\n", ":4:", "unexpected data"},
  };
  for (const auto& entry : cases) {
    const auto path = write(std::string(entry.name) + ".train", entry.text);
    auto read = read_fann_file(path);
    ASSERT_FALSE(read.has_value()) << entry.name;
    EXPECT_EQ(read.err().code, errc::decode_error) << entry.name;
    EXPECT_NE(read.err().message.find(path.string() + entry.line), std::string::npos)
        << entry.name << ": " << read.err().message;
    EXPECT_NE(read.err().message.find(entry.detail), std::string::npos)
        << entry.name << ": " << read.err().message;
  }
}

TEST_F(DatasetFiles, MissingFileIsIoError) {
  auto read = read_fann_file(dir_ / "absent.train");
  ASSERT_FALSE(read.has_value());
  EXPECT_EQ(read.err().code, errc::io_error);
  EXPECT_NE(read.err().message.find("absent.train"), std::string::npos);
}

TEST_F(DatasetFiles, CsvClassificationWithHeaderNames) {
  const auto path = write("flowers.csv", "a,b,species\n1.5,2,3\n0.5,1,1\n2,2,3\n");
  csv_options options;
  options.header = csv_header::names;
  options.off_value = -1.0f;
  auto read = read_csv_file(path, options);
  ASSERT_TRUE(read.has_value()) << read.err().message;
  EXPECT_EQ(read->num_samples(), 3u);
  EXPECT_EQ(read->num_inputs(), 2u);
  ASSERT_EQ(read->num_outputs(), 2u);
  EXPECT_EQ(read->class_names, (std::vector<std::string>{"1", "3"}));
  EXPECT_FLOAT_EQ(read->inputs()(0, 0), 1.5f);
  EXPECT_FLOAT_EQ(read->outputs()(0, 0), -1.0f);
  EXPECT_FLOAT_EQ(read->outputs()(1, 0), 1.0f);
  EXPECT_FLOAT_EQ(read->outputs()(0, 1), 1.0f);
}

TEST_F(DatasetFiles, CsvRegressionWithLabelColumn) {
  const auto path = write("house.csv", "7.5,1,2\n-1,3,4\n");
  csv_options options;
  options.label_column = 0;
  options.task = csv_task::regression;
  auto read = read_csv_file(path, options);
  ASSERT_TRUE(read.has_value()) << read.err().message;
  ASSERT_EQ(read->num_outputs(), 1u);
  EXPECT_FLOAT_EQ(read->outputs()(0, 0), 7.5f);
  EXPECT_FLOAT_EQ(read->outputs()(0, 1), -1.0f);
  EXPECT_FLOAT_EQ(read->inputs()(1, 1), 4.0f);
}

TEST_F(DatasetFiles, MalformedCsvNamesFileAndLine) {
  const malformed_case cases[] = {
      {"short_row", "1,2,0\n1,0\n", ":2:", "expected 3 columns, found 2"},
      {"word", "1,2,0\n1,abc,1\n", ":2:", "'abc' is not a finite number"},
      {"inf", "1,2,0\n1,inf,1\n", ":2:", "'inf'"},
      {"fraction_label", "1,2,0.5\n", ":1:", "not an integer"},
  };
  for (const auto& entry : cases) {
    const auto path = write(std::string(entry.name) + ".csv", entry.text);
    auto read = read_csv_file(path);
    ASSERT_FALSE(read.has_value()) << entry.name;
    EXPECT_EQ(read.err().code, errc::decode_error) << entry.name;
    EXPECT_NE(read.err().message.find(path.string() + entry.line), std::string::npos)
        << entry.name << ": " << read.err().message;
    EXPECT_NE(read.err().message.find(entry.detail), std::string::npos)
        << entry.name << ": " << read.err().message;
  }

  csv_options sklearn;
  sklearn.header = csv_header::sklearn;
  const auto wrong_count = write("wrong_count.csv", "5,2,a,b\n1,2,0\n1,2,1\n");
  auto read = read_csv_file(wrong_count, sklearn);
  ASSERT_FALSE(read.has_value());
  EXPECT_NE(read.err().message.find(wrong_count.string() + ":1:"), std::string::npos)
      << read.err().message;
}

TEST_F(DatasetFiles, TruncatedGzipIsRejected) {
  const auto digits = testing::sklearn_data_dir() / "digits.csv.gz";
  if (!std::filesystem::exists(digits)) {
    GTEST_SKIP() << digits << " is absent; scripts/install-deps unpacks python3-sklearn";
  }
  std::ifstream file(digits, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  const auto path = write("cut.csv.gz", bytes.substr(0, bytes.size() / 2));
  auto read = read_csv_file(path);
  ASSERT_FALSE(read.has_value());
  EXPECT_EQ(read.err().code, errc::decode_error);
  EXPECT_NE(read.err().message.find("truncated"), std::string::npos) << read.err().message;
}

TEST(SklearnData, DigitsGzipHas1797SamplesOf64Features) {
  const auto path = testing::sklearn_data_dir() / "digits.csv.gz";
  if (!std::filesystem::exists(path)) {
    GTEST_SKIP() << path << " is absent; scripts/install-deps unpacks python3-sklearn";
  }
  auto read = read_csv_file(path);
  ASSERT_TRUE(read.has_value()) << read.err().message;
  EXPECT_EQ(read->num_samples(), 1797u);
  EXPECT_EQ(read->num_inputs(), 64u);
  EXPECT_EQ(read->num_outputs(), 10u);
  EXPECT_EQ(read->class_names.front(), "0");
  EXPECT_EQ(read->class_names.back(), "9");
  // Every sample is one-hot.
  EXPECT_EQ(read->outputs().colwise().sum(), Eigen::RowVectorXf::Ones(1797));
}

TEST(SklearnData, IrisHeaderGivesClassNames) {
  const auto path = testing::sklearn_data_dir() / "iris.csv";
  if (!std::filesystem::exists(path)) {
    GTEST_SKIP() << path << " is absent; scripts/install-deps unpacks python3-sklearn";
  }
  csv_options options;
  options.header = csv_header::sklearn;
  auto read = read_csv_file(path, options);
  ASSERT_TRUE(read.has_value()) << read.err().message;
  EXPECT_EQ(read->num_samples(), 150u);
  EXPECT_EQ(read->num_inputs(), 4u);
  EXPECT_EQ(read->class_names, (std::vector<std::string>{"setosa", "versicolor", "virginica"}));
}

TEST(FannData, BenchmarkSetsRead) {
  const auto dir = testing::fann_datasets_dir();
  if (!dir) {
    GTEST_SKIP() << "FANN data sets not found: set MESH_DATASETS_DIR or provide "
                    "<source>/../shared/datasets/fann";
  }
  struct expected_shape {
    const char* name;
    std::size_t samples;
    std::size_t inputs;
    std::size_t outputs;
  };
  for (const auto& shape : {expected_shape{"mushroom.train", 4062, 125, 2},
                            expected_shape{"thyroid.train", 3600, 21, 3},
                            expected_shape{"robot.test", 594, 48, 3},
                            expected_shape{"two-spiral.train", 193, 2, 1}}) {
    const auto path = *dir / shape.name;
    if (!std::filesystem::exists(path)) {
      ADD_FAILURE() << path << " is missing from the data set folder";
      continue;
    }
    auto read = read_fann_file(path);
    ASSERT_TRUE(read.has_value()) << read.err().message;
    EXPECT_EQ(read->num_samples(), shape.samples) << shape.name;
    EXPECT_EQ(read->num_inputs(), shape.inputs) << shape.name;
    EXPECT_EQ(read->num_outputs(), shape.outputs) << shape.name;
  }
}

TEST(DatasetSplit, SeededAndComplete) {
  const dataset data = testing::make_parity(4);
  std::mt19937_64 rng_a(3);
  std::mt19937_64 rng_b(3);
  auto first = split_dataset(data, 0.75, rng_a);
  auto second = split_dataset(data, 0.75, rng_b);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->first.num_samples(), 12u);
  EXPECT_EQ(first->second.num_samples(), 4u);
  EXPECT_EQ(first->first.inputs(), second->first.inputs());
  EXPECT_EQ(first->second.outputs(), second->second.outputs());

  // The two parts hold every sample exactly once: the sum of the inputs
  // encoded as integers is unchanged.
  const auto code_sum = [](const dataset& part) {
    int total = 0;
    for (Eigen::Index i = 0; i < part.inputs().cols(); ++i) {
      int code = 0;
      for (Eigen::Index bit = 0; bit < part.inputs().rows(); ++bit) {
        code |= (part.inputs()(bit, i) > 0 ? 1 : 0) << bit;
      }
      total += code;
    }
    return total;
  };
  EXPECT_EQ(code_sum(first->first) + code_sum(first->second), 15 * 16 / 2);

  auto invalid = split_dataset(data, 1.0, rng_a);
  ASSERT_FALSE(invalid.has_value());
  EXPECT_EQ(invalid.err().code, errc::invalid_argument);
}

TEST(InputScaling, MapsToActivationRange) {
  matrix inputs(2, 3);
  inputs << 0, 5, 10, 3, 3, 3;
  matrix outputs = matrix::Zero(1, 3);
  auto data = dataset::create(inputs, outputs);
  auto scaling = input_scaling::fit_for(*data, activation_function::sigmoid_symmetric);
  ASSERT_TRUE(scaling.has_value());
  ASSERT_TRUE(scaling->apply(*data).has_value());
  EXPECT_FLOAT_EQ(data->inputs()(0, 0), -1.0f);
  EXPECT_FLOAT_EQ(data->inputs()(0, 1), 0.0f);
  EXPECT_FLOAT_EQ(data->inputs()(0, 2), 1.0f);
  // A constant input goes to the middle of the range.
  EXPECT_FLOAT_EQ(data->inputs()(1, 0), 0.0f);

  std::vector<scalar> sample{10.0f, 3.0f};
  ASSERT_TRUE(scaling->apply(std::span<scalar>(sample)).has_value());
  EXPECT_FLOAT_EQ(sample[0], 1.0f);
}

}  // namespace
}  // namespace mesh::neural
