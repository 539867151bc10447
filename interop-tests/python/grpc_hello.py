#!/usr/bin/python3
"""Calls Hello on a ccfd's CAPIF-6/6e bus with Debian's python3-grpcio, stubs generated from
proto/interconnect.proto with protoc and the gRPC Python plugin (no code of ours involved).

usage: grpc_hello.py --proto FILE --out DIR --target HOST:PORT --ca PEM --origin CCF_ID
                     [--cert PEM --key PEM]
Prints one JSON line: {"ok": true, "ccf_id": ..., "authenticated_caller": ...} or
{"ok": false, "code": "UNAVAILABLE", "details": ...}. Exit 0 when the call succeeded, 1 when it
failed, 2 on bad usage or stub generation failure.
"""
import argparse
import json
import os
import subprocess
import sys
import uuid


def main():
    p = argparse.ArgumentParser()
    for name in ("--proto", "--out", "--target", "--ca", "--origin"):
        p.add_argument(name, required=True)
    p.add_argument("--cert")
    p.add_argument("--key")
    a = p.parse_args()

    proto_dir, proto_file = os.path.split(os.path.abspath(a.proto))
    os.makedirs(a.out, exist_ok=True)
    gen = subprocess.run(
        ["protoc", "-I", proto_dir, "--python_out=" + a.out, "--grpc_python_out=" + a.out,
         "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin", proto_file],
        capture_output=True, text=True)
    if gen.returncode != 0:
        print(json.dumps({"ok": False, "code": "STUBS", "details": gen.stderr}))
        return 2
    sys.path.insert(0, a.out)
    import grpc  # noqa: E402  (Debian's python3-grpcio)
    import interconnect_pb2 as pb  # noqa: E402
    import interconnect_pb2_grpc as rpc  # noqa: E402

    def read(path):
        with open(path, "rb") as f:
            return f.read()

    creds = grpc.ssl_channel_credentials(
        root_certificates=read(a.ca),
        private_key=read(a.key) if a.key else None,
        certificate_chain=read(a.cert) if a.cert else None)
    with grpc.secure_channel(a.target, creds) as channel:
        stub = rpc.InterconnectStub(channel)
        req = pb.HelloRequest()
        req.header.origin_ccf_id = a.origin.encode()
        req.header.request_id = uuid.uuid4().hex.encode()
        try:
            resp = stub.Hello(req, timeout=10)
        except grpc.RpcError as e:
            print(json.dumps({"ok": False, "code": e.code().name, "details": e.details()}))
            return 1
    print(json.dumps({"ok": True, "ccf_id": resp.ccf_id,
                      "authenticated_caller": resp.authenticated_caller,
                      "protocol_version": resp.protocol_version}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
