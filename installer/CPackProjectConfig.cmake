# Per-generator CPack settings (CPACK_PROJECT_CONFIG_FILE, read by cpack for each generator).
# DEB: CPackDeb splits the debug information of the unstripped binaries into
#      palisade-dbgsym_<version>_<arch>.ddeb and strips them itself.
# TGZ: the binaries are stripped at install.
if(CPACK_GENERATOR STREQUAL "DEB")
  set(CPACK_STRIP_FILES OFF)
  set(CPACK_DEBIAN_DEBUGINFO_PACKAGE ON)
else()
  set(CPACK_STRIP_FILES ON)
endif()
