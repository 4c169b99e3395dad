# Warnings and sanitizers applied to every libchat target.
function(libchat_target_defaults target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wno-missing-field-initializers)
  if(LIBCHAT_WARNINGS_AS_ERRORS)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  if(LIBCHAT_SANITIZE)
    # Stop at the first report (UBSan would otherwise print and go on, and the test would pass).
    target_compile_options(${target} PRIVATE -fsanitize=${LIBCHAT_SANITIZE} -fno-sanitize-recover=all
                                             -fno-omit-frame-pointer)
    target_link_options(${target} PRIVATE -fsanitize=${LIBCHAT_SANITIZE})
  endif()
  if(LIBCHAT_FUZZ)
    # Coverage feedback for libFuzzer from every libchat target the harnesses link, not only from
    # the harnesses themselves.
    target_compile_options(${target} PRIVATE -fsanitize=fuzzer-no-link)
  endif()
endfunction()
