#!/usr/bin/env python3
"""A render-free check of the kaon-gateway chart, for machines without `helm`.

Chart.yaml and values.yaml must parse as YAML. Each template must parse as YAML once
its Go-template parts are neutralised: lines holding only a `{{- ... }}` action
(if/with/range/end/include ... | nindent) are dropped, and inline `{{ ... }}` become
a placeholder word. That catches indentation and structure mistakes in the literal
parts, not template logic: `helm lint` and `helm template` remain the real check.
Usage: python3 deploy/helm/check-yaml.py
"""

import pathlib
import re
import sys

import yaml

chart = pathlib.Path(__file__).parent / "kaon-gateway"
failures = 0
for name in ["Chart.yaml", "values.yaml"]:
    try:
        yaml.safe_load((chart / name).read_text())
        print(f"ok   {name}")
    except yaml.YAMLError as e:
        print(f"FAIL {name}: {e}")
        failures += 1

action_only = re.compile(r"^\s*\{\{-?.*?-?\}\}\s*$")
inline = re.compile(r"\{\{-?.*?-?\}\}")
for path in sorted((chart / "templates").glob("*.yaml")):
    lines = []
    for line in path.read_text().splitlines():
        if action_only.match(line) or line.lstrip().startswith("#"):
            continue
        lines.append(inline.sub("PLACEHOLDER", line))
    text = "\n".join(lines)
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
        for d in docs:
            assert isinstance(d, dict) and "kind" in d and "apiVersion" in d, "no kind/apiVersion"
        print(f"ok   templates/{path.name} ({', '.join(d['kind'] for d in docs) or 'conditional'})")
    except (yaml.YAMLError, AssertionError) as e:
        print(f"FAIL templates/{path.name}: {e}")
        failures += 1

# The ConfigMap's gateway.toml literal lines, with placeholders, must be TOML.
try:
    import tomllib

    cm = (chart / "templates" / "configmap.yaml").read_text()
    body = cm.split("gateway.toml: |", 1)[1]
    toml_lines = []
    for line in body.splitlines():
        if action_only.match(line):
            continue
        line = inline.sub("PLACEHOLDER", line).removeprefix("    ")
        # A templated key or value becomes a plain one; placeholders inside quoted
        # strings stay as they are.
        line = re.sub(r"^PLACEHOLDER =", "key =", line)
        line = re.sub(r"= PLACEHOLDER$", '= "value"', line)
        toml_lines.append(line)
    tomllib.loads("\n".join(toml_lines))
    print("ok   gateway.toml in templates/configmap.yaml")
except Exception as e:  # noqa: BLE001 - report any parse problem as a failure
    print(f"FAIL gateway.toml in templates/configmap.yaml: {e}")
    failures += 1

sys.exit(1 if failures else 0)
