/* tools/kquant_reference_driver.c — runs llama.cpp's own reference quantizers (ggml-quants.c) on a file of floats.
 *
 * Built and run by tools/make_kquant_reference.py, which compiles it together with llama.cpp's
 * ggml/src/ggml-quants.c (nothing else of ggml is needed: the few ggml.c functions ggml-quants.c links against
 * are stubbed below and never called by these quantizers):
 *     gcc -std=c11 -O2 -ffp-contract=off -I ggml/include -I ggml/src kquant_reference_driver.c ggml-quants.c -lm
 * Usage: driver TYPE IN.f32 OUT.bin, TYPE one of q4_0 q5_0 q4_K q5_K q6_K q8_K. IN holds k float32 values (k a multiple
 * of 256); OUT gets the blocks of quantize_row_<TYPE>_ref(IN, OUT, k), the output buffer zeroed first (Q8_K leaves
 * the bsums of an all-zero block unwritten). x86 llama.cpp's quantize_row_q8_K (ggml-cpu/arch/x86/quants.c) is
 * quantize_row_q8_K_ref. */
#define GGML_COMMON_DECL_C
#include "ggml-common.h"
#include "ggml-quants.h"
#include "ggml.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ggml_abort(const char* file, int line, const char* fmt, ...) {
    va_list args;
    va_start(args, fmt);
    fprintf(stderr, "%s:%d: ", file, line);
    vfprintf(stderr, fmt, args);
    va_end(args);
    abort();
}
size_t ggml_row_size(enum ggml_type type, int64_t ne) { (void)type; (void)ne; abort(); }
size_t ggml_type_size(enum ggml_type type) { (void)type; abort(); }
const char* ggml_type_name(enum ggml_type type) { (void)type; abort(); }

int main(int argc, char** argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s q4_0|q5_0|q4_K|q5_K|q6_K|q8_K IN.f32 OUT.bin\n", argv[0]);
        return 2;
    }
    FILE* in = fopen(argv[2], "rb");
    if (!in) return perror(argv[2]), 1;
    fseek(in, 0, SEEK_END);
    const long bytes = ftell(in);
    fseek(in, 0, SEEK_SET);
    const int64_t k = bytes / 4;
    if (k <= 0 || k % QK_K != 0) return fprintf(stderr, "%s: %ld bytes, not a multiple of 1024\n", argv[2], bytes), 1;
    float* x = malloc((size_t)bytes);
    if (fread(x, 1, (size_t)bytes, in) != (size_t)bytes) return perror(argv[2]), 1;
    fclose(in);

    size_t out_bytes;
    void* out;
    const char* type = argv[1];
#define RUN(name, block, qk)                                           \
    if (strcmp(type, name) == 0) {                                     \
        out_bytes = (size_t)(k / (qk)) * sizeof(block);                \
        out = calloc(1, out_bytes);                                    \
    } else
    RUN("q4_0", block_q4_0, QK4_0)
    RUN("q5_0", block_q5_0, QK5_0)
    RUN("q4_K", block_q4_K, QK_K)
    RUN("q5_K", block_q5_K, QK_K)
    RUN("q6_K", block_q6_K, QK_K)
    RUN("q8_K", block_q8_K, QK_K)
    return fprintf(stderr, "unknown type %s\n", type), 2;
#undef RUN
    if (strcmp(type, "q4_0") == 0) quantize_row_q4_0_ref(x, out, k);
    if (strcmp(type, "q5_0") == 0) quantize_row_q5_0_ref(x, out, k);
    if (strcmp(type, "q4_K") == 0) quantize_row_q4_K_ref(x, out, k);
    if (strcmp(type, "q5_K") == 0) quantize_row_q5_K_ref(x, out, k);
    if (strcmp(type, "q6_K") == 0) quantize_row_q6_K_ref(x, out, k);
    if (strcmp(type, "q8_K") == 0) quantize_row_q8_K_ref(x, out, k);

    FILE* o = fopen(argv[3], "wb");
    if (!o || fwrite(out, 1, out_bytes, o) != out_bytes) return perror(argv[3]), 1;
    fclose(o);
    free(out);
    free(x);
    return 0;
}
