#!/usr/bin/env python3
"""Prove that the JSON Schemas in schemas/ and the C decoders agree.

For every file under schemas/examples/{valid,invalid}/<type>/:
  * the schema side: parse the file as the C side does (strict UTF-8, no
    duplicate member names, no NaN/Infinity, no U+0000 or lone surrogates in
    strings, integers within int64, at most 256 KiB) and validate it against
    schemas/<type>.schema.json with a Draft 2020-12 validator;
  * the C side: `wingman message check FILE` must exit 0 and print
    `valid <type>`, or exit 1 and print `invalid: REASON`;
and both must agree with the directory the file is in.

The Draft 2020-12 validator is python3-jsonschema's Draft202012Validator with
three corrections that make it follow the contract in docs/messages.md:
  * `pattern` uses ECMA-262 semantics for `$` (end of string only; Python's
    `$` also matches before a final newline);
  * `integer` means an integer token (1.0 is a real, as in jansson);
  * `maxLength` counts UTF-8 bytes, as the C decoders do (the contract limits
    are in bytes; for ASCII text it is the same as characters).

It also checks the schemas themselves: check_schema, `additionalProperties:
false` on every object, shared $defs identical across files, and the request
embedded in assessment.schema.json identical to request.schema.json.

Usage: schema_corpus.py [--source-dir DIR] [--wingman PATH] [--schema-only] [-v]
Defaults come from WINGMAN_SOURCE_DIR and WINGMAN_BUILD_DIR. Prints each
disagreement and a closing line "N passed, M failed"; exits non-zero on any
failure. A missing C binary is a failure unless --schema-only is given.
"""

import argparse
import json
import os
import re
import subprocess
import sys

import jsonschema
from jsonschema import Draft202012Validator, ValidationError

TYPES = ["request", "assessment", "approval_prompt", "approval_update", "human_decision",
         "decision", "order", "result", "dead_letter"]
MAX_MESSAGE_BYTES = 256 * 1024
MAX_EXAMPLE_BYTES = 10 * 1024
MIN_VALID, MIN_INVALID = 2, 5
INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1


# --------------------------------------------------------------- parsing --

class ParseError(Exception):
    pass


def _no_duplicates(pairs):
    obj = {}
    for k, v in pairs:
        if k in obj:
            raise ParseError("duplicate member %r" % k)
        obj[k] = v
    return obj


def _no_constant(name):
    raise ParseError("%s is not JSON" % name)


