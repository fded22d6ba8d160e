# Helpers that declare Orion's libraries and tests the same way everywhere.
#
#   orion_library(<name> SOURCES ... [PUBLIC_DEPS ...] [PRIVATE_DEPS ...])
#     -> target orion_<name>, alias orion::<name>, include root src/.
#   orion_test(<name> SOURCES ... [DEPS ...] [LABELS unit|integration|system] [TIMEOUT s])
#     -> executable linked with GoogleTest main, registered with CTest.
#   Every library is linked into the `orion` binary (apps/orion).
#   orion_finish_test_targets()
#     -> target `unit_tests` building every test labelled unit (used by sanitizer CI runs).

# ORION_WERROR=OFF keeps the warnings but lets a build on another compiler than the project's
# own (the GPU machine's g++ 13, tools/gpu/run.sh) finish despite a new one.
option(ORION_WERROR "Treat warnings as errors" ON)
set(ORION_WARNINGS -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
    -Wno-error=deprecated-declarations)
if(ORION_WERROR)
  list(APPEND ORION_WARNINGS -Werror)
endif()
# Clang checks the locking annotations of core/thread_annotations.h (GUARDED_BY, REQUIRES, ...);
# -beta adds the lock-order checks (ACQUIRED_AFTER/ACQUIRED_BEFORE). scripts/thread-safety.sh
# runs this build in CI. GCC has no such analysis: the annotations are empty there.
if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  list(APPEND ORION_WARNINGS -Wthread-safety -Wthread-safety-beta)
endif()

set(ORION_SANITIZER_FLAGS "")
if(ORION_SANITIZE STREQUAL "thread")
  set(ORION_SANITIZER_FLAGS -fsanitize=thread -fno-omit-frame-pointer)
elseif(ORION_SANITIZE STREQUAL "address")
  set(ORION_SANITIZER_FLAGS -fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=undefined,float-cast-overflow
      -fno-omit-frame-pointer)
elseif(NOT ORION_SANITIZE STREQUAL "")
  message(FATAL_ERROR "ORION_SANITIZE must be empty, thread or address (got ${ORION_SANITIZE})")
endif()

function(orion_apply_common target)
  target_compile_options(${target} PRIVATE ${ORION_WARNINGS} ${ORION_SANITIZER_FLAGS})
  target_link_options(${target} PRIVATE ${ORION_SANITIZER_FLAGS})
endfunction()

function(orion_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(orion_${name} STATIC ${ARG_SOURCES})
  add_library(orion::${name} ALIAS orion_${name})
  target_include_directories(orion_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(orion_${name} PUBLIC ${ARG_PUBLIC_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
  set_target_properties(orion_${name} PROPERTIES POSITION_INDEPENDENT_CODE ON)
  orion_apply_common(orion_${name})
  set_property(GLOBAL APPEND PROPERTY ORION_LIBRARIES orion::${name})
endfunction()

function(orion_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  if(NOT ARG_LABELS)
    set(ARG_LABELS unit)
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 120)
  endif()
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  orion_apply_common(${name})
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT}
                       ENVIRONMENT "ORION_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
  if("unit" IN_LIST ARG_LABELS)
    set_property(GLOBAL APPEND PROPERTY ORION_UNIT_TESTS ${name})
  else()
    # Integration and system tests measure frame rates and restart times on real processes:
    # they run one at a time so that two of them never compete for a 2-core CI machine.
    set_tests_properties(${name} PROPERTIES RUN_SERIAL TRUE)
  endif()
endfunction()

function(orion_finish_test_targets)
  get_property(units GLOBAL PROPERTY ORION_UNIT_TESTS)
  add_custom_target(unit_tests)
  if(units)
    add_dependencies(unit_tests ${units})
  endif()
endfunction()
