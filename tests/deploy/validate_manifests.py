#!/usr/bin/python3
"""Validates Kubernetes manifests against the API types, strictly: every
field must exist in its type (an unknown or misspelt field is an error, as
`kubectl apply --validate=strict` makes it), every value must have its
type's shape, and every required field must be there.

The types are those of Debian's python3-kubernetes (the official client,
generated from the Kubernetes OpenAPI spec): each model class names its
fields (`attribute_map`: JSON name), their types (`openapi_types`) and,
in its setters, which are required.

    validate_manifests.py FILE...       # exit 1 and every problem named
    validate_manifests.py --self-test FILE...
        # also checks that broken copies of the files are refused
"""

import copy
import sys

import kubernetes.client as k8s
import yaml

PRIMITIVES = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "datetime": (str,),
    "date": (str,),
    "object": (int, str, dict, list, bool, float),  # IntOrString, RawExtension
}


def model_class(api_version, kind):
    """V1DaemonSet for apps/v1 DaemonSet, V1ConfigMap for v1 ConfigMap."""
    version = api_version.split("/")[-1]
    name = version[0].upper() + version[1:] + kind
    return getattr(k8s, name, None)


def check(value, type_name, path, errors):
    if type_name.startswith("list["):
        if not isinstance(value, list):
            errors.append("%s: expected a list, got %r" % (path, value))
            return
        for i, item in enumerate(value):
            check(item, type_name[5:-1], "%s[%d]" % (path, i), errors)
    elif type_name.startswith("dict("):
        if not isinstance(value, dict):
            errors.append("%s: expected a map, got %r" % (path, value))
            return
        inner = type_name[5:-1].split(", ", 1)[1]
        for key, item in value.items():
            check(item, inner, "%s.%s" % (path, key), errors)
    elif type_name in PRIMITIVES:
        allowed = PRIMITIVES[type_name]
        if not isinstance(value, allowed) or (type_name == "int" and isinstance(value, bool)):
            errors.append("%s: expected %s, got %r" % (path, type_name, value))
    else:
        check_model(value, getattr(k8s, type_name), path, errors)


def check_model(value, cls, path, errors):
    if not isinstance(value, dict):
        errors.append("%s: expected a %s object, got %r" % (path, cls.__name__, value))
        return
    by_json = {json_name: attr for attr, json_name in cls.attribute_map.items()}
    known = {}
    for key, item in value.items():
        attr = by_json.get(key)
        if attr is None:
            errors.append("%s.%s: unknown field (%s has %s)" %
                          (path, key, cls.__name__, ", ".join(sorted(by_json))))
            continue
        known[attr] = item
        check(item, cls.openapi_types[attr], "%s.%s" % (path, key), errors)
    # The setters refuse None for a required field (and an enum's other
    # values): constructing the model with what is there tells.
    try:
        cls(**known)
    except ValueError as e:
        errors.append("%s: %s" % (path, e))


def validate(doc, where):
    errors = []
    if not isinstance(doc, dict) or "apiVersion" not in doc or "kind" not in doc:
        return ["%s: not a Kubernetes object (no apiVersion and kind)" % where]
    cls = model_class(doc["apiVersion"], doc["kind"])
    if cls is None:
        return ["%s: unknown type %s %s" % (where, doc["apiVersion"], doc["kind"])]
    check_model(doc, cls, "%s %s" % (where, doc["kind"]), errors)
    return errors


def validate_file(path):
    with open(path) as f:
        docs = [d for d in yaml.safe_load_all(f) if d is not None]
    errors = []
    for i, doc in enumerate(docs):
        errors += validate(doc, "%s#%d" % (path, i))
    return docs, errors


def self_test(docs, path):
    """Broken copies must be refused: proves the validator can fail."""
    problems = []
    for i, doc in enumerate(docs):
        bad = copy.deepcopy(doc)
        bad["spec" if "spec" in bad else "metadata"]["notAField"] = 1
        if not any("notAField: unknown field" in e for e in validate(bad, "self-test")):
            problems.append("%s#%d: an unknown field was not refused" % (path, i))
        if doc.get("kind") == "DaemonSet":
            bad = copy.deepcopy(doc)
            container = bad["spec"]["template"]["spec"]["containers"][0]
            container["readinessProbe"]["periodSeconds"] = "2"
            del bad["spec"]["selector"]
            errors = validate(bad, "self-test")
            if not any("periodSeconds: expected int" in e for e in errors):
                problems.append("%s#%d: a string for an int was not refused" % (path, i))
            if not any("selector" in e and "None" in e for e in errors):
                problems.append("%s#%d: a missing required selector was not refused" % (path, i))
    return problems


def main(argv):
    self_testing = "--self-test" in argv
    files = [a for a in argv if a != "--self-test"]
    if not files:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    failed = False
    for path in files:
        docs, errors = validate_file(path)
        for e in errors:
            print("error: " + e, file=sys.stderr)
        if self_testing:
            for p in self_test(docs, path):
                print("self-test: " + p, file=sys.stderr)
                failed = True
        failed = failed or bool(errors)
        print("%s: %d objects (%s): %s" % (
            path, len(docs), ", ".join(d.get("kind", "?") for d in docs),
            "%d errors" % len(errors) if errors else "valid"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
