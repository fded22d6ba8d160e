# Fails when a binary links GoogleTest or contains its code: the `orion` binary must not
# (test fixtures and GoogleTest stay in test executables; see src/testing/CMakeLists.txt).
#
#   cmake -DBINARY=<file> -DNM=<nm> -DREADELF=<readelf> [-DLINKED=<a,b,...>] -P check_no_gtest.cmake
#
# LINKED: the binary's link closure (targets and libraries), computed at configure time by
# apps/orion/CMakeLists.txt. Checked: no GTest/GMock target or library in LINKED, no libgtest or
# libgmock among the binary's NEEDED shared libraries, and no GoogleTest symbol (namespace
# ::testing, or a name containing gtest/gmock). orion::testing:: (gtest-free test support that
# the benchmarks use) is not GoogleTest and is allowed.
cmake_minimum_required(VERSION 3.25)

foreach(var BINARY NM READELF)
  if(NOT ${var})
    message(FATAL_ERROR "check_no_gtest: -D${var}=... is required")
  endif()
endforeach()
if(NOT EXISTS "${BINARY}")
  message(FATAL_ERROR "check_no_gtest: ${BINARY} does not exist (build it first)")
endif()

set(problems "")
string(REPLACE "," ";" linked "${LINKED}")
foreach(item IN LISTS linked)
  if(item MATCHES "GTest::|GMock::|gtest|gmock")
    list(APPEND problems "links ${item}")
  endif()
endforeach()

execute_process(COMMAND "${READELF}" -d "${BINARY}" OUTPUT_VARIABLE dyn RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "check_no_gtest: ${READELF} -d ${BINARY} failed (${rc})")
endif()
string(REGEX MATCHALL "NEEDED[^\n]*lib(gtest|gmock)[^\n]*" needed "${dyn}")
foreach(line IN LISTS needed)
  list(APPEND problems "needs a shared library: ${line}")
endforeach()

execute_process(COMMAND "${NM}" -C "${BINARY}" OUTPUT_VARIABLE syms RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "check_no_gtest: ${NM} -C ${BINARY} failed (${rc})")
endif()
# One list item per symbol line (brackets and semicolons would upset CMake's list splitting).
string(REGEX REPLACE "[][;]" "_" syms "${syms}")
string(REPLACE "\n" ";" hits "${syms}")
# `testing::` at the start of a name or of a template/function argument, not after `orion::`.
list(FILTER hits INCLUDE REGEX "(^|[ (<,*&])testing::|gtest|gmock|GTEST")
list(LENGTH hits count)
if(count GREATER 0)
  list(SUBLIST hits 0 5 first)
  list(JOIN first "\n    " shown)
  list(APPEND problems "contains ${count} GoogleTest symbols, e.g.\n    ${shown}")
endif()

if(problems)
  list(JOIN problems "\n  " text)
  message(FATAL_ERROR "${BINARY} carries GoogleTest:\n  ${text}")
endif()
message(STATUS "${BINARY}: no GoogleTest linked, needed or contained")
