"""Data step: fetch six MIMIC-IV Clinical Database Demo 2.2 tables as dbt seeds.

Each table is taken from a local copy of the release (``--source-dir`` or the
``MIMIC_DEMO_DIR`` environment variable) or downloaded from PhysioNet. Every
``.csv.gz`` file is checked against the release's official SHA-256 before it is
decompressed, and every file is written to a temporary name and then renamed,
so a failed or interrupted run leaves nothing partial or unverified behind.
``<dest>/.manifest.json`` makes re-runs cheap: a table whose CSV still matches
the manifest is reported "up to date" and left untouched.

Usage::

    python -m mimic_segments.sources.demo [--dest DIR] [--source-dir DIR] [--base-url URL]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import http.client
import json
import os
import shutil
import sys
import tempfile
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_BASE_URL = "https://physionet.org/files/mimic-iv-demo/2.2"
DEFAULT_DEST = Path("seeds") / "mimic_demo"
MANIFEST_NAME = ".manifest.json"
DOWNLOAD_DIR_NAME = ".download"
TIMEOUT_SECONDS = 60.0
CHUNK_SIZE = 1 << 16
FILE_MODE = 0o644  # tempfile creates 0600 files; seeds should be readable like normal files


@dataclass(frozen=True)
class Table:
    """One release file: its release-relative path, seed file name and official SHA-256."""

    path: str
    seed: str
    sha256: str


# SHA-256 values copied from the release's SHA256SUMS.txt.
TABLES: tuple[Table, ...] = (
    Table(
        "hosp/patients.csv.gz",
        "patients.csv",
        "59dcc6cd8450ddf03ad32cc7d76e41caa4c9633541715987f590c74835cf6fae",
    ),
    Table(
        "hosp/admissions.csv.gz",
        "admissions.csv",
        "910b9f160ffdf1e08ea673585393f347c773ccc87d66875c627584a903ae8493",
    ),
    Table(
        "hosp/diagnoses_icd.csv.gz",
        "diagnoses_icd.csv",
        "958565670c0b3903c0c12825366dc2bae8561d2d55f16feac0c949dd630ed3e4",
    ),
    Table(
        "hosp/d_icd_diagnoses.csv.gz",
        "d_icd_diagnoses.csv",
        "0f715a3c4c5e44400305d4deb86ff648e499a3bfcb946f353e8b030022d3ec06",
    ),
    Table(
        "hosp/transfers.csv.gz",
        "transfers.csv",
        "41151539886d12d57159b65ffe4d7df5a7ef8ceb7cd113ea9a56fbfbfd78a87c",
    ),
    Table(
        "icu/icustays.csv.gz",
        "icustays.csv",
        "e05e81aa52a3022e522b6832a898101a69b84e64c17bb344d819e458d5bc21b3",
    ),
)


class DataStepError(Exception):
    """A table could not be obtained or verified; the message says which and what to do."""


@dataclass(frozen=True)
class TableResult:
    """Outcome for one table.

    ``status`` is ``"fetched"`` (copied or downloaded, verified, decompressed) or
    ``"up to date"`` (already matched the manifest); ``source`` is the local file
    or URL it came from, or the manifest when nothing was done.
    """

    table: str
    csv_path: Path
    status: str
    rows: int
    source: str


def sha256_file(path: Path) -> str:
    """Return the hex SHA-256 of the file at ``path``, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


def count_rows(csv_path: Path) -> int:
    """Return the number of data records (header excluded) in a CSV file."""
    with csv_path.open(newline="", encoding="utf-8") as handle:
        return max(sum(1 for _ in csv.reader(handle)) - 1, 0)


def find_project_root(start: Path | None = None) -> Path:
    """Return the nearest directory at or above ``start`` (default: cwd) holding
    ``dbt_project.yml``, or ``start`` itself when there is none."""
    start = (start or Path.cwd()).resolve()
    for candidate in (start, *start.parents):
        if (candidate / "dbt_project.yml").is_file():
            return candidate
    return start


def _report_progress(label: str, done: int, total: int | None) -> None:
    if total:
        print(f"  {label}: {done:,} / {total:,} bytes ({done * 100 // total}%)", file=sys.stderr)
    else:
        print(f"  {label}: {done:,} bytes", file=sys.stderr)


