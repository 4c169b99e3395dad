# Warnings and sanitizers applied to every libchat target.

# The targets whose code the fuzz harnesses exercise (the protocol and upload paths run through the
# core and the server): only these get libFuzzer's coverage instrumentation (-fsanitize=fuzzer-no-link).
# Elsewhere (tests, tools, Asio) it would only cost compile time and feed the fuzzer nothing.
set(LIBCHAT_FUZZ_COVERAGE_TARGETS libchat_core libchat_server libchat_fuzz_world)

# Unity builds, made here rather than with CMake's UNITY_BUILD: CMake (3.25) writes each batch as
# #include "/absolute/path/of/the/source.cc", so the batch's text, which ccache hashes, differs in
# every clone, and a clone in another folder (CI clones to a new folder each time) missed the cache
# for every batch. These batches include their sources by a path relative to the batch file, and
# ccache's base_dir makes the rest of the command line relative: a clone anywhere hits the cache.
#
# libchat_unity_batch(target size): compile target's C++ sources in batches of size files (0: all
# in one). Recorded here, done by libchat_unity_make_batches() at the end of the top-level
# CMakeLists.txt, once every target_sources() has run.
function(libchat_unity_batch target size)
  set_property(TARGET ${target} PROPERTY LIBCHAT_UNITY_BATCH ${size})
  set_property(GLOBAL APPEND PROPERTY LIBCHAT_UNITY_TARGETS ${target})
endfunction()

# libchat_no_unity_batch(target): each source its own translation unit after all (e.g. a check that
# each header compiles alone).
function(libchat_no_unity_batch target)
  set_property(TARGET ${target} PROPERTY LIBCHAT_UNITY_BATCH "")
endfunction()

# libchat_unity_whole(target): the whole of a library in one batch (with LIBCHAT_UNITY_BUILD), for
# those where the files share most of their templates. libchat_server (27 files): 4 batches of 8
# took 81 CPU s at gcc -O2 and 72 s with clang ASan at -O0, one batch 52 s and 48 s (-35 %): Beast's,
# Asio's and nlohmann/json's templates are instantiated and compiled once instead of in every batch.
# Only where no two files define the same name in an anonymous namespace (the batch would not
# compile): helpers that two files need live in an internal header (denials.h, pg_rows.h, paging.h).
function(libchat_unity_whole target)
  if(LIBCHAT_UNITY_BUILD)
    libchat_unity_batch(${target} 0)
  endif()
endfunction()

function(libchat_unity_make_batches)
  get_property(targets GLOBAL PROPERTY LIBCHAT_UNITY_TARGETS)
  list(REMOVE_DUPLICATES targets)
  foreach(target IN LISTS targets)
    get_target_property(size ${target} LIBCHAT_UNITY_BATCH)
    if(size STREQUAL "" OR NOT size MATCHES "^[0-9]+$")
      continue()
    endif()
    get_target_property(sources ${target} SOURCES)
    get_target_property(source_dir ${target} SOURCE_DIR)
    get_target_property(binary_dir ${target} BINARY_DIR)
    set(batch_dir ${binary_dir}/unity/${target})
    set(kept "")
    set(units "")
    foreach(src IN LISTS sources)
      # Generator expressions, headers and sources marked SKIP_UNITY_BUILD_INCLUSION (as for CMake's
      # unity builds) stay as they are.
      if(src MATCHES "\\$<" OR NOT src MATCHES "\\.(cc|cpp|cxx)$")
        list(APPEND kept ${src})
        continue()
      endif()
      cmake_path(ABSOLUTE_PATH src BASE_DIRECTORY ${source_dir} NORMALIZE)
      get_source_file_property(skip ${src} TARGET_DIRECTORY ${target} SKIP_UNITY_BUILD_INCLUSION)
      if(skip)
        list(APPEND kept ${src})
        continue()
      endif()
      list(APPEND units ${src})
    endforeach()
    list(LENGTH units count)
    if(count LESS 2)
      continue()
    endif()
    if(size EQUAL 0)
      set(size ${count})
    endif()
    set(batches "")
    set(text "")
    set(in_batch 0)
    set(index 0)
    foreach(src IN LISTS units)
      file(RELATIVE_PATH rel ${batch_dir} ${src})
      string(APPEND text "#include \"${rel}\"\n")
      math(EXPR in_batch "${in_batch} + 1")
      math(EXPR index "${index} + 1")
      # The batch is full, or this is the target's last source: write it (file(CONFIGURE) leaves an
      # unchanged batch untouched, so a reconfigure rebuilds nothing).
      if(in_batch EQUAL size OR index EQUAL count)
        list(LENGTH batches n)
        set(batch ${batch_dir}/unity_${n}.cc)
        file(CONFIGURE OUTPUT ${batch} CONTENT "/* libchat_unity_batch: ${target} */\n${text}" @ONLY)
        list(APPEND batches ${batch})
        set(text "")
        set(in_batch 0)
      endif()
    endforeach()
    set_property(TARGET ${target} PROPERTY SOURCES ${kept} ${batches})
  endforeach()
endfunction()

function(libchat_target_defaults target)
  if(LIBCHAT_UNITY_BUILD)
    libchat_unity_batch(${target} ${LIBCHAT_UNITY_BATCH})
  endif()
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wno-missing-field-initializers)
  if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    # Checks the GUARDED_BY/REQUIRES annotations (docs/architecture.md, B4 of the style guide).
    target_compile_options(${target} PRIVATE -Wthread-safety)
  endif()
  if(LIBCHAT_WARNINGS_AS_ERRORS)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  if(LIBCHAT_SANITIZE)
    # Test code (libchat_test_target_defaults) is instrumented only with LIBCHAT_SANITIZE_TEST_CODE;
    # it always links the runtime, so the code under test reports as before.
    get_target_property(test_code ${target} LIBCHAT_TEST_CODE)
    if(NOT test_code OR LIBCHAT_SANITIZE_TEST_CODE)
      # Stop at the first report (UBSan would otherwise print and go on, and the test would pass).
      target_compile_options(${target} PRIVATE -fsanitize=${LIBCHAT_SANITIZE} -fno-sanitize-recover=all
                                               -fno-omit-frame-pointer)
    endif()
    target_link_options(${target} PRIVATE -fsanitize=${LIBCHAT_SANITIZE})
  endif()
  if(LIBCHAT_FUZZ AND target IN_LIST LIBCHAT_FUZZ_COVERAGE_TARGETS)
    target_compile_options(${target} PRIVATE -fsanitize=fuzzer-no-link)
  endif()
endfunction()
