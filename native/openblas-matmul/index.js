'use strict';
// The compiled addon; require() throws when it was not built (no OpenBLAS, no compiler), and the
// caller (src/backend/blas.ts) treats that as "use the pure wasm kernel".
module.exports = require('./build/Release/openblas_matmul.node');
