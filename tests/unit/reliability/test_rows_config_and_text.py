"""Issue 21 rows 7, 10, 11, 12 and 14: hostile configs, hostile text, secrets in names."""

from __future__ import annotations

import json
import resource
from pathlib import Path

import pytest
from pipeline_helpers import cli, write_openai_jsonl

from ai.core.config import ConfigError, load_config, parse_config
from ai.pipelines.orchestrator.logger import RunLogger
from ai.pipelines.orchestrator.unified_preprocessing_pipeline import normalise_text

BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def test_row07_billion_laughs_config_is_refused_before_interpolation(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(BILLION_LAUGHS)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ConfigError, match="aliases expand to"):
        load_config(path)
    assert (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024 < 50
    assert cli("validate-config", str(path)) == 2


def test_row07_cyclic_alias_is_refused_and_small_aliases_still_work(tmp_path: Path) -> None:
    cyclic = tmp_path / "cycle.yaml"
    cyclic.write_text("run: &r\n  name: x\n  self: *r\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_config(cyclic)
    fine = tmp_path / "fine.yaml"
    fine.write_text(
        "sources:\n  - &a {name: a, path: a.jsonl, license: CC-BY-4.0}\n  - {<<: *a, name: b, path: b.jsonl}\n"
    )
    config = load_config(fine)
    assert [(s.name, s.license) for s in config.sources] == [("a", "CC-BY-4.0"), ("b", "CC-BY-4.0")]


@pytest.mark.parametrize(
    "control", ["\u202e", "\u202c", "\u202a", "\u2066", "\u2069", "\u061c", "\u180e", "\u200e", "\u200f"]
)
def test_row10_bidi_controls_are_removed(control: str) -> None:
    text, _ = normalise_text(f"my file is called {control}gnp.exe{control} really")
    assert control not in text
    assert "gnp.exe" in text


@pytest.mark.parametrize(
    "emoji", ["👨\u200d👩\u200d👧", "🏳\ufe0f\u200d🌈", "👩🏽\u200d⚕\ufe0f", "❤\ufe0f\u200d🔥"]
)
def test_row10_zwj_is_kept_inside_emoji_sequences(emoji: str) -> None:
    text, _ = normalise_text(f"our family {emoji} at home")
    assert emoji in text


def test_row10_zwj_outside_emoji_is_removed() -> None:
    text, _ = normalise_text("pass\u200dword and \u200d👍 and 👍\u200d end")
    assert "\u200d" not in text


def _adhoc_run_config(tmp_path: Path, category: str) -> Path:
    data = tmp_path / "in.jsonl"
    write_openai_jsonl(data, 6, defects=False)
    config = tmp_path / "config.yaml"
    config.write_text(
        "run:\n  name: markup\n  workers: 1\nstages:\n  quality:\n    enabled: false\n  split:\n    enabled: false\n"
        f"sources:\n  - name: talks\n    path: {data}\n    category: {json.dumps(category)}\n"
        "catalog:\n  enabled: false\n"
    )
    return config


def test_row11_and_row12_user_strings_are_not_markup_and_secrets_in_keys_are_redacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CATEGORY_SECRET_TOKEN", "s3cr3t-in-a-name")
    config = _adhoc_run_config(tmp_path, "x [/bold] [red]${CATEGORY_SECRET_TOKEN}")
    assert cli("run", "-c", str(config), "-o", str(tmp_path / "run"), "-q") == 0
    out = capsys.readouterr().out
    assert "x [/bold] [red]***" in out or "x [/bold] [red]s3cr3t-in-a-name" in out  # printed as text
    log = (tmp_path / "run" / "logs" / "run.jsonl").read_text()
    assert "s3cr3t-in-a-name" not in log
    assert "x [/bold] [red]***" in log  # the category, as a key of the counts, redacted
    assert cli("validate-config", str(config)) == 0


def test_row12_redactor_redacts_mapping_keys() -> None:
    log = RunLogger()
    log.redactor = type(log.redactor)({"MY_API_KEY": "abcd-1234"})
    assert log.redactor.value({"cat-abcd-1234": {"abcd-1234": 1}}) == {"cat-***": {"***": 1}}


@pytest.mark.parametrize(
    ("run", "message"),
    [
        ({"seed": -1}, "run.seed: Expected `int` >= 0"),
        ({"seed": 2**64}, "run.seed: Expected `int` <= 4294967295"),
        ({"shard_size": 0}, "run.shard_size: Expected `int` >= 1"),
        ({"shard_size": -5}, "run.shard_size: Expected `int` >= 1"),
        ({"workers": -2}, "run.workers: Expected `int` >= 0"),
    ],
)
def test_row14_run_options_are_range_checked(run: dict[str, int], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"run": run})
    assert message in str(caught.value)


def test_row14_seed_on_the_command_line_is_range_checked(tmp_path: Path, capsys) -> None:
    data = tmp_path / "in.jsonl"
    write_openai_jsonl(data, 3, defects=False)
    assert cli("run", "-i", str(data), "-o", str(tmp_path / "run"), "--seed", "-1") == 2
    err = capsys.readouterr().err
    assert "run.seed" in err and "Traceback" not in err and "OverflowError" not in err
