"""capif_fuzz: one libFuzzer target and the test that replays its seed corpus.

capif_fuzz(name = "x_fuzz", srcs = ["x_fuzz.cc"], deps = [...]) makes
  - x_fuzz_replay (cc_test, in `bazel test //...`): runs LLVMFuzzerTestOneInput on every file of
    fuzz/corpus/x_fuzz/ with the normal compiler; fails on a crash, an abort or an empty corpus;
  - x_fuzz (cc_binary, tagged manual): the libFuzzer binary, built only by `tools/dev fuzz`
    (clang, -fsanitize=fuzzer,address,undefined).
"""

load("@rules_cc//cc:defs.bzl", "cc_binary", "cc_library", "cc_test")

def capif_fuzz(name, srcs, deps = []):
    cc_library(
        name = name + "_lib",
        testonly = True,
        srcs = srcs,
        deps = deps + [":fuzz_check"],
        alwayslink = True,
    )
    cc_test(
        name = name + "_replay",
        size = "small",
        deps = [name + "_lib", ":replay_main"],
        data = native.glob(["corpus/" + name + "/**"]),
        args = ["fuzz/corpus/" + name],
    )
    cc_binary(
        name = name,
        testonly = True,
        deps = [name + "_lib"],
        linkopts = ["-fsanitize=fuzzer"],
        tags = ["manual"],
    )
