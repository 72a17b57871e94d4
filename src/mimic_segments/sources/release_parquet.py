"""One-time conversion of a MIMIC-IV release's gzipped CSVs to Parquet copies.

Full-release mode reads the official ``<module>/<table>.csv.gz`` files by default. Gzip cannot
be read in parallel, so every build decompresses and parses the whole release again on one core
per file. Converting once to Parquet (``<module>/<table>.parquet``, same layout) lets later
builds read column by column on every core: run this once, then build with
``mimic_release_format: parquet``.

The tables, their modules and their column types come from the dbt source ``mimic_release``
(``models/staging/_mimic__sources.yml``), the project's one declaration of them, so the copies
hold exactly the typed columns the CSV reader would produce. Each file is written under a
temporary name and renamed when complete: an interrupted run leaves no partial copy.

Usage::

    python -m mimic_segments.sources.release_parquet --release-dir /data/mimiciv/3.1 [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import yaml

from mimic_segments import PROJECT_ROOT

SOURCES_YML = PROJECT_ROOT / "models" / "staging" / "_mimic__sources.yml"
SOURCE_NAME = "mimic_release"


class ConversionError(RuntimeError):
    """A release file is missing or its header differs from the declared columns."""


@dataclass(frozen=True)
class SourceTable:
    name: str
    module: str
    columns: dict[str, str]  # column -> DuckDB type, in file order

    def csv_path(self, release_dir: Path) -> Path:
        return release_dir / self.module / f"{self.name}.csv.gz"

    def parquet_path(self, out_dir: Path) -> Path:
        return out_dir / self.module / f"{self.name}.parquet"


def source_tables(sources_yml: Path = SOURCES_YML) -> list[SourceTable]:
    """The release tables as the dbt source declares them."""
    document = yaml.safe_load(sources_yml.read_text())
    source = next(s for s in document["sources"] if s["name"] == SOURCE_NAME)
    tables = []
    for table in source["tables"]:
        meta = table["meta"]
        columns = yaml.safe_load(meta["columns"])
        if not isinstance(columns, dict) or not columns:
            raise ConversionError(f"{sources_yml}: table {table['name']} has no `meta.columns` mapping")
        tables.append(
            SourceTable(table["name"], meta["module"], {str(k): str(v) for k, v in columns.items()})
        )
    return tables


def _columns_literal(columns: dict[str, str]) -> str:
    return "{" + ", ".join(f"'{name}': '{kind}'" for name, kind in columns.items()) + "}"


def _sql_path(path: Path) -> str:
    """``path`` as the content of a SQL string literal (a quote in it doubled)."""
    return str(path).replace("'", "''")


def _header(con: duckdb.DuckDBPyConnection, path: Path) -> list[str]:
    row = con.execute(
        f"select line from read_csv('{_sql_path(path)}', header = false, auto_detect = false, "
        "columns = {'line': 'VARCHAR'}, delim = '\t', quote = '', escape = '', strict_mode = false) limit 1"
    ).fetchone()
    return [
        name.strip().strip('"').lower()
        for name in (row[0] if row and row[0] else "").split(",")
        if name.strip()
    ]


def convert(release_dir: Path, out_dir: Path | None = None, progress: bool = True) -> list[Path]:
    """Write ``<out_dir>/<module>/<table>.parquet`` for every source table; return the paths."""
    release_dir = Path(release_dir)
    out_dir = Path(out_dir) if out_dir is not None else release_dir
    tables = source_tables()
    missing = [str(t.csv_path(release_dir)) for t in tables if not t.csv_path(release_dir).is_file()]
    if missing:
        raise ConversionError(
            f"MIMIC-IV release at {release_dir} is missing {', '.join(missing)} "
            "(expected the official layout hosp/*.csv.gz, icu/*.csv.gz)"
        )
    written = []
    with duckdb.connect() as con:
        con.execute("set enable_progress_bar = false")
        for table in tables:
            source = table.csv_path(release_dir)
            header = _header(con, source)
            if header != list(table.columns):
                raise ConversionError(
                    f"{source}: columns {header} differ from those declared for {table.module}/{table.name}: "
                    f"{list(table.columns)}"
                )
            target = table.parquet_path(out_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            part = target.with_name(target.name + ".part")
            started = time.perf_counter()
            try:
                con.execute(
                    f"copy (select * from read_csv('{_sql_path(source)}', header = true, "
                    "auto_detect = false, delim = ',', quote = '\"', escape = '\"', "
                    f"columns = {_columns_literal(table.columns)})) "
                    f"to '{_sql_path(part)}' (format parquet, compression zstd)"
                )
                os.replace(part, target)
            except duckdb.Error as error:
                # DuckDB names the line and column of a value it cannot convert, not the file
                raise ConversionError(f"{source}: {error}") from error
            finally:
                part.unlink(missing_ok=True)
            written.append(target)
            if progress:
                print(
                    f"{source} -> {target} ({time.perf_counter() - started:.1f} s)",
                    file=sys.stderr,
                    flush=True,
                )
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--release-dir",
        type=Path,
        default=os.environ.get("MIMIC_RELEASE_DIR"),
        help="release in its official layout (default: $MIMIC_RELEASE_DIR)",
    )
    parser.add_argument("--out", type=Path, help="where to write the copies (default: beside the CSVs)")
    args = parser.parse_args(argv)
    if args.release_dir is None:
        parser.error("--release-dir is required (or set MIMIC_RELEASE_DIR)")
    try:
        paths = convert(args.release_dir, args.out)
    except ConversionError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {len(paths)} Parquet copies; build with --vars '{{mimic_release_format: parquet}}'")
    return 0


if __name__ == "__main__":
    sys.exit(main())
