# hotline_test(NAME <name> SOURCES <files...> LIBS <targets...> [LABELS <labels...>])
# Builds one GoogleTest executable and registers it with CTest as one test.
# Tests run from the build directory; HOTLINE_SOURCE_DIR/HOTLINE_BINARY_DIR are
# passed so tests can find tests/data and the built `hotline` binary.
function(hotline_test)
  cmake_parse_arguments(T "" "NAME" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} GTest::gtest GTest::gtest_main GTest::gmock hotline_options)
  target_compile_definitions(${T_NAME} PRIVATE
    HOTLINE_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    HOTLINE_BINARY_DIR="${PROJECT_BINARY_DIR}")
  add_test(NAME ${T_NAME} COMMAND ${T_NAME})
  set_tests_properties(${T_NAME} PROPERTIES TIMEOUT 300)
  if(T_LABELS)
    set_tests_properties(${T_NAME} PROPERTIES LABELS "${T_LABELS}")
  endif()
endfunction()

# hotline_library(<name> SOURCES ... DEPS ...) -> target hotline_<name>, alias hotline::<name>.
function(hotline_library name)
  cmake_parse_arguments(L "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(hotline_${name} STATIC ${L_SOURCES})
  add_library(hotline::${name} ALIAS hotline_${name})
  target_include_directories(hotline_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(hotline_${name} PUBLIC ${L_DEPS} PRIVATE ${L_PRIVATE_DEPS} hotline_options)
endfunction()
