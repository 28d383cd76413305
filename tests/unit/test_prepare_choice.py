"""Which path prepares, and in how many prepare processes: one choice, from the settings."""

from __future__ import annotations

import pytest

from connector.config import Settings
from connector.prepare import native
from connector.prepare.choice import PrepareChoice, choose
from connector.prepare.preparer import Preparer
from connector.process import compiled as _compiled
from connector.process import cpus


def settings(**sections: object) -> Settings:
    return Settings(**sections)  # type: ignore[arg-type]


def test_the_defaults_prepare_natively_in_the_kafka_thread() -> None:
    assert native.available(), "connector.prepare._native is not built: `make setup`"
    chosen = choose(settings())
    assert chosen == PrepareChoice(native=True, processes=0, usable_cpus=cpus.usable_cpus())
    assert chosen.describe() == (
        f"decode and transform in the Kafka thread (auto: {cpus.usable_cpus()} CPUs usable), "
        "the native path for the common case: schemaless Avro (the bundled schema): native"
    )
    preparer = chosen.open(settings())
    try:
        assert isinstance(preparer, Preparer)
        assert preparer.native
    finally:
        preparer.close()


SCHEMALESS = "schemaless Avro (the bundled schema): native"
CONFLUENT = (
    "Confluent wire format: native, each schema id's writer schema planned once; Python for an "
    "id whose writer schema it cannot plan (logged once per id)"
)


@pytest.mark.parametrize(
    ("sections", "why"),
    [
        (
            {"transform": {"allowed_fields": ["user_data.hashed_emails"]}},
            (SCHEMALESS, "transform.allowed_fields: native"),
        ),
        (
            {"transform": {"consent": {"property": "groups", "category": "C0004"}}},
            (
                SCHEMALESS,
                "consent 'groups' (by category 'C0004'): native for a granted consent, Python "
                "decides the others",
            ),
        ),
        (
            {
                "decode": {
                    "format": "confluent",
                    "schema_registry_url": "http://127.0.0.1:1/apis/ccompat/v7",
                }
            },
            (CONFLUENT,),
        ),
    ],
    ids=["allow-list", "consent-category", "confluent"],
)
def test_the_settings_data_platforms_run_choose_the_native_path_and_say_why(
    sections: dict[str, object], why: tuple[str, ...]
) -> None:
    chosen = choose(settings(**sections, pipeline={"prepare_processes": 0}))
    assert chosen == PrepareChoice(native=True, processes=0)
    assert chosen.why == why
    assert chosen.describe() == (
        "decode and transform in the Kafka thread, the native path for the common case: "
        + "; ".join(why)
    )


def test_the_python_path_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_compiled.PURE_ENV, "1")
    chosen = choose(settings(pipeline={"prepare_processes": 0}))
    assert chosen == PrepareChoice(native=False, processes=0)
    assert chosen.describe() == (
        f"decode and transform in the Kafka thread, the Python path: {_compiled.PURE_ENV}=1"
    )


def test_a_count_is_taken_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cpus, "usable_cpus", lambda: 8)
    chosen = choose(settings(pipeline={"prepare_processes": 2}))
    assert chosen.processes == 2
    assert chosen.usable_cpus is None
    assert chosen.describe().startswith("decode and transform in 2 prepare process(es), ")


def test_auto_on_the_python_path_starts_a_process_with_two_cpus(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cpus, "usable_cpus", lambda: 2)
    assert choose(settings()) == PrepareChoice(True, 0, usable_cpus=2)  # native: none
    monkeypatch.setenv(_compiled.PURE_ENV, "1")
    assert choose(settings()) == PrepareChoice(False, 1, usable_cpus=2)
