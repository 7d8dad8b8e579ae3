# Finds every library that libmesh builds against. All of them come from
# Debian 12 packages; scripts/install-deps installs them.

find_package(Threads REQUIRED)
find_package(CAF 0.17 REQUIRED COMPONENTS core)
find_package(PkgConfig REQUIRED)
pkg_check_modules(ZMQ REQUIRED IMPORTED_TARGET GLOBAL libzmq>=4.3)
find_package(cppzmq REQUIRED)
find_package(Protobuf 3.21 REQUIRED)
find_package(OpenSSL 3.0 REQUIRED)
find_package(Eigen3 3.4 REQUIRED NO_MODULE)
find_package(prometheus-cpp REQUIRED COMPONENTS core)
find_package(Boost 1.74 REQUIRED)
find_package(SQLite3 REQUIRED)
find_package(fmt REQUIRED)
find_package(spdlog REQUIRED)
find_package(CLI11 REQUIRED)
find_package(yaml-cpp REQUIRED)
# gzip-compressed data sets (scikit-learn ships digits.csv.gz).
find_package(ZLIB REQUIRED)

if(MESH_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()

if(MESH_BUILD_BENCHMARKS)
  find_package(benchmark REQUIRED)
endif()

# libfann is a peer for comparison in tests and benchmarks only.
if(MESH_BUILD_TESTS OR MESH_BUILD_BENCHMARKS)
  pkg_check_modules(FANN IMPORTED_TARGET GLOBAL fann)
endif()
