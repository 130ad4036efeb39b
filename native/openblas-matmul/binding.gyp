{
  "targets": [
    {
      "target_name": "openblas_matmul",
      "sources": ["openblas_matmul.c"],
      "cflags": ["-O2", "-std=c11", "-Wall", "-Wextra"],
      "defines": ["NAPI_VERSION=8"],
      "libraries": [
        "-L/lib/x86_64-linux-gnu",
        "-L/usr/lib/x86_64-linux-gnu",
        "-l:libopenblas.so.0"
      ]
    }
  ]
}
