{
  "targets": [
    {
      "target_name": "fusedloss",
      "sources": [
        "native/napi/addon.cc",
        "native/napi/args.cc",
        "native/napi/crps_binding.cc",
        "native/napi/kernel_call.cc",
        "native/napi/margin_binding.cc",
        "native/napi/pairs_binding.cc",
        "native/kernels/crps.cc",
        "native/kernels/crps_scalar.cc",
        "native/kernels/margin.cc",
        "native/kernels/margin_prepass.cc",
        "native/kernels/margin_epilogue.cc",
        "native/kernels/pairs_mine.cc",
        "native/kernels/pairs_loss.cc",
        "native/kernels/pairs_ms_row.cc",
        "native/kernels/pairs_distance_lanes.cc",
        "native/kernels/cuda_absent.cc",
        "native/runtime/gemm.cc",
        "native/runtime/gemm_bf16.cc",
        "native/runtime/memory.cc",
        "native/runtime/simd.cc",
        "native/runtime/thread_pool.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "native"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-O3", "-ffp-contract=off", "-fexceptions", "-Wno-psabi"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "OTHER_CPLUSPLUSFLAGS": ["-O3", "-ffp-contract=off"]
      },
      "msvs_settings": { "VCCLCompilerTool": { "ExceptionHandling": 1, "AdditionalOptions": ["/std:c++17"] } }
    }
  ]
}
