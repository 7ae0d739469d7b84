# check_isa_filters.cmake — the avx2 and arm64 test presets of CMakePresets.json run exactly the tests of the
# moe_isa_tests list (tests/CMakeLists.txt): their name filter must be the list's regex.
# Run: cmake -DPRESETS=<repo>/CMakePresets.json "-DEXPECTED=^(a|b)$" -P check_isa_filters.cmake
file(READ "${PRESETS}" _json)
string(JSON _count LENGTH "${_json}" testPresets)
math(EXPR _last "${_count} - 1")
set(_checked 0)
foreach(_i RANGE ${_last})
  string(JSON _name GET "${_json}" testPresets ${_i} name)
  if(_name STREQUAL "avx2" OR _name STREQUAL "arm64")
    string(JSON _filter GET "${_json}" testPresets ${_i} filter include name)
    if(NOT _filter STREQUAL EXPECTED)
      message(FATAL_ERROR "CMakePresets.json: test preset '${_name}' filters\n  ${_filter}\nbut moe_isa_tests in "
                          "tests/CMakeLists.txt gives\n  ${EXPECTED}\nupdate the preset's filter")
    endif()
    math(EXPR _checked "${_checked} + 1")
  endif()
endforeach()
if(NOT _checked EQUAL 2)
  message(FATAL_ERROR "CMakePresets.json: expected the test presets avx2 and arm64, found ${_checked} of them")
endif()
message(STATUS "isa_preset_filters: avx2 and arm64 filter the ${EXPECTED} tests")
