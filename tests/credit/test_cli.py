"""``xinyi import-records`` and ``xinyi recompute-scores``, run in-process against the test database."""

from __future__ import annotations

import io
import json
from pathlib import Path

import orjson
import pytest

from credit.cli import import_file, recompute_everyone
from credit.models import CreditRecord, CreditScore, ScoreHistory, Subject
from tests.credit.conftest import MP
from xinyi import cli


@pytest.fixture
def cli_env(settings, monkeypatch):
    """Point ``xinyi`` (which reads the environment) at the test database and keys."""
    monkeypatch.setenv("XINYI_ENV", "test")
    monkeypatch.setenv("XINYI_VAR_DIR", str(settings.var_dir))
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    if settings.redis_url:
        monkeypatch.setenv("REDIS_URL", settings.redis_url)
    return settings


def run(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as done:
        cli.main(argv)
    return done.value.code


def jsonl(path: Path, lines: list) -> Path:
    path.write_text(
        "".join(
            (line if isinstance(line, str) else json.dumps(line, ensure_ascii=False)) + "\n" for line in lines
        ),
        encoding="utf-8",
    )
    return path


class TestImportRecords:
    def test_streams_the_file_reports_bad_lines_and_reruns_idempotently(
        self, cli_env, tmp_path, capsys, record, id_number
    ):
        bad_number = record(id_number(9))
        bad_number["id_number"] = bad_number["id_number"][:-1] + (
            "1" if bad_number["id_number"][-1] != "1" else "2"
        )
        source = jsonl(
            tmp_path / "records.jsonl",
            [
                record(id_number(1)),
                record(id_number(2)),
                record(id_number(3), category="red_list", severity=None),
                "{not json",
                "",
                bad_number,
                record(id_number(4)),
                record(id_number(5), category="nope"),
            ],
        )
        errors = tmp_path / "errors.jsonl"
        assert run(["import-records", str(source), "--batch-size", "2", "--errors", str(errors)]) == 1
        out, err = capsys.readouterr()
        assert "import-records" in err and "100%" in err  # the progress bar
        assert "line 4: INVALID_JSON" in out
        assert "line 6: ID_NUMBER_INVALID" in out and "check digit" in out
        assert "line 8: VALIDATION_ERROR" in out and "category" in out
        assert "7 lines" in out and "4 created, 0 updated, 0 unchanged, 3 rejected" in out
        logged = [orjson.loads(line) for line in errors.read_text().splitlines()]
        assert [(e["line"], e["code"]) for e in logged] == [
            (4, "INVALID_JSON"),
            (6, "ID_NUMBER_INVALID"),
            (8, "VALIDATION_ERROR"),
        ]

        assert run(["import-records", str(source), "--batch-size", "3"]) == 1
        out, _ = capsys.readouterr()
        assert "0 created, 0 updated, 4 unchanged, 3 rejected" in out

    def test_a_clean_file_exits_zero_and_a_missing_file_two(
        self, cli_env, tmp_path, capsys, record, id_number
    ):
        source = jsonl(tmp_path / "ok.jsonl", [record(id_number(n)) for n in range(1, 6)])
        assert run(["import-records", str(source)]) == 0
        assert "5 created" in capsys.readouterr().out
        assert run(["import-records", str(tmp_path / "missing.jsonl")]) == 2

    async def test_imported_records_attach_when_the_resident_signs_up(
        self, client, app, tmp_path, record, id_number
    ):
        source = jsonl(tmp_path / "r.jsonl", [record(id_number(3), severity="serious") for _ in range(2)])
        out = io.StringIO()
        code = await import_file(
            source, hasher=app.ctx.hasher, cipher=app.ctx.cipher, out=out, progress=io.StringIO()
        )
        assert code == 0 and await CreditRecord.all().count() == 2
        resident = await client.login_resident(identity=id_number(3))
        score = (await client.get(f"{MP}/score", headers=resident["headers"])).json()
        assert (score["score"], score["tier"]) == (360, "C")


class TestRecomputeScores:
    async def test_reproduces_the_per_request_scores_and_a_second_run_adds_nothing(
        self, client, post_records, record, id_number
    ):
        residents = [await client.login_resident(identity=id_number(n)) for n in range(1, 4)]
        await post_records(
            [
                record(id_number(1), severity="minor"),
                record(id_number(2), category="black_list", severity=None),
                record(id_number(3), category="commendation", severity=None),
                record(id_number(3), category="court_judgment", severity="serious"),
            ]
        )
        before = [(await client.get(f"{MP}/score", headers=r["headers"])).json() for r in residents]
        # Lose every score and one resident's link (as if bound before the credit engine existed).
        await CreditScore.all().delete()
        await ScoreHistory.all().delete()
        await Subject.filter(id=(await Subject.all().order_by("id").first()).id).update(resident_id=None)

        out, progress = io.StringIO(), io.StringIO()
        assert await recompute_everyone(batch_size=2, out=out, progress=progress) == 0
        assert "3 residents" in out.getvalue() and "3 scores changed" in out.getvalue()
        assert "recompute-scores" in progress.getvalue() and "3/3" in progress.getvalue()
        after = [(await client.get(f"{MP}/score", headers=r["headers"])).json() for r in residents]
        keys = ("score", "tier", "factors", "next_tier", "ruleset_version")
        assert [{k: s[k] for k in keys} for s in after] == [{k: s[k] for k in keys} for s in before]
        rows = await ScoreHistory.all().values_list("reason", flat=True)
        assert sorted(rows) == ["recompute"] * 3

        out = io.StringIO()
        await recompute_everyone(out=out, progress=io.StringIO())
        assert "0 scores changed" in out.getvalue()
        assert await ScoreHistory.all().count() == 3

    def test_the_command_runs(self, cli_env, capsys):
        assert run(["recompute-scores", "--batch-size", "50"]) == 0
        out, err = capsys.readouterr()
        assert "0 residents" in out and "recompute-scores" in err


class TestRulesetCommands:
    def test_dry_run_and_activate_from_the_command_line(self, cli_env, capsys):
        assert run(["dry-run-ruleset", "default-v1"]) == 0
        assert json.loads(capsys.readouterr().out)["compared_with"] == "default-v1"
        assert run(["activate-ruleset", "default-v1"]) == 0
        assert "default-v1 is active" in capsys.readouterr().out
        assert run(["activate-ruleset", "no-such-version"]) == 1
        assert "No ruleset" in capsys.readouterr().err
