# keygen.cmake — create the build's signing key pair PREFIX.key/.pub with SIGTOOL, unless it
# exists. Half a pair is an error: regenerating would silently change the trusted key.
# Usage: cmake -DSIGTOOL=path -DPREFIX=path -P keygen.cmake
if(EXISTS ${PREFIX}.key AND EXISTS ${PREFIX}.pub)
  return()
endif()
if(EXISTS ${PREFIX}.key OR EXISTS ${PREFIX}.pub)
  message(FATAL_ERROR "only half of the key pair ${PREFIX}.key/.pub exists; "
                      "remove the other half to generate a new pair")
endif()
get_filename_component(dir ${PREFIX} DIRECTORY)
file(MAKE_DIRECTORY ${dir})
execute_process(COMMAND ${SIGTOOL} keygen ${PREFIX} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "palisade-sigtool keygen failed (${rc})")
endif()
