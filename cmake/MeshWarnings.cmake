# mesh_set_warnings(target): the warning set every libmesh target builds with.
# MESH_WARNINGS_AS_ERRORS (on in CI) makes them fatal.
function(mesh_set_warnings target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast
    -Wcast-align -Woverloaded-virtual -Wimplicit-fallthrough
    -Wno-missing-field-initializers)
  # GCC 12 at -O3 reports -Wrestrict inside libstdc++'s std::string
  # operator+, for copies of about 2^63 bytes that cannot happen: a false
  # positive about library code, printed by every Release build on Debian 12.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    target_compile_options(${target} PRIVATE -Wno-restrict)
  endif()
  if(MESH_WARNINGS_AS_ERRORS)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
