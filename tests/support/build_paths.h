// Paths of the build that CMake gives to tests (libchat_test_path in tests/CMakeLists.txt): the macro
// NAME, defined for the targets given it, stands for libchat_build_path_NAME, defined in a source
// generated for the target. The absolute paths stay out of the tests' own translation units, which
// therefore compile alike in every clone (ccache). A new NAME is declared here.
#pragma once

extern const char* const libchat_build_path_CHATD_PATH;
extern const char* const libchat_build_path_CHATCTL_BIN;
extern const char* const libchat_build_path_CHATCTL_PATH;
extern const char* const libchat_build_path_CHAT_MIGRATE_BIN;
extern const char* const libchat_build_path_CLIENT_PATH;
extern const char* const libchat_build_path_LIBCHAT_SOURCE_DIR;
extern const char* const libchat_build_path_LIBCHAT_WEB_ROOT;
extern const char* const libchat_build_path_LOADGEN_PATH;
extern const char* const libchat_build_path_MIGRATE_PATH;
extern const char* const libchat_build_path_SCRIPTS_DIR;
