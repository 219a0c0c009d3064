# focal_local_object(<object-library> <symbol> <output>): links the objects of <object-library>
# into one relocatable object <output> (ld -r) with its COMDAT groups dissolved, and makes every
# symbol in it local but <symbol>. Objects compiled with other -m flags than the rest of a
# program can then be linked into it: none of their inline functions (Eigen's, the standard
# library's), compiled with those flags, can stand in for another object's copy.
# GCC marks the static variables of inline functions STB_GNU_UNIQUE, which objcopy leaves
# global: -fno-gnu-unique makes them weak, and so local here, like the rest.
function(focal_local_object target symbol output)
  target_compile_options(${target} PRIVATE $<$<CXX_COMPILER_ID:GNU>:-fno-gnu-unique>)
  add_custom_command(OUTPUT "${output}"
    COMMAND "${CMAKE_CXX_COMPILER}" -r -nostdlib -Wl,--force-group-allocation
            -o "${output}.partial" "$<TARGET_OBJECTS:${target}>"
    COMMAND "${CMAKE_OBJCOPY}" "--keep-global-symbol=${symbol}" "${output}.partial" "${output}"
    DEPENDS ${target} "$<TARGET_OBJECTS:${target}>"
    COMMENT "${target}: one object, its symbols local but ${symbol}"
    COMMAND_EXPAND_LISTS VERBATIM)
  set_source_files_properties("${output}" PROPERTIES EXTERNAL_OBJECT TRUE GENERATED TRUE)
endfunction()