def _download(url: str, target: Path, label: str) -> None:
    """Stream ``url`` into ``target``; raise DataStepError on any HTTP or transfer problem."""
    hint = "Check the network and --base-url / MIMIC_DEMO_BASE_URL, then re-run."
    request = urllib.request.Request(url, headers={"User-Agent": "mimic-segments-data-step"})
    total: int | None = None
    done = 0
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response, target.open("wb") as out:
            length = response.headers.get("Content-Length", "")
            total = int(length) if length.isdigit() else None
            reported_tenth = 0
            while chunk := response.read(CHUNK_SIZE):
                out.write(chunk)
                done += len(chunk)
                tenth = done * 10 // total if total else 0
                if tenth > reported_tenth and done != total:
                    reported_tenth = tenth
                    _report_progress(label, done, total)
            _report_progress(label, done, total)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            what, hint = (
                "not found",
                (
                    "Check that --base-url / MIMIC_DEMO_BASE_URL points at "
                    "the root of the MIMIC-IV demo 2.2 release."
                ),
            )
        else:
            what = "download failed"
        raise DataStepError(f"{label}: {what} (HTTP {exc.code} {exc.reason}) at {url}. {hint}") from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise DataStepError(
            f"{label}: download from {url} failed or was interrupted ({reason}). {hint}"
        ) from None
    if total is not None and done != total:
        raise DataStepError(
            f"{label}: download from {url} was interrupted after {done:,} of {total:,} bytes. {hint}"
        )


def check_source_dir(source_dir: Path) -> None:
    """Refuse a local copy that is not there, or is not a MIMIC-IV demo release: a folder the
    user named is read and verified, or the data step fails saying why; it is never skipped."""
    if not source_dir.exists():
        raise DataStepError(
            f"the local copy {source_dir} (--source-dir / MIMIC_DEMO_DIR) does not exist. Point it at "
            "the MIMIC-IV demo 2.2 release root (the folder holding hosp/ and icu/), or unset it to "
            "download from PhysioNet."
        )
    modules = sorted({table.path.split("/")[0] for table in TABLES})
    missing = [module for module in modules if not (source_dir / module).is_dir()]
    if missing:
        found = sorted(path.name for path in source_dir.iterdir()) if source_dir.is_dir() else []
        raise DataStepError(
            f"the local copy {source_dir} (--source-dir / MIMIC_DEMO_DIR) is not a MIMIC-IV demo "
            f"release: no {', '.join(m + '/' for m in missing)} folder in it (found: "
            f"{', '.join(found) or 'nothing'}). Point it at the release root (the folder holding "
            "hosp/ and icu/), or unset it to download from PhysioNet."
        )


def _verify_source_file(table: Table, source_dir: Path) -> Path:
    """The local copy's file of ``table``, checked against the official SHA-256."""
    source = source_dir / table.path
    if not source.is_file():
        raise DataStepError(
            f"{table.path}: not found in the local copy {source_dir} (looked for {source}). "
            "Point --source-dir / MIMIC_DEMO_DIR at the release root (the folder holding "
            "hosp/ and icu/), or unset it to download from PhysioNet."
        )
    actual = sha256_file(source)
    if actual != table.sha256:
        raise DataStepError(
            f"{table.path}: sha256 mismatch for {source}: expected {table.sha256}, "
            f"got {actual}. The file is corrupt or not from MIMIC-IV demo 2.2; "
            "replace it with the official file (or re-download) and re-run."
        )
    return source


def _obtain(table: Table, part: Path, source_dir: Path | None, base_url: str) -> str:
    """Copy or download ``table`` into ``part``; return a description of the source."""
    if source_dir is not None:
        source = source_dir / table.path
        if not source.is_file():
            raise DataStepError(
                f"{table.path}: not found in the local copy {source_dir} (looked for {source}). "
                "Point --source-dir / MIMIC_DEMO_DIR at the release root (the folder holding "
                "hosp/ and icu/), or unset it to download from PhysioNet."
            )
        shutil.copyfile(source, part)
        return str(source)
    url = f"{base_url.rstrip('/')}/{table.path}"
    _download(url, part, table.path)
    return url


def _read_manifest(dest: Path) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads((dest / MANIFEST_NAME).read_text(encoding="utf-8"))
        return dict(data["tables"])
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _write_manifest(dest: Path, tables: dict[str, dict[str, Any]]) -> None:
    text = json.dumps({"release": "mimic-iv-demo/2.2", "tables": tables}, indent=2, sort_keys=True)
    with tempfile.NamedTemporaryFile(
        "w", dir=dest, prefix=".manifest.", suffix=".tmp", delete=False, encoding="utf-8"
    ) as handle:
        handle.write(text + "\n")
    os.chmod(handle.name, FILE_MODE)
    os.replace(handle.name, dest / MANIFEST_NAME)


def _is_up_to_date(table: Table, csv_path: Path, entry: dict[str, Any]) -> bool:
    return (
        entry.get("source_sha256") == table.sha256
        and isinstance(entry.get("rows"), int)
        and csv_path.is_file()
        and csv_path.stat().st_size == entry.get("csv_bytes")
        and sha256_file(csv_path) == entry.get("csv_sha256")
    )


