"""One-off: the meta rule dialect and matches_declared_contract -> dbt's own tests/contracts."""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path

import duckdb
import yaml

DB = "/tmp/i30-base.duckdb"
TYPES = {
    "BIGINT": "bigint",
    "VARCHAR": "varchar",
    "DOUBLE": "double precision",
    "INTEGER": "integer",
    "BOOLEAN": "boolean",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
    "HUGEINT": "hugeint",
    "DECIMAL(18,3)": "decimal(18,3)",
}

con = duckdb.connect(DB, read_only=True)
actual: dict[str, dict[str, str]] = {}
for _schema, table, column, dtype in con.execute(
    "select table_schema, table_name, column_name, data_type from information_schema.columns"
    " where table_schema in ('staging','intermediate','marts','raw') order by table_name, ordinal_position"
).fetchall():
    actual.setdefault(table, {})[column] = TYPES.get(dtype, dtype.lower())

PLAIN = re.compile(r"^[A-Za-z_(][\w ().,*<>=/+'-]*$")


def scalar(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return str(value)
    s = str(value)
    if (
        PLAIN.match(s)
        and ": " not in s
        and not s.endswith(":")
        and s.lower() not in ("true", "false", "null", "yes", "no", "on", "off")
    ):
        return s
    if '"' not in s and "\\" not in s:
        return '"' + s + '"'
    return "'" + s.replace("'", "''") + "'"


def emit(key: str, value, indent: int) -> list[str]:
    pad = " " * indent
    if isinstance(value, dict):
        out = [f"{pad}{key}:"]
        for k, v in value.items():
            out += emit(k, v, indent + 2)
        return out
    if isinstance(value, list):
        return [f"{pad}{key}: [{', '.join(scalar(v) for v in value)}]"]
    if isinstance(value, str) and "\n" in value.strip():
        text = " ".join(value.split())
        lines = textwrap.wrap(
            text, width=max(40, 96 - indent - 2), break_long_words=False, break_on_hyphens=False
        )
        return [f"{pad}{key}: >-"] + [f"{pad}  {line}" for line in lines]
    return [f"{pad}{key}: {scalar(value)}"]


def render_check(check: dict, indent: int, columns: set[str]) -> list[str]:
    ((name, args),) = check.items()
    args = dict(args or {})
    label = args.pop("name", None)
    where = args.pop("where", None)
    config = {}
    if where is not None:
        if name == "expression_is_true":
            args["where"] = where
        else:
            config["where"] = where
    pad = " " * indent
    out = [f"{pad}- {name}:"]
    if label:
        out.append(f"{pad}    name: {label}")
    if args:
        out += emit("arguments", args, indent + 4)
    if config:
        out += emit("config", config, indent + 4)
    if len(out) == 1:
        out = [f"{pad}- {name}"]
    return out


def leading(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def convert_column_meta(line: str) -> list[str] | None:
    m = re.match(r"^(\s*)meta: \{(.*)\}\s*$", line)
    if not m:
        return None
    body = m.group(2)
    tests = []
    rest = body
    if rest.startswith("unique: true"):
        tests.append("unique")
        rest = rest[len("unique: true") :].lstrip(", ")
    m2 = re.match(r"^accepted_range: (\{.*\})$", rest)
    m3 = re.match(r"^accepted_values: (\{.*\})$", rest)
    if m2:
        tests.append(f"accepted_range: {{arguments: {m2.group(1)}}}")
    elif m3:
        tests.append(f"accepted_values: {{arguments: {m3.group(1)}}}")
    elif rest:
        raise SystemExit(f"unknown meta: {line}")
    return tests


SPARK_ONLY = "{{ target.type == 'spark' }}"


def convert(path: Path, layer: str) -> None:
    text = path.read_text()
    doc = yaml.safe_load(text)
    nodes = {n["name"]: n for key in ("models", "seeds") for n in (doc.get(key) or [])}
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    current = None
    while i < len(lines):
        line = lines[i]
        m = re.match(r"^  - name: (\w+)\s*$", line)
        if m:
            current = m.group(1)
        # the contract test entry
        if (
            re.match(r"^      - matches_declared_contract:?\s*$", line)
            or line.strip() == "- matches_declared_contract"
        ):
            node = nodes[current]
            spec = next(
                t
                for t in node["data_tests"]
                if t == "matches_declared_contract"
                or (isinstance(t, dict) and "matches_declared_contract" in t)
            )
            spec = spec["matches_declared_contract"] if isinstance(spec, dict) else {}
            checks = ((spec or {}).get("arguments") or {}).get("checks") or []
            config = (spec or {}).get("config")
            # the entry's extent: lines deeper than 6
            j = i + 1
            block = []
            while j < len(lines) and (not lines[j].strip() or leading(lines[j]) > 6):
                block.append(lines[j])
                j += 1
            # trailing blank/comment lines belong to what follows
            while block and (
                not block[-1].strip() or (block[-1].lstrip().startswith("#") and leading(block[-1]) <= 6)
            ):
                j -= 1
                block.pop()
            # comments preceding each check item
            item_indent = None
            comments: list[list[str]] = []
            acc: list[str] = []
            in_checks = False
            for b in block:
                if b.strip() == "checks:":
                    in_checks = True
                    continue
                if not in_checks:
                    continue
                if item_indent is None and b.lstrip().startswith("- "):
                    item_indent = leading(b)
                if b.lstrip().startswith("#") and (item_indent is None or leading(b) <= item_indent):
                    acc.append(b.strip())
                elif item_indent is not None and leading(b) == item_indent and b.lstrip().startswith("- "):
                    comments.append(acc)
                    acc = []
            if len(comments) != len(checks):
                print(
                    f"WARN {path}:{current}: {len(comments)} comment groups vs {len(checks)} checks",
                    file=sys.stderr,
                )
                comments = [[] for _ in checks]
            entry = contract_entry(current, layer, node)
            out += entry
            if config:
                print(f"NOTE {path}:{current}: contract test had config {config}", file=sys.stderr)
            cols = {c["name"] for c in node.get("columns") or []}
            for check, cmts in zip(checks, comments, strict=False):
                out += [f"      {c}" for c in cmts]
                out += render_check(check, 6, cols)
            i = j
            continue
        meta = convert_column_meta(line)
        if meta is not None:
            # column block: find whether it has data_tests and where it ends
            indent = leading(line)
            j = i + 1
            while j < len(lines) and lines[j].strip() and leading(lines[j]) >= indent:
                j += 1
            # look back for data_tests in the column block (before the meta line)
            start = len(out) - 1
            while start >= 0 and not re.match(r"^\s*- name: ", out[start]):
                start -= 1
            existing = next(
                (
                    k
                    for k in range(start, len(out))
                    if out[k].strip() == "data_tests:" and leading(out[k]) == indent
                ),
                None,
            )
            after = next(
                (
                    k
                    for k in range(i + 1, j)
                    if lines[k].strip() == "data_tests:" and leading(lines[k]) == indent
                ),
                None,
            )
            new_items = [f"{' ' * (indent + 2)}- {t}" for t in meta]
            if existing is not None:
                k = existing + 1
                while k < len(out) and (leading(out[k]) > indent):
                    k += 1
                out[k:k] = new_items
                i += 1
                continue
            if after is not None:
                # move meta tests into the data_tests list below
                segment = lines[i + 1 : j]
                idx = after - (i + 1)
                k = idx + 1
                while k < len(segment) and leading(segment[k]) > indent:
                    k += 1
                segment[k:k] = new_items
                out += segment
                i = j
                continue
            out += lines[i + 1 : j]
            out.append(f"{' ' * indent}data_tests:")
            out += new_items
            i = j
            continue
        out.append(line)
        i += 1
    new = "\n".join(out)
    # data_type where missing (models only)
    new = add_data_types(new, layer)
    new = add_fallback_where_missing(new, layer)
    yaml.safe_load(new)
    path.write_text(new)


def contract_entry(name: str, layer: str, node: dict) -> list[str]:
    if layer in ("intermediate", "marts") and name not in NOT_CONTRACTED:
        return [
            "      # the contract's constraints, tested where the engine does not enforce them (Spark)",
            "      - unenforced_contract:",
            f'          config: {{enabled: "{SPARK_ONLY}"}}',
        ]
    return ["      - unenforced_contract"]


NOT_CONTRACTED = {"int_patients_prepared_for_segmentation", "segment_profiles_wide"}


def add_data_types(text: str, layer: str) -> str:
    if layer == "seeds":
        return text
    lines = text.split("\n")
    out = []
    current = None
    for idx, line in enumerate(lines):
        out.append(line)
        m = re.match(r"^  - name: (\w+)\s*$", line)
        if m:
            current = m.group(1)
            continue
        m = re.match(r"^(      )- name: (\w+)\s*$", line)
        if m and current in actual:
            # column entry: does it have data_type within its block?
            k = idx + 1
            has = False
            while k < len(lines) and lines[k].strip() and leading(lines[k]) > 6:
                if lines[k].strip().startswith("data_type:"):
                    has = True
                k += 1
            col = m.group(2)
            if not has and col in actual[current]:
                out.append(f"        data_type: {actual[current][col]}")
            elif not has:
                print(f"NO TYPE {current}.{col}", file=sys.stderr)
    return "\n".join(out)


def add_fallback_where_missing(text: str, layer: str) -> str:
    """Models with not_null constraints and no unenforced_contract test get one."""
    doc = yaml.safe_load(text)
    lines = text.split("\n")
    for key in ("models", "seeds"):
        for node in doc.get(key) or []:
            constrained = any(
                any(c.get("type") == "not_null" for c in col.get("constraints") or [])
                for col in node.get("columns") or []
            )
            tests = node.get("data_tests") or []
            has = any(
                t == "unenforced_contract" or (isinstance(t, dict) and "unenforced_contract" in t)
                for t in tests
            )
            if not constrained or has:
                continue
            start = lines.index(f"  - name: {node['name']}")
            k = start + 1
            while (
                k < len(lines)
                and not lines[k].startswith("  - name: ")
                and lines[k] not in ("    data_tests:", "    columns:")
            ):
                k += 1
            entry = contract_entry(node["name"], layer, node)
            if lines[k] == "    data_tests:":
                lines[k + 1 : k + 1] = entry
            elif lines[k] == "    columns:":
                lines[k:k] = ["    data_tests:", *entry]
            else:
                print(f"NO PLACE for fallback {node['name']}", file=sys.stderr)
    return "\n".join(lines)


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        p = Path(arg)
        layer = (
            "seeds" if p.parts[0] == "seeds" else "python" if p.parts[0] == "python_models" else p.parts[1]
        )
        convert(p, layer)
        print("converted", p)
