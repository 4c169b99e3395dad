#!/usr/bin/env python3
"""Test results kept per build folder, so that a second run of scripts/test.sh reruns only the tests
whose inputs changed (as Bazel caches a test's result under the digest of what it runs).

A test's key is the SHA-256 of:
  - the test as CTest runs it (name, command, properties: `ctest --show-only=json-v1`) and the
    content of every file its command names (the test executable, a script);
  - what any test may start or read: every other program and library in the build folder (chatd,
    chatctl, the static libraries the install test links), the content of every file in the source
    tree that is not C++ compiled into those (scripts, the web app, docs, package files, CMake files;
    public headers and examples are kept: the install test compiles them), the installed Debian
    packages with their versions (PostgreSQL, NATS, Chromium, the compilers) and the LIBCHAT_* and
    sanitizer variables of the environment.
Touching a file, or a rebuild that makes the same binaries, changes no key; editing a test file
changes the key of that executable's tests only; editing the core changes every test's key (the core
is in every executable and in chatd).

  test_cache.py select BUILD [LABEL_REGEX]  prints the tests to run as ctest arguments: nothing (run
                                            them all: none passed before), `-I 0,0,0,n,...`, or
                                            `none` (every selected test passed with these inputs)
  test_cache.py record BUILD                after the run (passed, failed or stopped): keeps the keys
                                            of the tests BUILD/ctest.log shows passed
LIBCHAT_TEST_CACHE=off: select always says run them all.
"""
import hashlib
import json
import os
import re
import subprocess
import sys

PASSED = "test-results.passed"  # One key a line: tests that passed with these inputs.
PENDING = "test-results.pending"  # The keys of the run in progress, by test number.
SKIP_DIRS = {"CMakeFiles", "Testing", "artifacts", "node_modules", ".cmake"}
CXX_SUFFIXES = (".cc", ".h", ".cpp", ".hpp", ".c")


def file_digest(path, cache={}):
    if path not in cache:
        h = hashlib.sha256()
        try:
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
            cache[path] = h.hexdigest()
        except OSError:
            cache[path] = "unreadable"
    return cache[path]


