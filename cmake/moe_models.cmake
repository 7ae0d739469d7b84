# moe_models.cmake — executables that run exactly your own checkpoints.
#
#   moe_add_model_executable(my_cli CHECKPOINTS /models/a /models/b)             # moe_cli for these checkpoints
#   moe_add_model_executable(my_next SOURCE next_token CHECKPOINTS /models/a)    # or next_token, or your own .cpp
#   moe_add_model_executable(my_cli CHECKPOINTS /models/Qwen3-30B-A3B-Q4_K_M.gguf)   # llama.cpp GGUF files too
#   moe_model_header(<out.hpp> CHECKPOINTS dir|file.gguf... [RELEASED] [WEIGHTS fmt] [TARGET tgt])   # the header alone
#
# A model type is fixed at compile time, so the checkpoints' types are generated at build time: moe_card
# (tools/moe_card.cpp, built for the host from source) reads each config.json and safetensors header (or each GGUF
# file's metadata and tensor table) and writes a header defining moe_models::checkpoint_models; the program includes
# it through MOE_MODELS_HEADER. The header is regenerated when a config.json (or GGUF file) changes. RELEASED adds
# the released checkpoints' types (Qwen3-30B-A3B, Mixtral 8x7B, ...); WEIGHTS overrides the weight format chosen
# from the dtypes or GGUF tensor types (e.g. q8_0). Needs moe::cpu and moe::io.
# Cross-compiling: set MOE_CARD_EXECUTABLE to a moe_card built for the build machine.
#
# Included by moe's CMakeLists.txt (add_subdirectory, FetchContent) and by moeConfig.cmake (find_package).
include_guard(GLOBAL)

# Where the sources are: installed next to this file (moe_sources/), or the checkout's tools/ and examples/.
if(EXISTS "${CMAKE_CURRENT_LIST_DIR}/moe_sources/moe_card.cpp")
  set_property(GLOBAL PROPERTY MOE_MODELS_SOURCES_DIR "${CMAKE_CURRENT_LIST_DIR}/moe_sources")
  set_property(GLOBAL PROPERTY MOE_MODELS_TOOL_DIR "${CMAKE_CURRENT_LIST_DIR}/moe_sources")
else()
  get_filename_component(_moe_models_root "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)
  set_property(GLOBAL PROPERTY MOE_MODELS_SOURCES_DIR "${_moe_models_root}/examples")
  set_property(GLOBAL PROPERTY MOE_MODELS_TOOL_DIR "${_moe_models_root}/tools")
  unset(_moe_models_root)
endif()

# The moe_card generator, built once per build tree for the host.
function(_moe_card_command out_var)
  if(MOE_CARD_EXECUTABLE)
    set(${out_var} "${MOE_CARD_EXECUTABLE}" PARENT_SCOPE)
    return()
  endif()
  if(NOT TARGET moe_card)
    if(NOT TARGET moe::io)
      message(FATAL_ERROR "moe_models: moe::io is not available (nlohmann_json not found); moe_card needs it")
    endif()
    get_property(_tools GLOBAL PROPERTY MOE_MODELS_TOOL_DIR)
    add_executable(moe_card "${_tools}/moe_card.cpp")
    target_link_libraries(moe_card PRIVATE moe::io)
  endif()
  set(${out_var} moe_card PARENT_SCOPE)
endfunction()

function(moe_model_header out)
  cmake_parse_arguments(PARSE_ARGV 1 ARG "RELEASED" "WEIGHTS;TARGET" "CHECKPOINTS")
  if(ARG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "moe_model_header: unknown arguments '${ARG_UNPARSED_ARGUMENTS}'")
  endif()
  if(NOT ARG_CHECKPOINTS AND NOT ARG_RELEASED)
    message(FATAL_ERROR "moe_model_header(${out}): give CHECKPOINTS dir... (or RELEASED)")
  endif()
  _moe_card_command(_card)
  set(_dirs)
  set(_depends)
  foreach(_dir IN LISTS ARG_CHECKPOINTS)
    get_filename_component(_dir "${_dir}" ABSOLUTE)
    if(EXISTS "${_dir}" AND NOT IS_DIRECTORY "${_dir}")
      list(APPEND _depends "${_dir}")  # a GGUF file: its metadata is the config (moe_card refuses any other file)
    elseif(EXISTS "${_dir}/config.json")
      list(APPEND _depends "${_dir}/config.json")
    else()
      message(FATAL_ERROR "moe_model_header(${out}): ${_dir} is neither a checkpoint directory with config.json nor "
                          "a GGUF file")
    endif()
    list(APPEND _dirs "${_dir}")
  endforeach()
  set(_flags)
  if(ARG_RELEASED)
    list(APPEND _flags --released)
  endif()
  if(ARG_WEIGHTS)
    list(APPEND _flags --weights ${ARG_WEIGHTS})
  endif()
  add_custom_command(OUTPUT "${out}"
    COMMAND ${_card} --header "${out}" ${_flags} ${_dirs}
    DEPENDS ${_card} ${_depends}
    COMMENT "moe_card: model types for ${out}"
    VERBATIM)
  if(ARG_TARGET)
    target_sources(${ARG_TARGET} PRIVATE "${out}")
    target_compile_definitions(${ARG_TARGET} PRIVATE "MOE_MODELS_HEADER=\"${out}\"")
  endif()
endfunction()

# SOURCE: moe_cli (default), next_token, or a path to your own program including MOE_MODELS_HEADER.
function(moe_add_model_executable name)
  cmake_parse_arguments(PARSE_ARGV 1 ARG "RELEASED" "SOURCE;WEIGHTS" "CHECKPOINTS")
  if(ARG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "moe_add_model_executable(${name}): unknown arguments '${ARG_UNPARSED_ARGUMENTS}'")
  endif()
  if(NOT TARGET moe::cpu OR NOT TARGET moe::io)
    message(FATAL_ERROR "moe_add_model_executable(${name}): needs moe::cpu (Eigen 3.4) and moe::io (nlohmann_json)")
  endif()
  get_property(_sources GLOBAL PROPERTY MOE_MODELS_SOURCES_DIR)
  if(NOT ARG_SOURCE OR ARG_SOURCE STREQUAL "moe_cli")
    set(_source "${_sources}/moe_cli.cpp")
  elseif(ARG_SOURCE STREQUAL "next_token")
    set(_source "${_sources}/next_token.cpp")
  else()
    get_filename_component(_source "${ARG_SOURCE}" ABSOLUTE)
  endif()
  set(_flags)
  if(ARG_RELEASED)
    list(APPEND _flags RELEASED)
  endif()
  if(ARG_WEIGHTS)
    list(APPEND _flags WEIGHTS ${ARG_WEIGHTS})
  endif()
  add_executable(${name} "${_source}")
  target_link_libraries(${name} PRIVATE moe::cpu moe::io)
  moe_model_header("${CMAKE_CURRENT_BINARY_DIR}/${name}_models.hpp" CHECKPOINTS ${ARG_CHECKPOINTS} ${_flags}
                   TARGET ${name})
endfunction()
