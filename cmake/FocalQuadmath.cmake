# focal_quadmath: an interface target giving __float128's <quadmath.h> and libquadmath, for the
# binary128 reference of the accuracy tests and the accuracy table. g++ finds the header by
# itself; clang needs gcc's private include directory, where Debian puts it. Where the compiler
# has no __float128 (or FOCAL_QUADMATH is OFF), FOCAL_HAVE_QUADMATH is OFF and the tests that
# need the reference are left out: the library itself does not need it.
include_guard(GLOBAL)
option(FOCAL_QUADMATH "Test accuracy against a __float128 reference where the compiler has it" ON)
set(FOCAL_HAVE_QUADMATH OFF CACHE INTERNAL "__float128 and libquadmath usable")
if(FOCAL_QUADMATH)
  include(CheckIncludeFileCXX)
  include(CheckCXXSourceCompiles)
  check_include_file_cxx(quadmath.h FOCAL_HAVE_QUADMATH_H)
  file(GLOB _focal_gcc_includes /usr/lib/gcc/*/*/include)
  find_path(FOCAL_QUADMATH_INCLUDE_DIR quadmath.h PATHS ${_focal_gcc_includes} NO_DEFAULT_PATH)
  set(_focal_quadmath_flags "")
  if(NOT FOCAL_HAVE_QUADMATH_H AND FOCAL_QUADMATH_INCLUDE_DIR)
    # -idirafter, not -isystem: that directory also holds gcc's own stdlib wrappers, which must
    # not shadow clang's.
    set(_focal_quadmath_flags "-idirafter${FOCAL_QUADMATH_INCLUDE_DIR}")
  endif()
  if(FOCAL_HAVE_QUADMATH_H OR FOCAL_QUADMATH_INCLUDE_DIR)
    set(CMAKE_REQUIRED_FLAGS "${_focal_quadmath_flags}")
    set(CMAKE_REQUIRED_LIBRARIES quadmath)
    check_cxx_source_compiles([[
      #include <quadmath.h>
      int main() { __float128 x = 2; return int(sqrtq(x) > 1); }]] FOCAL_QUADMATH_LINKS)
    unset(CMAKE_REQUIRED_FLAGS)
    unset(CMAKE_REQUIRED_LIBRARIES)
    if(FOCAL_QUADMATH_LINKS)
      add_library(focal_quadmath INTERFACE)
      target_link_libraries(focal_quadmath INTERFACE quadmath)
      if(_focal_quadmath_flags)
        target_compile_options(focal_quadmath INTERFACE "${_focal_quadmath_flags}")
      endif()
      set(FOCAL_HAVE_QUADMATH ON CACHE INTERNAL "__float128 and libquadmath usable")
    endif()
  endif()
endif()
if(NOT FOCAL_HAVE_QUADMATH)
  message(WARNING "focal: no __float128 with libquadmath for this compiler (or FOCAL_QUADMATH "
    "is OFF): the accuracy tests against the binary128 reference are skipped")
endif()
