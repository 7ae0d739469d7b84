# moe_card on files that are not an MoE model's GGUF (ctest: moe_card_gguf_errors): exit status 1 and one line
# naming the file and the problem, for a 10-byte file (written here), a text file named .gguf, a big-endian GGUF, a
# GGUF of another architecture (tests/data/gguf/reference.gguf, gguf-py's "test") and a missing .gguf.
#   cmake -DCARD=<moe_card> -DDATA=<tests/data> -DWORK=<scratch dir> -P moe_card_gguf_errors.cmake
file(MAKE_DIRECTORY "${WORK}")
file(WRITE "${WORK}/ten_bytes.gguf" "GGUF345678")  # the magic, then a version no reader knows
file(WRITE "${WORK}/text.gguf" "not a model\n")
set(cases
  "${WORK}/ten_bytes.gguf" "GGUF version 909456435 is newer than this reader"
  "${WORK}/text.gguf" "not a GGUF file: it starts with 'not '"
  "${DATA}/gguf/big_endian.gguf" "big-endian GGUF file"
  "${DATA}/gguf/reference.gguf" "general.architecture is \"test\", not one moe reads"
  "${WORK}/missing.gguf" "cannot open")
list(LENGTH cases n)
math(EXPR last "${n} - 1")
foreach(i RANGE 0 ${last} 2)
  math(EXPR j "${i} + 1")
  list(GET cases ${i} file)
  list(GET cases ${j} expected)
  execute_process(COMMAND "${CARD}" "${file}" OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
  string(FIND "${err}" "moe_card: ${file}: " named)
  string(FIND "${err}" "${expected}" found)
  if(NOT rc EQUAL 1 OR NOT named EQUAL 0 OR found EQUAL -1 OR NOT out STREQUAL "")
    message(FATAL_ERROR "moe_card ${file}: exit ${rc}, expected 1 and 'moe_card: ${file}: ...${expected}...':\n${out}${err}")
  endif()
  message("${err}")
endforeach()
