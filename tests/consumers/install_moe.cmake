# install_moe.cmake — install the configured moe build tree into a fresh prefix and check what landed there.
#   cmake -DBUILD_DIR=<moe build> -DPREFIX=<prefix> -DSOURCE_DIR=<moe source> [-DCONFIG=<cfg>] -P install_moe.cmake
cmake_minimum_required(VERSION 3.21)

file(REMOVE_RECURSE "${PREFIX}")
set(_config_args)
if(CONFIG)
  set(_config_args --config "${CONFIG}")
endif()
execute_process(COMMAND "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${PREFIX}" ${_config_args}
  RESULT_VARIABLE _result)
if(NOT _result EQUAL 0)
  message(FATAL_ERROR "cmake --install ${BUILD_DIR} --prefix ${PREFIX} failed (${_result})")
endif()

file(GLOB_RECURSE _configs RELATIVE "${PREFIX}" "${PREFIX}/*/moeConfig.cmake")
list(LENGTH _configs _config_count)
if(NOT _config_count EQUAL 1)
  message(FATAL_ERROR "Expected one moeConfig.cmake under ${PREFIX}, found: '${_configs}'")
endif()
get_filename_component(CMAKEDIR "${_configs}" DIRECTORY)

foreach(_file IN ITEMS include/moe/core.hpp include/moe/cpu.hpp include/moe/version.hpp
                      ${CMAKEDIR}/moeConfig.cmake ${CMAKEDIR}/moeConfigVersion.cmake ${CMAKEDIR}/moeTargets.cmake)
  if(NOT EXISTS "${PREFIX}/${_file}")
    message(FATAL_ERROR "Not installed: ${PREFIX}/${_file}")
  endif()
endforeach()

# The installed package must not point back into the source or build tree.
file(GLOB _package_files "${PREFIX}/${CMAKEDIR}/*.cmake")
foreach(_file IN LISTS _package_files)
  file(READ "${_file}" _text)
  foreach(_tree IN ITEMS "${SOURCE_DIR}" "${BUILD_DIR}")
    string(FIND "${_text}" "${_tree}" _at)
    if(NOT _at EQUAL -1)
      message(FATAL_ERROR "${_file} refers to ${_tree}")
    endif()
  endforeach()
endforeach()

# SameMajorVersion: any 0.x request up to this version matches, another major version does not.
file(STRINGS "${SOURCE_DIR}/CMakeLists.txt" _project REGEX "^project\\(moe VERSION [0-9.]+")
string(REGEX MATCH "[0-9]+\\.[0-9]+\\.[0-9]+" _version "${_project}")
string(REGEX MATCH "^[0-9]+" _major "${_version}")
math(EXPR _other_major "${_major} + 1")
foreach(_request_and_expected IN ITEMS "${_major}.0=TRUE" "${_version}=TRUE" "${_other_major}.0=FALSE" "99.1=FALSE")
  string(REPLACE "=" ";" _pair "${_request_and_expected}")
  list(GET _pair 0 PACKAGE_FIND_VERSION)
  list(GET _pair 1 _expected)
  string(REPLACE "." ";" _parts "${PACKAGE_FIND_VERSION}")
  list(GET _parts 0 PACKAGE_FIND_VERSION_MAJOR)
  list(GET _parts 1 PACKAGE_FIND_VERSION_MINOR)
  set(PACKAGE_FIND_VERSION_PATCH 0)
  set(PACKAGE_FIND_VERSION_COUNT 2)
  unset(PACKAGE_VERSION_COMPATIBLE)
  include("${PREFIX}/${CMAKEDIR}/moeConfigVersion.cmake")
  if((PACKAGE_VERSION_COMPATIBLE AND NOT _expected) OR (NOT PACKAGE_VERSION_COMPATIBLE AND _expected))
    message(FATAL_ERROR "moe ${PACKAGE_VERSION} answered compatible=${PACKAGE_VERSION_COMPATIBLE} for a request of "
                        "${PACKAGE_FIND_VERSION}; expected ${_expected}")
  endif()
endforeach()
message(STATUS "moe ${PACKAGE_VERSION} installed into ${PREFIX}")
