# Source rules no compiler checks (cmake -DSOURCE_DIR=<repo> -P lint.cmake; a CTest test):
#  - headers: a namespace-scope constexpr variable must be inline (otherwise each translation
#    unit has its own, and an inline function that binds one by reference, as std::min does,
#    is an ODR violation); no using-directive at namespace scope (it would pull a namespace
#    into every file that includes focal). focal's headers do not indent namespace contents,
#    so namespace scope is column 0.
#  - comments in headers, tests, benchmarks and examples cite only files the repository has,
#    and no issue tracker ("the issue's bound" means nothing to a reader of the code).
cmake_minimum_required(VERSION 3.16)
if(NOT SOURCE_DIR)
  message(FATAL_ERROR "lint.cmake: pass -DSOURCE_DIR=<repository root>")
endif()

set(problems "")
file(GLOB_RECURSE headers "${SOURCE_DIR}/include/*.hpp")
file(GLOB_RECURSE sources
  "${SOURCE_DIR}/include/*.hpp" "${SOURCE_DIR}/tests/*.hpp" "${SOURCE_DIR}/tests/*.cpp"
  "${SOURCE_DIR}/benchmarks/*.hpp" "${SOURCE_DIR}/benchmarks/*.cpp" "${SOURCE_DIR}/benchmarks/*.py"
  "${SOURCE_DIR}/examples/*.cpp" "${SOURCE_DIR}/tools/*.cpp" "${SOURCE_DIR}/tools/*.py"
  "${SOURCE_DIR}/src/*.cpp" "${SOURCE_DIR}/src/*.hpp")
file(GLOB_RECURSE repository_files RELATIVE "${SOURCE_DIR}"
  "${SOURCE_DIR}/include/*" "${SOURCE_DIR}/tests/*" "${SOURCE_DIR}/benchmarks/*"
  "${SOURCE_DIR}/examples/*" "${SOURCE_DIR}/cmake/*" "${SOURCE_DIR}/docs/*" "${SOURCE_DIR}/tools/*"
  "${SOURCE_DIR}/src/*"
  "${SOURCE_DIR}/*.md"
  "${SOURCE_DIR}/CMakeLists.txt" "${SOURCE_DIR}/CMakePresets.json")
# Other projects' files, cited as the source of a convention or formula.
set(foreign_prefixes "torchvision/" "aten/" "detectron" "mmcv/" "mmdet/")

foreach(path IN LISTS sources)
  file(RELATIVE_PATH rel "${SOURCE_DIR}" "${path}")
  # Lines as a list: semicolons (list separators) and brackets (which stop CMake's splitting
  # of a list) replaced first.
  file(READ "${path}" content)
  string(REPLACE ";" "," content "${content}")
  string(REPLACE "[" "(" content "${content}")
  string(REPLACE "]" ")" content "${content}")
  string(REPLACE "\\" "/" content "${content}")
  string(REPLACE "\n" ";" lines "${content}")
  list(FIND headers "${path}" header_index)
  set(number 0)
  foreach(line IN LISTS lines)
    math(EXPR number "${number} + 1")
    if(NOT header_index EQUAL -1)
      if(line MATCHES "^(template <[^>]*> *)?constexpr [^(]*[=;{]")
        list(APPEND problems "${rel}:${number}: namespace-scope constexpr variable without inline")
      endif()
      if(line MATCHES "^using namespace")
        list(APPEND problems "${rel}:${number}: using-directive at namespace scope")
      endif()
    endif()
    string(FIND "${line}" "//" comment_at)
    if(path MATCHES "\\.py$")
      string(FIND "${line}" "#" comment_at)
    endif()
    if(comment_at EQUAL -1 OR line MATCHES "^#include")
      continue()
    endif()
    string(SUBSTRING "${line}" ${comment_at} -1 comment)
    if(comment MATCHES "[Tt]he ([a-z]+ )?issue('s)?[ .,:)]|issue:")
      list(APPEND problems "${rel}:${number}: comment cites an issue: ${comment}")
    endif()
    string(REGEX MATCHALL "[A-Za-z0-9_./-]+\\.(md|hpp|cpp|py)" cited "${comment}")
    foreach(file IN LISTS cited)
      string(REGEX REPLACE "^(\\./|\\.\\./)+" "" file "${file}")
      set(foreign OFF)
      foreach(prefix IN LISTS foreign_prefixes)
        string(FIND "${file}" "${prefix}" at)
        if(at EQUAL 0)
          set(foreign ON)
        endif()
      endforeach()
      if(foreign)
        continue()
      endif()
      set(found OFF)
      foreach(candidate IN LISTS repository_files)
        if(candidate STREQUAL file OR candidate MATCHES "/${file}$")
          set(found ON)
          break()
        endif()
      endforeach()
      if(NOT found)
        list(APPEND problems "${rel}:${number}: comment cites ${file}, which the repository does not have")
      endif()
    endforeach()
  endforeach()
endforeach()

if(problems)
  list(LENGTH problems count)
  string(REPLACE ";" "\n  " text "${problems}")
  message(FATAL_ERROR "lint: ${count} problem(s):\n  ${text}")
endif()
message(STATUS "lint: no problems")
