// TestRegistry() for contract, integration and the other tests: every plugin of this build.
#include "test_support.h"

namespace chat::test {

Registry& TestRegistry() { return Registry::Default(); }

}  // namespace chat::test
