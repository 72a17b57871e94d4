"""Publishing on PostgreSQL by schema swap: which schemas, which statements (no server needed;
test_postgres.py runs them on one)."""

from __future__ import annotations

import pytest

from mimic_segments.publishing.errors import PublishError
from mimic_segments.publishing.schema_swap import (
    published_schemas,
    quote,
    rollback_statements,
    swap_statements,
)


def test_the_published_schemas_are_the_candidate_builds_without_the_suffix() -> None:
    manifest = {
        "nodes": {
            "model.p.a": {"schema": "marts__candidate", "config": {"enabled": True}},
            "seed.p.b": {"schema": "raw__candidate", "config": {}},
            "test.p.c": {"schema": "audit__candidate", "config": {"enabled": True}},
            "model.p.off": {"schema": "other__candidate", "config": {"enabled": False}},
            "model.p.d": {"schema": "marts__candidate", "config": {}},
        }
    }
    assert published_schemas(manifest) == ["audit", "marts", "raw"]
    with pytest.raises(PublishError, match="not a candidate build"):
        published_schemas({"nodes": {"model.p.a": {"schema": "marts", "config": {}}}})


def test_the_swap_keeps_the_published_schema_as_previous_and_drops_the_older_one() -> None:
    existing = {"marts", "marts__candidate", "marts__previous", "raw__candidate", "audit"}
    assert swap_statements(["audit", "marts", "raw"], existing) == [
        'drop schema "marts__previous" cascade',
        'alter schema "marts" rename to "marts__previous"',
        'alter schema "marts__candidate" rename to "marts"',
        'alter schema "raw__candidate" rename to "raw"',
    ]


def test_rollback_trades_names_with_the_previous_version_only_where_there_is_one() -> None:
    existing = {"marts", "marts__previous", "raw"}
    assert rollback_statements(["marts", "raw"], existing) == [
        'alter schema "marts" rename to "marts__swap"',
        'alter schema "marts__previous" rename to "marts"',
        'alter schema "marts__swap" rename to "marts__previous"',
    ]
    assert rollback_statements(["marts"], {"marts__previous"}) == [
        'alter schema "marts__previous" rename to "marts"'
    ]


def test_schema_names_are_quoted() -> None:
    assert quote('we"ird') == '"we""ird"'
