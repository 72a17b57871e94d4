"""Tests for the data step (mimic_segments.sources.demo).

They use the real MIMIC-IV demo 2.2 gz files from a local copy of the release
(``MIMIC_DEMO_DIR``, else ``<repo>/../shared/mimic-iv-demo/2.2``) and serve them
over a throwaway local HTTP server for the download path; no internet needed.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mimic_segments.sources import demo
from mimic_segments.sources.demo import DataStepError, fetch_demo, main, sha256_file

REPO_ROOT = Path(__file__).resolve().parents[2]

RELEASE_DIR = Path(os.environ.get("MIMIC_DEMO_DIR") or REPO_ROOT.parent / "shared" / "mimic-iv-demo" / "2.2")

EXPECTED = {  # seed file -> (header, data rows) of the real demo 2.2 tables
    "patients.csv": ("subject_id,gender,anchor_age,anchor_year,anchor_year_group,dod", 100),
    "admissions.csv": (
        (
            "subject_id,hadm_id,admittime,dischtime,deathtime,admission_type,admit_provider_id,"
            "admission_location,discharge_location,insurance,language,marital_status,race,"
            "edregtime,edouttime,hospital_expire_flag"
        ),
        275,
    ),
    "diagnoses_icd.csv": ("subject_id,hadm_id,seq_num,icd_code,icd_version", 4506),
    "d_icd_diagnoses.csv": ("icd_code,icd_version,long_title", 109775),
    "transfers.csv": ("subject_id,hadm_id,transfer_id,eventtype,careunit,intime,outtime", 1190),
    "icustays.csv": (
        "subject_id,hadm_id,stay_id,first_careunit,last_careunit,intime,outtime,los",
        140,
    ),
}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the developer's MIMIC_DEMO_* variables from steering the code under test."""
    monkeypatch.delenv("MIMIC_DEMO_DIR", raising=False)
    monkeypatch.delenv("MIMIC_DEMO_BASE_URL", raising=False)


@pytest.fixture
def mirror(tmp_path: Path) -> Path:
    """A private copy of the six release files, in the official layout."""
    missing = [t.path for t in demo.TABLES if not (RELEASE_DIR / t.path).is_file()]
    if missing:
        pytest.skip(
            f"MIMIC-IV demo 2.2 not found at {RELEASE_DIR} (missing {missing[0]}); "
            "set MIMIC_DEMO_DIR to a local copy of the release"
        )
    root = tmp_path / "mirror"
    for table in demo.TABLES:
        (root / table.path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(RELEASE_DIR / table.path, root / table.path)
    return root


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        """Keep test output quiet."""


class _HalfBodyHandler(_QuietHandler):
    """Announces the full Content-Length, sends half the body, then hangs up."""

    def do_GET(self) -> None:
        body = Path(self.translate_path(self.path)).read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2])
        self.wfile.flush()
        self.close_connection = True


ServeFn = Callable[..., str]


@pytest.fixture
def serve() -> Iterator[ServeFn]:
    """Start HTTP servers on 127.0.0.1 (random port) for a folder; yields a base-URL factory."""
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(root: Path, handler: type[_QuietHandler] = _QuietHandler) -> str:
        server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(handler, directory=str(root))
        )
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _flip_byte(path: Path, offset: int = 100) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def _leftovers(dest: Path) -> list[Path]:
    """Temp, partial or download files the data step must never leave behind."""
    return [p for p in dest.rglob("*") if p.suffix in {".part", ".tmp"} or p.name == demo.DOWNLOAD_DIR_NAME]


def _assert_seeds(dest: Path) -> None:
    for seed, (header, rows) in EXPECTED.items():
        lines = (dest / seed).read_text(encoding="utf-8").splitlines()
        assert lines[0] == header, seed
        assert demo.count_rows(dest / seed) == rows, seed


def test_sha256_file(tmp_path: Path) -> None:
    path = tmp_path / "abc.txt"
    path.write_bytes(b"abc")
    assert sha256_file(path) == ("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")


