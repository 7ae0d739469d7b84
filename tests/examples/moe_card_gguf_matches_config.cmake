# moe_card reads a GGUF file as the config.json it came from (ctest: moe_card_gguf_matches_config): for every
# tests/data/gguf_models/<source>_<outtype>.gguf (llama.cpp's convert_hf_to_gguf.py output of
# tests/data/models/<source>, tools/make_gguf_models.py) the card equals the card of that checkpoint directory, field for
# field (the weight format fixed by --weights, since the file may be quantized). The directory's card is the
# config.json path, itself checked against hand-written cards (test_moe_card).
#   cmake -DCARD=<moe_card> -DDATA=<tests/data> -P moe_card_gguf_matches_config.cmake

cmake_policy(VERSION 3.25)  # script mode: IN_LIST and the other modern if() operators

# The card line moe_card prints for `source` → `var` (a string, not a list: a card holds semicolons).
function(card_of var source)
  execute_process(COMMAND "${CARD}" "${source}" --name my_model --weights fp32
                  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0 OR NOT out MATCHES "(inline constexpr moe::[a-z0-9_]+_config my_model\\{[^\n]*\\};)\n")
    message(FATAL_ERROR "moe_card ${source} exited with ${rc}, no card:\n${out}\n${err}")
  endif()
  set(${var} "${CMAKE_MATCH_1}" PARENT_SCOPE)
endfunction()

file(GLOB ggufs "${DATA}/gguf_models/*.gguf")
set(families "")
foreach(gguf IN LISTS ggufs)
  get_filename_component(name "${gguf}" NAME_WE)
  if(NOT name MATCHES "^(.+)_(f32|f16|bf16|q8_0)$")
    message(FATAL_ERROR "${gguf}: not named <source checkpoint>_<outtype>.gguf")
  endif()
  set(source "${CMAKE_MATCH_1}")
  card_of(from_gguf "${gguf}")
  card_of(from_config "${DATA}/models/${source}")
  if(NOT from_gguf STREQUAL from_config)
    message(FATAL_ERROR "${source}: the GGUF file's card differs from config.json's:\n  ${from_gguf}\n  ${from_config}")
  endif()
  message("${source}: same card")
  string(REGEX REPLACE "_(hd32|kv32)$" "" family "${source}")
  list(APPEND families "${family}")
endforeach()
foreach(family deepseek_v2 deepseek_v3 mixtral olmoe qwen2_moe qwen3_moe)  # every family has a file
  if(NOT family IN_LIST families)
    message(FATAL_ERROR "no ${DATA}/gguf_models/${family}_*.gguf")
  endif()
endforeach()