def _check_values(value, where="$"):
    if isinstance(value, str):
        if "\x00" in value:
            raise ParseError("%s: string contains U+0000" % where)
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ParseError("%s: string contains a lone surrogate" % where)
    elif isinstance(value, bool):
        pass
    elif isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise ParseError("%s: integer outside int64" % where)
    elif isinstance(value, dict):
        for k, v in value.items():
            _check_values(k, where + ".<key>")
            _check_values(v, "%s.%s" % (where, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_values(v, "%s[%d]" % (where, i))


def parse_message(data):
    """Parse bytes the way the C side does (jansson, strict)."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise ParseError("message larger than 256 KiB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ParseError("not UTF-8: %s" % e)
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates,
                           parse_constant=_no_constant)
    except ValueError as e:   # json.JSONDecodeError is a ValueError
        raise ParseError("not JSON: %s" % e)
    _check_values(value)
    return value


# ------------------------------------------------------------- validator --

_ECMA_DOLLAR = r"(?![\s\S])"


def ecma_regex(pattern):
    """Translate an ECMA-262 pattern for Python re: only `$` differs for the
    subset the schemas use (`$` outside a character class = end of input)."""
    out, i, in_class = [], 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if in_class:
            if c == "]":
                in_class = False
        elif c == "[":
            in_class = True
        elif c == "$":
            c = _ECMA_DOLLAR
        out.append(c)
        i += 1
    return re.compile("".join(out))


_regex_cache = {}


def _pattern(validator, patrn, instance, schema):
    if not validator.is_type(instance, "string"):
        return
    rx = _regex_cache.get(patrn)
    if rx is None:
        rx = _regex_cache[patrn] = ecma_regex(patrn)
    if not rx.search(instance):
        yield ValidationError("%r does not match %r" % (instance, patrn))


def _max_length(validator, mx, instance, schema):
    if validator.is_type(instance, "string") and len(instance.encode("utf-8")) > mx:
        yield ValidationError("%r is longer than %d bytes" % (instance[:40] + "...", mx))


def _min_length(validator, mn, instance, schema):
    if validator.is_type(instance, "string") and len(instance.encode("utf-8")) < mn:
        yield ValidationError("%r is shorter than %d bytes" % (instance, mn))


def _is_strict_integer(checker, instance):
    return isinstance(instance, int) and not isinstance(instance, bool)


ContractValidator = jsonschema.validators.extend(
    Draft202012Validator,
    validators={"pattern": _pattern, "maxLength": _max_length, "minLength": _min_length},
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_strict_integer),
)


# --------------------------------------------------------- schema checks --

def lint_schema(name, schema, problems):
    """Every object schema closes its members; every pattern compiles."""
    def walk(node, path):
        if isinstance(node, dict):
            if node.get("type") == "object" and node.get("additionalProperties") is not False:
                problems.append("%s: %s: object without additionalProperties: false" % (name, path))
            if "properties" in node and "type" in node and node.get("additionalProperties") is not False:
                problems.append("%s: %s: properties without additionalProperties: false" % (name, path))
            if isinstance(node.get("pattern"), str):
                try:
                    ecma_regex(node["pattern"])
                except re.error as e:
                    problems.append("%s: %s: bad pattern: %s" % (name, path, e))
            for k, v in node.items():
                if k not in ("const", "enum", "examples", "default"):
                    walk(v, path + "/" + k)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, "%s/%d" % (path, i))
    walk(schema, "#")


def check_schemas(schema_dir):
    """Load, check_schema and cross-check all schemas. Returns (schemas, problems)."""
    schemas, problems = {}, []
    for t in TYPES:
        path = os.path.join(schema_dir, t + ".schema.json")
        try:
            with open(path, "rb") as f:
                schema = parse_message(f.read())
            Draft202012Validator.check_schema(schema)
        except (OSError, ParseError, jsonschema.SchemaError) as e:
            problems.append("%s: %s" % (path, str(e).splitlines()[0]))
            continue
        if schema.get("properties", {}).get("type") != {"const": t}:
            problems.append("%s: properties.type must be {\"const\": \"%s\"}" % (path, t))
        lint_schema(t + ".schema.json", schema, problems)
        schemas[t] = schema

    # Shared definitions are duplicated in each file (so every file works
    # alone, with any tool); they must not drift apart.
    seen = {}
    for t, schema in schemas.items():
        for name, d in schema.get("$defs", {}).items():
            if name in seen and seen[name][1] != d:
                problems.append("$defs/%s differs between %s and %s"
                                % (name, seen[name][0], t))
            seen.setdefault(name, (t, d))
    if "request" in schemas and "assessment" in schemas:
        embedded = schemas["assessment"].get("$defs", {}).get("request", {})
        for k in ("type", "additionalProperties", "required", "properties"):
            if embedded.get(k) != schemas["request"].get(k):
                problems.append("assessment $defs/request.%s differs from request.schema.json" % k)
    return schemas, problems


# ---------------------------------------------------------------- C side --

def run_c(binary, path, stdin_data=None):
    """Returns (exit code, first line of stdout, stderr)."""
    args = [binary, "message", "check", "-" if stdin_data is not None else path]
    try:
        p = subprocess.run(args, input=stdin_data if stdin_data is not None else b"",
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
    except subprocess.TimeoutExpired:
        return None, "", "timed out"
    except OSError as e:
        return None, "", str(e)
    out = p.stdout.decode("utf-8", "replace")
    return p.returncode, (out.splitlines() or [""])[0], p.stderr.decode("utf-8", "replace").strip()


def c_verdict(expected_valid, t, rc, line):
    """None if the C answer is the expected one, else a description."""
    if expected_valid:
        if rc == 0 and line == "valid " + t:
            return None
    elif rc == 1 and line.startswith("invalid: ") and len(line) > len("invalid: "):
        return None
    return "exit %s, printed %r" % (rc, line)


# ------------------------------------------------------------------ main --

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--source-dir", default=os.environ.get("WINGMAN_SOURCE_DIR")
                    or os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap.add_argument("--wingman", help="path of the wingman CLI "
                    "(default $WINGMAN_BUILD_DIR/services/cli/wingman)")
    ap.add_argument("--schema-only", action="store_true",
                    help="check schemas and corpus without the C checker (not a full pass)")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every file's verdicts")
    a = ap.parse_args()

    schema_dir = os.path.join(a.source_dir, "schemas")
    corpus_dir = os.path.join(schema_dir, "examples")
    passed, failed = 0, 0

    def fail(msg):
        nonlocal failed
        failed += 1
        print("FAIL " + msg)

    binary = None
    if not a.schema_only:
        binary = a.wingman
        if not binary:
            build = os.environ.get("WINGMAN_BUILD_DIR")
            if not build:
                fail("WINGMAN_BUILD_DIR is not set and --wingman not given: cannot run the C checker")
            else:
                binary = os.path.join(build, "services", "cli", "wingman")
        if binary and not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
            fail("C checker not found or not executable: %s (build the project first)" % binary)
            binary = None

    schemas, problems = check_schemas(schema_dir)
    for p in problems:
        fail("schema " + p)

    # Directory layout: every type has enough examples, nothing stray.
    for kind, minimum in (("valid", MIN_VALID), ("invalid", MIN_INVALID)):
        kdir = os.path.join(corpus_dir, kind)
        present = sorted(os.listdir(kdir)) if os.path.isdir(kdir) else []
        for d in present:
            if d not in TYPES:
                fail("corpus %s/%s: not a message type" % (kind, d))
        for t in TYPES:
            tdir = os.path.join(kdir, t)
            n = len([f for f in os.listdir(tdir) if f.endswith(".json")]) if os.path.isdir(tdir) else 0
            if n < minimum:
                fail("corpus %s/%s: %d examples, want at least %d" % (kind, t, n, minimum))

    stdin_checked = set()
    for kind in ("valid", "invalid"):
        expected_valid = kind == "valid"
        for t in TYPES:
            tdir = os.path.join(corpus_dir, kind, t)
            if not os.path.isdir(tdir):
                continue
            for fname in sorted(os.listdir(tdir)):
                rel = "%s/%s/%s" % (kind, t, fname)
                path = os.path.join(tdir, fname)
                if not fname.endswith(".json"):
                    fail("%s: not a .json file" % rel)
                    continue
                with open(path, "rb") as f:
                    data = f.read()
                errors = []
                if len(data) > MAX_EXAMPLE_BYTES:
                    errors.append("example is %d bytes, keep it under %d" % (len(data), MAX_EXAMPLE_BYTES))

                # Schema side.
                try:
                    msg = parse_message(data)
                    err = None
                    if t in schemas:
                        best = jsonschema.exceptions.best_match(
                            ContractValidator(schemas[t]).iter_errors(msg))
                        err = None if best is None else "%s at %s" % (
                            best.message[:160], best.json_path)
                    s_valid, s_why = err is None, err
                except ParseError as e:
                    s_valid, s_why = False, str(e)
                if t in schemas and s_valid != expected_valid:
                    errors.append("schema says %s%s" % (
                        "valid" if s_valid else "invalid", "" if s_valid else " (%s)" % s_why))

                # C side, by path, and once per (kind, type) also through stdin.
                c_line = ""
                if binary:
                    rc, c_line, c_err = run_c(binary, path)
                    why = c_verdict(expected_valid, t, rc, c_line)
                    if why:
                        errors.append("C says %s%s" % (why, " stderr: " + c_err[:200] if c_err else ""))
                    if (kind, t) not in stdin_checked:
                        stdin_checked.add((kind, t))
                        rc, line, c_err = run_c(binary, "-", stdin_data=data)
                        why = c_verdict(expected_valid, t, rc, line)
                        if why:
                            errors.append("C via stdin says %s" % why)

                if errors:
                    fail("%s (expected %s): %s" % (rel, kind, "; ".join(errors)))
                else:
                    passed += 1
                    if a.verbose:
                        print("ok   %s%s%s" % (rel, "" if s_valid else "  [schema: %s]" % s_why,
                                               "  [C: %s]" % c_line if c_line else ""))

    if a.schema_only:
        print("NOTE: --schema-only: the C checker was not run")
    elif not binary:
        print("NOTE: the C checker is missing: only the schema side was checked")
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