def test_constants_match_release_sha256sums(mirror: Path) -> None:
    sums = RELEASE_DIR / "SHA256SUMS.txt"
    if not sums.is_file():
        pytest.skip(f"{sums} not present")
    official: dict[str, str] = {}
    for line in sums.read_text().splitlines():
        if line.strip():
            digest, name = line.split()
            official[name] = digest
    assert {t.path: t.sha256 for t in demo.TABLES} == {t.path: official[t.path] for t in demo.TABLES}
    assert [t.seed for t in demo.TABLES] == list(EXPECTED)


def test_local_copy_fetches_then_is_up_to_date(mirror: Path, tmp_path: Path) -> None:
    dest = tmp_path / "seeds"
    results = fetch_demo(dest, source_dir=mirror)
    assert [r.status for r in results] == ["fetched"] * len(demo.TABLES)
    assert {r.csv_path.name: r.rows for r in results} == {k: v[1] for k, v in EXPECTED.items()}
    _assert_seeds(dest)
    assert (dest / demo.MANIFEST_NAME).is_file()
    assert _leftovers(dest) == []

    mtimes = {p.name: p.stat().st_mtime_ns for p in dest.iterdir()}
    again = fetch_demo(dest, source_dir=mirror)
    assert [r.status for r in again] == ["up to date"] * len(demo.TABLES)
    assert [r.rows for r in again] == [r.rows for r in results]
    assert {p.name: p.stat().st_mtime_ns for p in dest.iterdir()} == mtimes


def test_download_from_http_server(
    mirror: Path, tmp_path: Path, serve: ServeFn, capsys: pytest.CaptureFixture[str]
) -> None:
    base_url = serve(mirror)
    dest = tmp_path / "seeds"
    results = fetch_demo(dest, base_url=base_url + "/")
    assert [r.status for r in results] == ["fetched"] * len(demo.TABLES)
    assert results[0].source == f"{base_url}/hosp/patients.csv.gz"
    _assert_seeds(dest)
    assert _leftovers(dest) == []
    assert "1,083 / 1,083 bytes (100%)" in capsys.readouterr().err


def test_corrupted_download_is_rejected(mirror: Path, tmp_path: Path, serve: ServeFn) -> None:
    _flip_byte(mirror / "hosp/patients.csv.gz")
    dest = tmp_path / "seeds"
    with pytest.raises(DataStepError) as excinfo:
        fetch_demo(dest, base_url=serve(mirror))
    message = str(excinfo.value)
    assert "hosp/patients.csv.gz" in message
    assert "sha256" in message
    assert demo.TABLES[0].sha256 in message
    assert sha256_file(mirror / "hosp/patients.csv.gz") in message
    assert not (dest / "patients.csv").exists()
    assert _leftovers(dest) == []


def test_missing_file_404(mirror: Path, tmp_path: Path, serve: ServeFn) -> None:
    (mirror / "icu/icustays.csv.gz").unlink()
    dest = tmp_path / "seeds"
    with pytest.raises(DataStepError, match=r"icu/icustays\.csv\.gz.*HTTP 404"):
        fetch_demo(dest, base_url=serve(mirror))
    assert not (dest / "icustays.csv").exists()
    assert (dest / "patients.csv").is_file()  # tables before the failure are kept
    assert _leftovers(dest) == []


def test_missing_file_in_local_copy(mirror: Path, tmp_path: Path) -> None:
    (mirror / "hosp/admissions.csv.gz").unlink()
    with pytest.raises(DataStepError, match=r"hosp/admissions\.csv\.gz: not found in the local"):
        fetch_demo(tmp_path / "seeds", source_dir=mirror)


def test_interrupted_download_leaves_nothing(mirror: Path, tmp_path: Path, serve: ServeFn) -> None:
    dest = tmp_path / "seeds"
    with pytest.raises(DataStepError, match=r"hosp/patients\.csv\.gz.*interrupted"):
        fetch_demo(dest, base_url=serve(mirror, _HalfBodyHandler))
    assert list(dest.iterdir()) == []


