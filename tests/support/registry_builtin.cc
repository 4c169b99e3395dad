// TestRegistry() for unit tests: the built-in backends only, so that they link neither LevelDB nor
// libcurl and cannot touch the disk through a plugin.
#include "test_support.h"

namespace chat::test {

Registry& TestRegistry() {
  static Registry registry;
  return registry;
}

}  // namespace chat::test
