"""Validates the CloudNativePG objects of a multi-document manifest against the vendored CRDs, strictly.

usage: k8s_validate.py CRD_DIR MANIFEST   (prints one line per object checked; exit 1 on any error)

The CRD's openAPIV3Schema is made strict the way the API server treats structural schemas: a field the
schema does not declare is an error (the server would prune it silently), unless the schema says
x-kubernetes-preserve-unknown-fields.
"""
import glob
import sys

import jsonschema
import yaml


def strict(schema):
    if isinstance(schema, dict):
        out = {k: strict(v) for k, v in schema.items()}
        if "properties" in out and not out.get("x-kubernetes-preserve-unknown-fields") and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [strict(s) for s in schema]
    return schema


def main(crd_dir, manifest):
    schemas = {}
    for path in glob.glob(f"{crd_dir}/*.yaml"):
        with open(path) as f:
            crd = yaml.safe_load(f)
        group = crd["spec"]["group"]
        for version in crd["spec"]["versions"]:
            key = (f"{group}/{version['name']}", crd["spec"]["names"]["kind"])
            schemas[key] = strict(version["schema"]["openAPIV3Schema"])
    failed = 0
    with open(manifest) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    for doc in docs:
        key = (doc.get("apiVersion"), doc.get("kind"))
        if not key[0] or "cnpg.io" not in key[0]:
            continue
        if key not in schemas:
            print(f"FAIL {key}: no CRD for it")
            failed += 1
            continue
        errors = sorted(jsonschema.Draft7Validator(schemas[key]).iter_errors(doc), key=lambda e: list(e.path))
        for e in errors:
            print(f"FAIL {key[1]}/{doc['metadata']['name']}: {'/'.join(map(str, e.path))}: {e.message}")
        failed += bool(errors)
        if not errors:
            print(f"ok {key[1]}/{doc['metadata']['name']}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
