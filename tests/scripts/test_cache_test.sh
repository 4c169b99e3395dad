#!/usr/bin/env bash
# scripts/test_cache.py decides which tests a second run of scripts/test.sh reruns. On a build folder
# of its own (two tests, a program both may start, written by hand): nothing passed yet runs all; a
# test that passed is recorded and not rerun, one that failed or did not run is; a touch reruns
# nothing; an edited test executable reruns that test only; an edited program that any test may
# start, or a script of the source tree, reruns all (an edited C++ source counts only through the
# binaries); a label filter, and LIBCHAT_TEST_CACHE=off, are honoured. The build folder is
# named relative to the working folder, as test.sh names it.
set -euo pipefail
cache=$1
python=/usr/bin/python3  # As test.sh runs it.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
mkdir -p build/tests build/tools source/src source/scripts
export LIBCHAT_TEST_CACHE_SOURCE=$work/source  # The source tree (not a git checkout: every file).
echo 'int main() {}' > source/src/server.cc
echo 'echo a helper' > source/scripts/helper.sh
printf '#!/bin/sh\nexit 0\n' > build/tests/first
printf '#!/bin/sh\nexit 0\n# the second\n' > build/tests/second
printf '#!/bin/sh\necho a server\n' > build/tools/server
chmod +x build/tests/first build/tests/second build/tools/server
cat > build/CTestTestfile.cmake <<CTEST
add_test(first "$work/build/tests/first")
set_tests_properties(first PROPERTIES LABELS "unit")
add_test(second "$work/build/tests/second")
set_tests_properties(second PROPERTIES LABELS "integration")
CTEST

step=0
expect() {  # expect WANT [select arguments]: what select prints (the ctest arguments; "" = all)
  local want=$1 got
  shift
  step=$((step + 1))
  got=$("$python" "$cache" select "$@" 2>/dev/null)
  if [ "$got" != "$want" ]; then
    echo "FAIL at step $step: select $*: '$got', expected '$want'"
    exit 1
  fi
}
# ran "RESULT1 RESULT2": writes the result lines ctest prints for tests 1 and 2 (a result "-": that
# test did not run) and records them.
ran() {
  local results=($1) n
  : > build/ctest.log
  for n in 1 2; do
    local r=${results[$((n - 1))]}
    [ "$r" = - ] || printf '%3d/2 Test  #%d: test %d ..........   %s    0.01 sec\n' "$n" "$n" "$n" "$r" >> build/ctest.log
  done
  "$python" "$cache" record build
}

expect "" build                                    # 1: nothing passed yet: all
ran "Passed Passed"
expect none build                                  # 2: all passed with these inputs
touch build/tests/first build/tools/server
expect none build                                  # 3: a touch changes no input
echo "# edited" >> build/tests/second
expect "-I 0,0,0,2" build                          # 4: the edited test's executable: that test
ran "- ***Failed"
expect "-I 0,0,0,2" build                          # 5: it failed: still to run
ran "- Passed"
expect none build                                  # 6
echo "# edited" >> build/tools/server
expect "" build                                    # 7: a program any test may start: all
ran "Passed -"
expect "-I 0,0,0,2" build                          # 8: stopped before the second ran: that one
ran "- Passed"
echo '// edited' >> source/src/server.cc
expect none build                                  # 9: compiled C++ counts through its binaries only
echo '# edited' >> source/scripts/helper.sh
expect "" build                                    # 10: a script of the tree: all
ran "Passed Passed"
expect "" build unit                               # 11: another selection (by label): its tests, all
ran "Passed -"
expect none build unit                             # 12
LIBCHAT_TEST_CACHE=off expect "" build unit        # 13: the cache off: all
echo "test_cache: all $step steps as expected"
