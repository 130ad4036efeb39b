{
  "targets": [
    {
      "target_name": "openblas_matmul",
      "sources": ["openblas_matmul.c", "swish_dense.c", "adam.c", "reduce.c", "conv_same.c", "layer_norm.c", "relu_dense.c", "elementwise.c", "film_swish.c", "scratch.c", "winograd.c"],
      "cflags": ["-O3", "-std=c11", "-ffp-contract=off", "-fno-trapping-math", "-fno-math-errno", "-Wall", "-Wextra"],
      "defines": ["NAPI_VERSION=8"],
      "libraries": [
        "-L/lib/x86_64-linux-gnu",
        "-L/usr/lib/x86_64-linux-gnu",
        "-l:libopenblas.so.0",
        "-lm"
      ]
    }
  ]
}
