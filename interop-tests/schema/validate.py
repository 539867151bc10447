#!/usr/bin/python3
"""Validates a JSON document against a schema of the official TS 29.222 OpenAPI files.

usage: validate.py SPEC_DIR 'FILE.yaml#/components/schemas/Name' DOCUMENT.json

SPEC_DIR holds the 3GPP YAML files (../shared/specs/ts29222-rel18). References between the
files ($ref: 'TS29122_CommonData.yaml#/...') are resolved locally; nothing is fetched.
Exit 0 when valid, 1 with the errors on stderr when not, 2 on bad usage.
"""
import json
import os
import sys

import jsonschema
import yaml


def load_store(spec_dir):
    store = {}
    for name in os.listdir(spec_dir):
        if name.endswith(".yaml"):
            with open(os.path.join(spec_dir, name), encoding="utf-8") as f:
                store[name] = yaml.safe_load(f)
    return store


def main(argv):
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    spec_dir, ref, doc_path = argv[1:]
    store = load_store(spec_dir)
    file_name = ref.split("#", 1)[0]
    if file_name not in store:
        print(f"no such spec file: {file_name}", file=sys.stderr)
        return 2
    with open(doc_path, encoding="utf-8") as f:
        document = json.load(f)
    # Each YAML file is a resolution scope of its own, named by its file name, so relative
    # references like 'TS29571_CommonData.yaml#/...' resolve within the store.
    resolver = jsonschema.RefResolver(base_uri=file_name, referrer=store[file_name], store=store)
    schema = {"$ref": ref}
    validator = jsonschema.Draft4Validator(schema, resolver=resolver)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
    for e in errors:
        where = "/".join(str(p) for p in e.path) or "(root)"
        print(f"{ref}: {where}: {e.message[:300]}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
