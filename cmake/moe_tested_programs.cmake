# cmake/moe_tested_programs.cmake — the target `moe_tested_programs`: every program and library of this build that a
# test runs or links, that is, all of it but the C++ benchmarks (bench/*.cpp; nothing runs them in a test). The test
# workflow (CMakePresets.json) builds this target instead of `all`, and checks that the benchmarks still compile with
# one -fsyntax-only test each (label "bench"): the four of them compile the whole library at -O3 again (about 290 s
# of CPU with g++, docs/performance.md "Compile time") for no test. `cmake --build --preset default` builds them.
# The CUDA benchmark stays built (nvcc has no syntax-only mode; tests/gpu/run.sh runs it).

# moe_collect_targets(<dir> <out>): the build-system targets of <dir> and its subdirectories.
function(moe_collect_targets dir out)
  get_property(targets DIRECTORY "${dir}" PROPERTY BUILDSYSTEM_TARGETS)
  get_property(subdirs DIRECTORY "${dir}" PROPERTY SUBDIRECTORIES)
  foreach(subdir IN LISTS subdirs)
    moe_collect_targets("${subdir}" sub_targets)
    list(APPEND targets ${sub_targets})
  endforeach()
  set(${out} ${targets} PARENT_SCOPE)
endfunction()

# moe_benchmark_syntax_test(<target>): a ctest test that compiles <target>'s sources with its flags, -fsyntax-only.
function(moe_benchmark_syntax_test target)
  get_target_property(sources ${target} SOURCES)
  get_target_property(source_dir ${target} SOURCE_DIR)
  string(TOUPPER "${CMAKE_BUILD_TYPE}" config)
  separate_arguments(flags UNIX_COMMAND "${CMAKE_CXX_FLAGS} ${CMAKE_CXX_FLAGS_${config}}")
  set(tp "$<TARGET_PROPERTY:${target},")
  # moe::native's -march=native sits behind $<COMPILE_LANGUAGE:CXX>, which a test command cannot evaluate.
  set(native "")
  if(MOE_NATIVE_ARCH)
    set(native -march=native)
  endif()
  # moe's own directories with -I (their warnings count), the dependencies' with -isystem, as the build does.
  string(REGEX REPLACE "([][+.*()^$?|\\])" "\\\\\\1" own "${PROJECT_SOURCE_DIR}")
  set(all_includes "$<FILTER:${tp}INCLUDE_DIRECTORIES>,EXCLUDE,^/usr/include/?$>")
  set(includes "$<FILTER:${all_includes},INCLUDE,^${own}/>")
  set(system_includes "$<FILTER:${all_includes},EXCLUDE,^${own}/>")
  foreach(source IN LISTS sources)
    add_test(NAME ${target}_compiles
      COMMAND "${CMAKE_CXX_COMPILER}" -fsyntax-only ${flags} "${CMAKE_CXX20_EXTENSION_COMPILE_OPTION}"
              "$<$<BOOL:${tp}COMPILE_DEFINITIONS>>:-D$<JOIN:${tp}COMPILE_DEFINITIONS>,;-D>>"
              # -I/usr/include would break libstdc++'s #include_next (Eigen and JSON live there on Debian).
              "$<$<BOOL:${includes}>:-I$<JOIN:${includes},;-I>>"
              "$<$<BOOL:${system_includes}>:-isystem$<JOIN:${system_includes},;-isystem>>"
              "${tp}COMPILE_OPTIONS>" ${native} "${source_dir}/${source}"
      COMMAND_EXPAND_LISTS)
    set_tests_properties(${target}_compiles PROPERTIES LABELS "bench")
  endforeach()
endfunction()

moe_collect_targets("${PROJECT_SOURCE_DIR}" _moe_all_targets)
set(_moe_tested "")
foreach(_moe_target IN LISTS _moe_all_targets)
  get_target_property(_moe_type ${_moe_target} TYPE)
  get_target_property(_moe_excluded ${_moe_target} EXCLUDE_FROM_ALL)
  get_target_property(_moe_dir ${_moe_target} SOURCE_DIR)
  if(_moe_type STREQUAL "INTERFACE_LIBRARY" OR _moe_type STREQUAL "UTILITY" OR _moe_excluded)
    continue()
  endif()
  if(_moe_dir STREQUAL "${PROJECT_SOURCE_DIR}/bench")
    if(MOE_BUILD_TESTS AND CMAKE_CXX_COMPILER_ID MATCHES "^(GNU|Clang)$")
      moe_benchmark_syntax_test(${_moe_target})
      continue()
    endif()
  endif()
  list(APPEND _moe_tested ${_moe_target})
endforeach()
add_custom_target(moe_tested_programs DEPENDS ${_moe_tested})
