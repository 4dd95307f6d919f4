# kprcnn_warnings(target): the project's warning set, errors only when KPRCNN_WERROR is on.
function(kprcnn_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow)
  if(KPRCNN_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
