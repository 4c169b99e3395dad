# Warnings and sanitizers applied to every libchat target.

# The targets whose code the fuzz harnesses exercise (the protocol and upload paths run through the
# core and the server): only these get libFuzzer's coverage instrumentation (-fsanitize=fuzzer-no-link).
# Elsewhere (tests, tools, Asio) it would only cost compile time and feed the fuzzer nothing.
set(LIBCHAT_FUZZ_COVERAGE_TARGETS libchat_core libchat_server libchat_fuzz_world)

function(libchat_target_defaults target)
  if(LIBCHAT_UNITY_BUILD)
    set_target_properties(${target} PROPERTIES UNITY_BUILD ON UNITY_BUILD_BATCH_SIZE ${LIBCHAT_UNITY_BATCH})
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
    # Stop at the first report (UBSan would otherwise print and go on, and the test would pass).
    target_compile_options(${target} PRIVATE -fsanitize=${LIBCHAT_SANITIZE} -fno-sanitize-recover=all
                                             -fno-omit-frame-pointer)
    target_link_options(${target} PRIVATE -fsanitize=${LIBCHAT_SANITIZE})
  endif()
  if(LIBCHAT_FUZZ AND target IN_LIST LIBCHAT_FUZZ_COVERAGE_TARGETS)
    target_compile_options(${target} PRIVATE -fsanitize=fuzzer-no-link)
  endif()
endfunction()
