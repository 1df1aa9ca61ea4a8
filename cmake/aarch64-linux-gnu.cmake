# Cross-compiling for linux-arm64 on an x86-64 Debian/Ubuntu host (`npm run prebuild:arm64`; CPU
# only: there is no aarch64 CUDA toolkit on the build host).  Debian's aarch64 cross toolchain
# (apt: g++-aarch64-linux-gnu) supplies the target's glibc, libstdc++, libgcc, binutils and linker
# under /usr/aarch64-linux-gnu; Clang compiles, for that toolchain (--target=aarch64-linux-gnu).
# Why not aarch64-linux-gnu-g++ itself: GCC 12 lowers comparisons, selects and shuffles of the
# kernels' 16-lane vector-extension types to scalar code on AArch64 (one fcmpe + fcsel per lane),
# so the CRPS sorting network and the vector exp would not be NEON code; Clang splits them into
# q-register NEON instructions (fcmgt, bif, fmin/fmax, uzp1, zip1).  The sources build with
# aarch64-linux-gnu-g++ too (FUSEDLOSS_CROSS_GCC=ON), just without that vectorization.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(FUSEDLOSS_CROSS_TRIPLE aarch64-linux-gnu)
option(FUSEDLOSS_CROSS_GCC "Compile with aarch64-linux-gnu-g++ instead of Clang" OFF)
if(FUSEDLOSS_CROSS_GCC)
  set(CMAKE_C_COMPILER ${FUSEDLOSS_CROSS_TRIPLE}-gcc)
  set(CMAKE_CXX_COMPILER ${FUSEDLOSS_CROSS_TRIPLE}-g++)
else()
  # Debian names Clang with its version (clang-14 in bookworm), the unversioned name only with the
  # `clang` package.
  find_program(FUSEDLOSS_CLANG NAMES clang clang-19 clang-18 clang-17 clang-16 clang-15 clang-14 REQUIRED)
  find_program(FUSEDLOSS_CLANGXX NAMES clang++ clang++-19 clang++-18 clang++-17 clang++-16 clang++-15 clang++-14 REQUIRED)
  set(CMAKE_C_COMPILER ${FUSEDLOSS_CLANG})
  set(CMAKE_CXX_COMPILER ${FUSEDLOSS_CLANGXX})
  set(CMAKE_C_COMPILER_TARGET ${FUSEDLOSS_CROSS_TRIPLE})
  set(CMAKE_CXX_COMPILER_TARGET ${FUSEDLOSS_CROSS_TRIPLE})
endif()
set(CMAKE_AR ${FUSEDLOSS_CROSS_TRIPLE}-ar CACHE FILEPATH "")
set(CMAKE_RANLIB ${FUSEDLOSS_CROSS_TRIPLE}-ranlib CACHE FILEPATH "")
set(CMAKE_STRIP ${FUSEDLOSS_CROSS_TRIPLE}-strip CACHE FILEPATH "")

# Headers and libraries from the target's root only; programs (cmake's own tools) from the host.
set(CMAKE_FIND_ROOT_PATH /usr/${FUSEDLOSS_CROSS_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