def test_keyboard_interrupt_leaves_nothing(
    mirror: Path, tmp_path: Path, serve: ServeFn, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(demo, "_report_progress", interrupt)
    dest = tmp_path / "seeds"
    with pytest.raises(KeyboardInterrupt):
        fetch_demo(dest, base_url=serve(mirror))
    assert list(dest.iterdir()) == []


def test_locally_corrupted_csv_is_refetched(mirror: Path, tmp_path: Path) -> None:
    dest = tmp_path / "seeds"
    fetch_demo(dest, source_dir=mirror)
    original = sha256_file(dest / "patients.csv")
    with (dest / "patients.csv").open("a", encoding="utf-8") as handle:
        handle.write("99999999,F,50,2150,2017 - 2019,\n")
    results = fetch_demo(dest, source_dir=mirror)
    assert [r.status for r in results] == ["fetched"] + ["up to date"] * (len(demo.TABLES) - 1)
    assert results[0].rows == 100
    assert sha256_file(dest / "patients.csv") == original


def test_cli_success_then_up_to_date(
    mirror: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--dest", str(tmp_path / "seeds"), "--source-dir", str(mirror)]
    assert main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == len(demo.TABLES) == 6
    assert out[0].split()[:2] == ["patients.csv", "fetched"]
    assert main(argv) == 0
    assert "up to date" in capsys.readouterr().out.splitlines()[-1]


def test_cli_uses_base_url_env(
    mirror: Path, tmp_path: Path, serve: ServeFn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MIMIC_DEMO_BASE_URL", serve(mirror))
    assert main(["--dest", str(tmp_path / "seeds")]) == 0
    _assert_seeds(tmp_path / "seeds")


def test_cli_checksum_mismatch(mirror: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _flip_byte(mirror / "hosp/patients.csv.gz")
    assert main(["--dest", str(tmp_path / "seeds"), "--source-dir", str(mirror)]) == 1
    captured = capsys.readouterr()
    err_lines = captured.err.strip().splitlines()
    assert len(err_lines) == 1
    assert err_lines[0].startswith("error: hosp/patients.csv.gz: sha256 mismatch")
    assert "Traceback" not in captured.err
    assert captured.out == ""


def test_find_project_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "dbt_project.yml").write_text("name: x\n")
    nested = tmp_path / "models" / "staging"
    nested.mkdir(parents=True)
    assert demo.find_project_root(nested) == tmp_path.resolve()
    elsewhere = tmp_path.parent / f"{tmp_path.name}-no-project"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert demo.find_project_root() == elsewhere.resolve()


def test_a_named_local_copy_that_does_not_exist_is_refused_even_when_up_to_date(
    mirror: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """MIMIC_DEMO_DIR set to a missing folder once the seeds are in place: the data step fails
    saying so, rather than reporting "up to date" without reading it."""
    dest = tmp_path / "seeds"
    fetch_demo(dest, source_dir=mirror)
    missing = tmp_path / "no such demo"
    with pytest.raises(DataStepError) as excinfo:
        fetch_demo(dest, source_dir=missing)
    assert str(excinfo.value).startswith(
        f"the local copy {missing} (--source-dir / MIMIC_DEMO_DIR) does not exist."
    )
    monkeypatch.setenv("MIMIC_DEMO_DIR", str(missing))
    assert main(["--dest", str(dest)]) == 1
    captured = capsys.readouterr()
    assert f"error: the local copy {missing} (--source-dir / MIMIC_DEMO_DIR) does not exist." in captured.err
    assert captured.out == ""


def test_a_named_local_copy_that_is_not_the_demo_is_refused(mirror: Path, tmp_path: Path) -> None:
    dest = tmp_path / "seeds"
    fetch_demo(dest, source_dir=mirror)
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "hosp").mkdir(parents=True)
    with pytest.raises(
        DataStepError, match=r"is not a MIMIC-IV demo release: no icu/ folder in it \(found: hosp\)"
    ):
        fetch_demo(dest, source_dir=elsewhere)
    # a copy with the layout but another file: read and verified, so refused by its SHA-256
    _flip_byte(mirror / "icu/icustays.csv.gz")
    with pytest.raises(DataStepError, match=r"icu/icustays\.csv\.gz: sha256 mismatch"):
        fetch_demo(dest, source_dir=mirror)


def test_a_named_local_copy_is_verified_when_the_seeds_are_up_to_date(
    mirror: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--dest", str(tmp_path / "seeds"), "--source-dir", str(mirror)]
    assert main(argv) == 0
    capsys.readouterr()
    assert main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == (
        f"All 6 tables up to date in {tmp_path / 'seeds'}; the local copy {mirror} matches the "
        "official SHA-256 of every table; nothing to do."
    )