def _fetch_table(
    table: Table, dest: Path, source_dir: Path | None, base_url: str
) -> tuple[dict[str, Any], str]:
    """Obtain, verify and decompress one table into ``dest``; return its manifest entry."""
    download_dir = dest / DOWNLOAD_DIR_NAME
    download_dir.mkdir(exist_ok=True)
    part = download_dir / f"{table.seed}.gz.part"
    tmp_csv: Path | None = None
    try:
        source = _obtain(table, part, source_dir, base_url)
        actual = sha256_file(part)
        if actual != table.sha256:
            raise DataStepError(
                f"{table.path}: sha256 mismatch for {source}: expected {table.sha256}, "
                f"got {actual}. The file is corrupt or not from MIMIC-IV demo 2.2; "
                "replace it with the official file (or re-download) and re-run."
            )
        with tempfile.NamedTemporaryFile(
            dir=dest, prefix=f".{table.seed}.", suffix=".tmp", delete=False
        ) as out:
            tmp_csv = Path(out.name)
            with gzip.open(part, "rb") as gz:
                shutil.copyfileobj(gz, out, CHUNK_SIZE)
        os.chmod(tmp_csv, FILE_MODE)
        rows = count_rows(tmp_csv)
        entry: dict[str, Any] = {
            "source": table.path,
            "source_sha256": actual,
            "rows": rows,
            "csv_bytes": tmp_csv.stat().st_size,
            "csv_sha256": sha256_file(tmp_csv),
        }
        os.replace(tmp_csv, dest / table.seed)
        return entry, source
    except (gzip.BadGzipFile, EOFError, zlib.error, UnicodeDecodeError, csv.Error) as exc:
        raise DataStepError(f"{table.path}: could not decompress or read it ({exc}).") from None
    finally:
        part.unlink(missing_ok=True)
        if tmp_csv is not None:
            tmp_csv.unlink(missing_ok=True)
        if not any(download_dir.iterdir()):
            download_dir.rmdir()


def fetch_demo(
    dest: Path, source_dir: Path | None = None, base_url: str = DEFAULT_BASE_URL
) -> list[TableResult]:
    """Make ``dest`` hold the six verified, decompressed demo tables as seed CSVs.

    Tables whose CSV still matches ``dest/.manifest.json`` are left alone. Others
    are copied from ``source_dir`` (a local release copy, which wins when given)
    or downloaded from ``base_url``. A ``source_dir`` is always read: it must exist,
    hold hosp/ and icu/, and every table's file in it must have the official SHA-256,
    even when no table needs copying. Raises DataStepError on the first failure;
    tables finished before it stay recorded in the manifest.
    """
    if source_dir is not None:
        check_source_dir(source_dir)
    dest.mkdir(parents=True, exist_ok=True)
    manifest = _read_manifest(dest)
    results: list[TableResult] = []
    for table in TABLES:
        csv_path = dest / table.seed
        entry = manifest.get(table.seed)
        if entry is not None and _is_up_to_date(table, csv_path, entry):
            # a local copy the user named is verified even when nothing needs copying from it
            source = (
                str(_verify_source_file(table, source_dir))
                if source_dir is not None
                else str(dest / MANIFEST_NAME)
            )
            results.append(TableResult(table.path, csv_path, "up to date", int(entry["rows"]), source))
            continue
        entry, source = _fetch_table(table, dest, source_dir, base_url)
        manifest[table.seed] = entry
        _write_manifest(dest, manifest)
        results.append(TableResult(table.path, csv_path, "fetched", entry["rows"], source))
    return results


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; return 0 on success, 1 on a data step error."""
    parser = argparse.ArgumentParser(
        prog="python -m mimic_segments.sources.demo",
        description="Fetch and verify the MIMIC-IV demo 2.2 tables as dbt seed CSVs.",
    )
    parser.add_argument(
        "--dest",
        type=Path,
        default=None,
        help=f"output folder (default: <project root>/{DEFAULT_DEST.as_posix()})",
    )
    parser.add_argument(
        "--source-dir",
        type=Path,
        default=Path(os.environ["MIMIC_DEMO_DIR"]) if os.environ.get("MIMIC_DEMO_DIR") else None,
        help="local copy of the release to copy from (default: $MIMIC_DEMO_DIR)",
    )
    parser.add_argument(
        "--base-url",
        default=os.environ.get("MIMIC_DEMO_BASE_URL") or DEFAULT_BASE_URL,
        help=f"release URL to download from (default: $MIMIC_DEMO_BASE_URL or {DEFAULT_BASE_URL})",
    )
    args = parser.parse_args(argv)
    dest: Path = args.dest or find_project_root() / DEFAULT_DEST
    try:
        results = fetch_demo(dest, args.source_dir, args.base_url)
    except (DataStepError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: no partial files were left behind", file=sys.stderr)
        return 130
    for result in results:
        print(f"{result.csv_path.name:<22} {result.status:<10} {result.rows:>7,} rows")
    if all(result.status == "up to date" for result in results):
        verified = (
            f"; the local copy {args.source_dir} matches the official SHA-256 of every table"
            if args.source_dir is not None
            else ""
        )
        print(f"All {len(results)} tables up to date in {dest}{verified}; nothing to do.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
