# run_compile_test.cmake — compile one compile-fail case and check the result.
#   cmake -DSOURCE=<case.cpp> -DVARIANT=broken|twin -DCOMMAND_FILE=<compile_command.cmake> -P run_compile_test.cmake
# broken: compiled with MOE_FAILTEST_BROKEN; must fail, with a static_assert whose message contains the case's
#         `// expect: <text>` line. twin: compiled as is; must succeed.
cmake_minimum_required(VERSION 3.21)

foreach(_var IN ITEMS SOURCE VARIANT COMMAND_FILE)
  if(NOT DEFINED ${_var})
    message(FATAL_ERROR "run_compile_test.cmake: -D${_var}=... is required")
  endif()
endforeach()
include("${COMMAND_FILE}")  # MOE_COMPILE_COMMAND, MOE_BROKEN_DEFINE

file(STRINGS "${SOURCE}" _expect_lines REGEX "^// expect: ")
if(NOT _expect_lines)
  message(FATAL_ERROR "${SOURCE}: no '// expect: <static_assert message>' line")
endif()
list(GET _expect_lines 0 _expected)
string(REGEX REPLACE "^// expect: " "" _expected "${_expected}")

if(VARIANT STREQUAL "broken")
  set(_define ${MOE_BROKEN_DEFINE})
elseif(VARIANT STREQUAL "twin")
  set(_define)
else()
  message(FATAL_ERROR "run_compile_test.cmake: VARIANT must be broken or twin, not '${VARIANT}'")
endif()

execute_process(COMMAND ${MOE_COMPILE_COMMAND} ${_define} "${SOURCE}"
  RESULT_VARIABLE _result OUTPUT_VARIABLE _output ERROR_VARIABLE _output)
list(JOIN MOE_COMPILE_COMMAND " " _shown_command)
set(_shown_command "${_shown_command} ${_define} ${SOURCE}")

if(VARIANT STREQUAL "twin")
  if(NOT _result EQUAL 0)
    message(FATAL_ERROR "The valid twin did not compile (exit ${_result}):\n  ${_shown_command}\n${_output}")
  endif()
  message(STATUS "compiled, as it must")
  return()
endif()

if(_result EQUAL 0)
  message(FATAL_ERROR "The broken config compiled; expected a static_assert with \"${_expected}\":\n  ${_shown_command}")
endif()
string(FIND "${_output}" "${_expected}" _at)
if(_at EQUAL -1)
  message(FATAL_ERROR "The broken config failed to compile, but without the expected message \"${_expected}\":\n"
                      "  ${_shown_command}\n${_output}")
endif()
if(NOT _output MATCHES "static.assert|C2338")
  message(FATAL_ERROR "The output names \"${_expected}\" but reports no static_assert:\n${_output}")
endif()
message(STATUS "failed as it must, with: ${_expected}")
