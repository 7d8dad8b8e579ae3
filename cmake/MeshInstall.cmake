# Installs the libraries, the public headers and an exported CMake package, so
# that another project can write find_package(Mesh) and link mesh::actors.
include(CMakePackageConfigHelpers)

set(mesh_cmake_dir "${CMAKE_INSTALL_LIBDIR}/cmake/Mesh")

install(EXPORT MeshTargets
  NAMESPACE mesh::
  DESTINATION "${mesh_cmake_dir}")

configure_package_config_file(
  "${CMAKE_CURRENT_SOURCE_DIR}/cmake/MeshConfig.cmake.in"
  "${CMAKE_CURRENT_BINARY_DIR}/MeshConfig.cmake"
  INSTALL_DESTINATION "${mesh_cmake_dir}")

write_basic_package_version_file(
  "${CMAKE_CURRENT_BINARY_DIR}/MeshConfigVersion.cmake"
  VERSION "${PROJECT_VERSION}"
  COMPATIBILITY SameMinorVersion)

install(FILES
  "${CMAKE_CURRENT_BINARY_DIR}/MeshConfig.cmake"
  "${CMAKE_CURRENT_BINARY_DIR}/MeshConfigVersion.cmake"
  "${CMAKE_CURRENT_SOURCE_DIR}/cmake/FindCAF.cmake"
  DESTINATION "${mesh_cmake_dir}")
