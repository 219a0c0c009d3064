# focal_quadmath: an interface target giving __float128's <quadmath.h> and libquadmath, for the
# binary128 reference of the tests and the accuracy table. g++ finds the header by itself;
# clang needs gcc's private include directory, where Debian puts it.
if(TARGET focal_quadmath)
  return()
endif()
include(CheckIncludeFileCXX)
check_include_file_cxx(quadmath.h FOCAL_HAVE_QUADMATH_H)
file(GLOB _focal_gcc_includes /usr/lib/gcc/*/*/include)
find_path(FOCAL_QUADMATH_INCLUDE_DIR quadmath.h PATHS ${_focal_gcc_includes} NO_DEFAULT_PATH)
if(NOT FOCAL_HAVE_QUADMATH_H AND NOT FOCAL_QUADMATH_INCLUDE_DIR)
  message(FATAL_ERROR "focal's tests need quadmath.h and libquadmath (g++ on x86-64 has them)")
endif()
add_library(focal_quadmath INTERFACE)
target_link_libraries(focal_quadmath INTERFACE quadmath)
if(NOT FOCAL_HAVE_QUADMATH_H)
  # -idirafter, not -isystem: that directory also holds gcc's own stdlib wrappers, which must
  # not shadow clang's.
  target_compile_options(focal_quadmath INTERFACE "-idirafter${FOCAL_QUADMATH_INCLUDE_DIR}")
endif()
