"""Run-time specialisation of the CUDA kernels: codegen -> compiler -> disk cache -> driver launch."""
