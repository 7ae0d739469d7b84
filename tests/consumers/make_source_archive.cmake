# make_source_archive.cmake — pack what a moe release archive holds (CMakeLists.txt, cmake/, include/, docs and
# license files when present) from the checkout, for the FetchContent consumer to download through a file:// URL.
#   cmake -DSOURCE_DIR=<moe checkout> -DARCHIVE=<out.tar.gz> -P make_source_archive.cmake
cmake_minimum_required(VERSION 3.21)

set(_entries)
foreach(_entry IN ITEMS CMakeLists.txt cmake include LICENSE README.md)
  if(EXISTS "${SOURCE_DIR}/${_entry}")
    list(APPEND _entries ${_entry})
  endif()
endforeach()
file(REMOVE "${ARCHIVE}")
execute_process(COMMAND "${CMAKE_COMMAND}" -E tar czf "${ARCHIVE}" -- ${_entries}
  WORKING_DIRECTORY "${SOURCE_DIR}" RESULT_VARIABLE _result)
if(NOT _result EQUAL 0)
  message(FATAL_ERROR "Could not pack ${_entries} from ${SOURCE_DIR} into ${ARCHIVE}")
endif()
message(STATUS "Packed ${_entries} into ${ARCHIVE}")
