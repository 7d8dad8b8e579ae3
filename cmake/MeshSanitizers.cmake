# MESH_SANITIZE=ON builds every target with AddressSanitizer and
# UndefinedBehaviorSanitizer. CI runs the unit and integration tests that way.
if(MESH_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
