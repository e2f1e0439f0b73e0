# Warnings and hardening applied to every target in the tree.
include(CheckPIESupported)
check_pie_supported()
set(CMAKE_POSITION_INDEPENDENT_CODE ON)

add_compile_options(
  -Wall -Wextra -Wformat=2 -Wformat-security -Wshadow -Wpointer-arith
  -Wcast-qual -Wstrict-prototypes -Wmissing-prototypes -Wvla
  -Wnull-dereference -Wimplicit-fallthrough -Wundef
  -fstack-protector-strong -fstack-clash-protection -fcf-protection=full
)
if(PAL_WERROR)
  add_compile_options(-Werror)
endif()

if(PAL_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
  if(PAL_FUZZ)
    # coverage for libFuzzer in every library the fuzz targets link
    add_compile_options(-fsanitize=fuzzer-no-link)
  endif()
else()
  # _FORTIFY_SOURCE needs optimisation and conflicts with ASan.
  add_compile_options($<$<NOT:$<CONFIG:Debug>>:-U_FORTIFY_SOURCE>
                      $<$<NOT:$<CONFIG:Debug>>:-D_FORTIFY_SOURCE=3>)
endif()

add_link_options(-Wl,-z,relro -Wl,-z,now -Wl,-z,noexecstack -Wl,--as-needed)