def source_files(root):
    """Files of the source tree (tracked, and untracked ones git does not ignore), relative."""
    try:
        out = subprocess.run(["git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                             check=True, capture_output=True).stdout
        return sorted(p for p in out.decode().split("\0") if p)
    except (OSError, subprocess.CalledProcessError):
        files = []
        for d, dirs, names in os.walk(root):
            dirs[:] = [x for x in dirs if not x.startswith(".") and not x.startswith("build")]
            files += [os.path.relpath(os.path.join(d, n), root) for n in names]
        return sorted(files)


def compiled_only(rel):
    """C++ that acts only through the binaries it is compiled into (the binaries are hashed)."""
    return rel.endswith(CXX_SUFFIXES) and "/include/" not in rel and not rel.startswith("examples/")


def shared_digest(build, root, test_programs, label_regex):
    h = hashlib.sha256()
    for d, dirs, names in os.walk(build):
        dirs[:] = sorted(x for x in dirs if x not in SKIP_DIRS)
        for n in sorted(names):
            p = os.path.join(d, n)
            if not os.path.isfile(p) or os.path.realpath(p) in test_programs:
                continue
            if os.access(p, os.X_OK) or n.endswith(".a") or ".so" in n:
                h.update(f"{os.path.relpath(p, build)} {file_digest(p)}\n".encode())
    for rel in source_files(root):
        if not compiled_only(rel):
            h.update(f"{rel} {file_digest(os.path.join(root, rel))}\n".encode())
    try:
        pkgs = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${Version}\n"], check=True,
                              capture_output=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pkgs = b"no dpkg"
    h.update(pkgs)
    for k in sorted(os.environ):
        if re.match(r"(LIBCHAT_|[ATUL]SAN_|UBSAN_|CHATD)", k) and not k.startswith("LIBCHAT_TEST_CACHE"):
            h.update(f"{k}={os.environ[k]}\n".encode())
    h.update(f"labels={label_regex}\n".encode())
    return h.hexdigest()


def tests_of(build):
    out = subprocess.run(["ctest", "--test-dir", build, "--show-only=json-v1"], check=True, capture_output=True).stdout
    return json.loads(out)["tests"]


def labels_of(test):
    for p in test.get("properties", []):
        if p["name"] == "LABELS":
            return p["value"]
    return []


def select(build, label_regex):
    # The source tree: this script's (LIBCHAT_TEST_CACHE_SOURCE: another, for its own test).
    root = os.environ.get("LIBCHAT_TEST_CACHE_SOURCE") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    tests = tests_of(build)
    wanted = [(i + 1, t) for i, t in enumerate(tests)
              if not label_regex or any(re.search(label_regex, label) for label in labels_of(t))]
    programs = {os.path.realpath(t["command"][0]) for _, t in wanted if t.get("command")}
    shared = shared_digest(build, root, programs, label_regex)
    keys = {}
    for number, t in wanted:
        h = hashlib.sha256(shared.encode())
        h.update(json.dumps({k: v for k, v in t.items() if k != "backtrace"}, sort_keys=True).encode())
        for arg in t.get("command", []):
            if os.path.isfile(arg):
                h.update(f"{arg} {file_digest(arg)}\n".encode())
        keys[number] = h.hexdigest()
    passed = set()
    if os.environ.get("LIBCHAT_TEST_CACHE", "on") != "off":
        try:
            with open(os.path.join(build, PASSED)) as f:
                passed = set(f.read().split())
        except OSError:
            pass
    run = [n for n in keys if keys[n] not in passed]
    pending = os.path.join(build, PENDING)
    if not run:
        if os.path.exists(pending):
            os.remove(pending)
        print("none")
    else:
        # Line one: "number:key" of the tests this run checks; line two: every selected test's key
        # (record keeps only those, so that the file holds the keys of the current inputs, not of
        # every edit ever made).
        with open(pending, "w") as f:
            f.write(" ".join(f"{n}:{keys[n]}" for n in run) + "\n" + " ".join(keys.values()) + "\n")
        if len(run) < len(keys):
            print("-I 0,0,0," + ",".join(map(str, run)))
    sys.stderr.write(f"test_cache: {build}: {len(run)} of {len(keys)} tests to run, "
                     f"{len(keys) - len(run)} passed before with the same inputs\n")


# A result line of ctest's output: "  3/580 Test  #99: name ....   Passed    0.47 sec".
PASSED_LINE = re.compile(r"^\s*\d+/\d+ Test\s+#(\d+): .* Passed\s+[\d.]+ sec$")


def record(build):
    """Keeps the keys of the tests that passed in the run selected last (build/ctest.log's result
    lines): after a failed or interrupted run too, so that the next one reruns only the others."""
    pending = os.path.join(build, PENDING)
    if not os.path.exists(pending):
        return
    with open(pending) as f:
        ran_line, current_line = f.readline(), f.readline()
    ran = dict(item.split(":") for item in ran_line.split())
    current = set(current_line.split())
    passed_now = set()
    try:
        with open(os.path.join(build, "ctest.log"), errors="replace") as f:
            for line in f:
                m = PASSED_LINE.match(line.rstrip("\n"))
                if m and m.group(1) in ran:
                    passed_now.add(ran[m.group(1)])
    except OSError:
        pass
    passed_path = os.path.join(build, PASSED)
    try:
        with open(passed_path) as f:
            kept = set(f.read().split()) & current
    except OSError:
        kept = set()
    with open(passed_path + ".tmp", "w") as f:
        f.write("".join(k + "\n" for k in sorted(kept | passed_now)))
    os.replace(passed_path + ".tmp", passed_path)
    os.remove(pending)

if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "select":
        select(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "")
    elif len(sys.argv) == 3 and sys.argv[1] == "record":
        record(sys.argv[2])
    else:
        sys.exit(__doc__)
