# moe_card reads a GGUF file as the config.json it came from (ctest: moe_card_gguf_matches_config): for each family,
# the card of tests/data/gguf_models/<family>_*.gguf (llama.cpp's convert_hf_to_gguf.py output of
# tests/data/models/<family>, tools/make_gguf_models.py) equals the card of that checkpoint directory, field for
# field (the weight format fixed by --weights, since the file may be quantized). The directory's card is the
# config.json path, itself checked against hand-written cards (test_moe_card).
#   cmake -DCARD=<moe_card> -DDATA=<tests/data> -P moe_card_gguf_matches_config.cmake

# The card line moe_card prints for `source` → `var` (a string, not a list: a card holds semicolons).
function(card_of var source)
  execute_process(COMMAND "${CARD}" "${source}" --name my_model --weights fp32
                  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0 OR NOT out MATCHES "(inline constexpr moe::[a-z0-9_]+_config my_model\\{[^\n]*\\};)\n")
    message(FATAL_ERROR "moe_card ${source} exited with ${rc}, no card:\n${out}\n${err}")
  endif()
  set(${var} "${CMAKE_MATCH_1}" PARENT_SCOPE)
endfunction()

foreach(family deepseek_v2 deepseek_v3 mixtral olmoe qwen2_moe qwen3_moe)
  file(GLOB gguf "${DATA}/gguf_models/${family}_*.gguf")
  list(LENGTH gguf n)
  if(NOT n EQUAL 1)
    message(FATAL_ERROR "expected one ${DATA}/gguf_models/${family}_*.gguf, found ${n}")
  endif()
  card_of(from_gguf "${gguf}")
  card_of(from_config "${DATA}/models/${family}")
  if(NOT from_gguf STREQUAL from_config)
    message(FATAL_ERROR "${family}: the GGUF file's card differs from config.json's:\n  ${from_gguf}\n  ${from_config}")
  endif()
  message("${family}: same card")
endforeach()
