// TestRegistry() for unit tests: the built-in backends only, so that they link neither LevelDB nor
// libcurl nor libpq and cannot touch the disk or a server through a plugin.
#include "test_support.h"

namespace chat::test {

Registry& TestRegistry() {
  static Registry registry;
  return registry;
}

std::vector<std::string> ServerStoreBackends() { return {}; }

ServerStore NewServerStore(const std::string& backend) {
  FAIL("no server store backend '" << backend << "' in unit tests");
  return {};
}

void ReleaseServerStore(const std::string&, const ServerStore&) {}

}  // namespace chat::test
