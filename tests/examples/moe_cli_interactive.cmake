# Drives moe_cli's interactive chat from a file with a small context (ctest: moe_cli_interactive_context).
#   cmake -DCLI=<moe_cli> -DCHECKPOINT=<dir> -DINPUT=<one message per line> -P moe_cli_interactive.cmake
# The conversation outgrows the 48-token context: the oldest messages must be dropped with a notice on stderr (the
# system prompt kept), a message too long on its own skipped, and every other message answered; exit status 0.
execute_process(COMMAND "${CLI}" "${CHECKPOINT}" -c 48 -n 6 --temp 0 -sys "Be brief."
                INPUT_FILE "${INPUT}" OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
message("stdout:\n${out}\nstderr:\n${err}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "moe_cli exited with ${rc}, expected 0")
endif()
file(STRINGS "${INPUT}" lines)
list(LENGTH lines messages)
math(EXPR expected "${messages} - 1")  # one message is too long on its own
string(REGEX MATCHALL "finish: [a-z_]+" answers "${out}")
list(LENGTH answers answered)
if(NOT answered EQUAL expected)
  message(FATAL_ERROR "${answered} answers for ${messages} messages, expected ${expected}")
endif()
if(NOT err MATCHES "outgrew the context of 48 tokens: dropped the [0-9]+ oldest message\\(s\\), kept the system prompt")
  message(FATAL_ERROR "no notice of dropped messages on stderr")
endif()
if(NOT err MATCHES "the prompt is [0-9]+ tokens, the context holds 48 .*; message skipped")
  message(FATAL_ERROR "the over-long message was not reported as skipped")
endif()
