"""cc_grpc_proto: generates C++ protobuf and gRPC code with the system protoc and grpc_cpp_plugin.

Usage:
    cc_grpc_proto(name = "interconnect_cc", src = "interconnect.proto")
gives a cc_library `interconnect_cc` exporting `<dir>/interconnect.pb.h` and `.grpc.pb.h`.
Imports are resolved relative to the workspace root, so a proto imports `proto/x.proto`.
"""

def cc_grpc_proto(name, src, deps = [], proto_deps = [], visibility = None):
    base = src[:-len(".proto")]
    pkg = native.package_name()
    outs = [
        base + ".pb.h",
        base + ".pb.cc",
        base + ".grpc.pb.h",
        base + ".grpc.pb.cc",
    ]
    native.genrule(
        name = name + "_gen",
        srcs = [src] + proto_deps,
        outs = outs,
        cmd = " ".join([
            "/usr/bin/protoc",
            "--proto_path=.",
            "--cpp_out=$(GENDIR)",
            "--grpc_out=$(GENDIR)",
            "--plugin=protoc-gen-grpc=/usr/bin/grpc_cpp_plugin",
            "$(location %s)" % src,
        ]),
    )
    native.cc_library(
        name = name,
        srcs = [base + ".pb.cc", base + ".grpc.pb.cc"],
        hdrs = [base + ".pb.h", base + ".grpc.pb.h"],
        copts = ["-w"],
        deps = deps + ["@system//:grpc", "@system//:protobuf"],
        visibility = visibility,
    )
