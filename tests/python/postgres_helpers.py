"""Shared by the PostgreSQL test modules: the test server, and reading a mart built there
(compared with DuckDB's through engine_comparison and conftest.assert_same_values).

The server is the profile target `postgres` (MIMIC_SEGMENTS_PG_* variables, as in profiles.yml).
Without one the modules are skipped, unless MIMIC_SEGMENTS_REQUIRE_POSTGRES=1 (set by
`make test-postgres` and CI), where that is a failure.
"""

from __future__ import annotations

import os
from typing import Any

import pandas as pd
import pytest
from engine_comparison import sorted_by

REQUIRED = bool(os.environ.get("MIMIC_SEGMENTS_REQUIRE_POSTGRES"))


def connect(database: str | None = None) -> Any:
    """A psycopg2 connection to the test server: the profile's database, or ``database``."""
    import psycopg2

    return psycopg2.connect(
        host=os.environ.get("MIMIC_SEGMENTS_PG_HOST", "127.0.0.1"),
        port=int(os.environ.get("MIMIC_SEGMENTS_PG_PORT", "54329")),
        user=os.environ.get("MIMIC_SEGMENTS_PG_USER", "postgres"),
        password=os.environ.get("MIMIC_SEGMENTS_PG_PASSWORD", ""),
        dbname=database or os.environ.get("MIMIC_SEGMENTS_PG_DATABASE", "mimic_segments"),
        connect_timeout=3,
    )


def skip_without_server() -> None:
    """Skip the calling test when no server answers, unless one is required."""
    import psycopg2

    try:
        connect().close()
    except psycopg2.OperationalError as error:
        if REQUIRED:
            raise
        pytest.skip(f"no PostgreSQL server (make test-postgres starts one): {error}")


def frame_from_postgres(
    table: str, keys: list[str], database: str | None = None, schema: str = "marts"
) -> pd.DataFrame:
    with connect(database) as connection, connection.cursor() as cursor:
        cursor.execute(f"select * from {schema}.{table}")
        columns = [column.name for column in cursor.description]
        frame = pd.DataFrame(cursor.fetchall(), columns=columns)
    return sorted_by(frame, keys)
