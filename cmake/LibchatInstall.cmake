# Install rules: headers, libraries and a CMake package so that another product can
#   find_package(libchat) and target_link_libraries(app PRIVATE libchat::core libchat::plugins)
include(CMakePackageConfigHelpers)

install(TARGETS libchat_core EXPORT libchatTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(DIRECTORY libchat/include/libchat DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.h")
install(FILES ${PROJECT_BINARY_DIR}/libchat/generated/libchat/version.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/libchat)

install(EXPORT libchatTargets
        NAMESPACE libchat::
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/libchat)
configure_package_config_file(cmake/libchatConfig.cmake.in
  ${PROJECT_BINARY_DIR}/libchatConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/libchat)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/libchatConfigVersion.cmake
  COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/libchatConfig.cmake ${PROJECT_BINARY_DIR}/libchatConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/libchat)

# pkg-config, for builds that do not use CMake: `pkg-config --cflags --libs libchat` (the core; the
# archives are static, so their dependencies come along through Requires). Relocatable: paths are
# relative to the .pc file.
configure_file(cmake/libchat.pc.in ${PROJECT_BINARY_DIR}/libchat.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/libchat.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# Last: the archives lose their debug information when stripping (a RelWithDebInfo build's archives
# are mostly DWARF). The programs were stripped by their own rules.
install(CODE "
if(CMAKE_INSTALL_DO_STRIP)
  file(GLOB _libchat_archives \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/libchat_*.a\")
  foreach(_a IN LISTS _libchat_archives)
    execute_process(COMMAND \"${CMAKE_STRIP}\" --strip-debug \"\${_a}\")
  endforeach()
endif()")
