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
