"""Config loading: every shipped YAML validates; bad files fail with file, line and key path."""

from pathlib import Path

import pytest

from dta_edge.config import CONFIG_KINDS, config_class, dump_config, load_config
from dta_edge.errors import ConfigError
from dta_edge.models.tiny_config import TinyModelConfig
from dta_edge.tasks.generator import ProblemsConfig

from .conftest import REPO, run_dta

SHIPPED = sorted(
    p
    for folder in ("curation", "export", "bench", "profiles", "analysis")
    for p in (REPO / folder).rglob("*.yaml")
)


def test_shipped_yaml_files_exist():
    assert len(SHIPPED) >= 5


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(REPO)))
def test_every_shipped_yaml_validates(path, tmp_path):
    config = load_config(path)
    assert config.kind in CONFIG_KINDS
    # Round trip: what `dta config show` prints loads back to the same config.
    round_trip = tmp_path / path.name
    round_trip.write_text(dump_config(config))
    assert load_config(round_trip) == config


def test_every_kind_resolves_to_a_frozen_strict_model():
    for kind in CONFIG_KINDS:
        model = config_class(kind)
        assert model.model_config["frozen"] and model.model_config["extra"] == "forbid"
        assert model.model_fields["kind"].default == kind


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(text)
    return path


def test_unknown_key_names_line_and_suggests(tmp_path):
    path = write(tmp_path, "kind: tiny-model\nseed: 1\nhiden_size: 64\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message
    assert "line 3: hiden_size: unknown key (did you mean 'hidden_size'?)" in message


def test_wrong_type_names_line_and_value(tmp_path):
    path = write(tmp_path, "kind: problems\nn: many\nseed: 3\n")
    with pytest.raises(ConfigError, match=r"line 2: n: .*integer.*\"many\""):
        load_config(path)


def test_string_number_is_not_silently_coerced(tmp_path):
    path = write(tmp_path, "kind: problems\nn: '12'\n")
    with pytest.raises(ConfigError, match="line 2: n"):
        load_config(path)


def test_missing_field_names_parent_line(tmp_path):
    path = write(tmp_path, "kind: export-target\nname: x\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    problems = info.value.problems
    assert any(p.startswith("line 1: format: required field is missing") for p in problems)
    assert len(problems) >= 3  # every missing field reported at once


def test_nested_list_item_error_names_index(tmp_path):
    path = write(tmp_path, "kind: problems\nfamilies:\n  - erlang-b\n  - no-such-family\n")
    with pytest.raises(ConfigError, match=r"line 2: families: .*no-such-family"):
        load_config(path)


def test_invalid_yaml_and_duplicate_keys(tmp_path):
    with pytest.raises(ConfigError, match="not valid YAML: .*flow sequence started on line 2"):
        load_config(write(tmp_path, "kind: problems\nn: [1, 2\n"))
    with pytest.raises(ConfigError, match="line 3: duplicate key 'n'"):
        load_config(write(tmp_path, "kind: problems\nn: 1\nn: 2\n"))


def test_unknown_and_mismatched_kind(tmp_path):
    with pytest.raises(ConfigError, match="unknown kind 'recipe'; valid kinds:"):
        load_config(write(tmp_path, "kind: recipe\n"))
    with pytest.raises(ConfigError, match="kind: expected 'tiny-model', got 'problems'"):
        load_config(write(tmp_path, "kind: problems\n"), TinyModelConfig)


def test_expected_kind_may_be_omitted(tmp_path):
    config = load_config(write(tmp_path, "n: 5\n"), ProblemsConfig)
    assert config.n == 5 and config.kind == "problems"


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read file"):
        load_config(tmp_path / "absent.yaml")


def test_configs_are_frozen():
    config = ProblemsConfig()
    with pytest.raises(ValueError):
        config.n = 3  # type: ignore[misc]


def test_cli_bad_config_exits_2_without_traceback(tmp_path):
    path = write(tmp_path, "kind: problems\nn: -4\nsed: 1\n")
    result = run_dta(
        "problems", "generate", "--config", str(path), "--out", str(tmp_path / "p.jsonl")
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "line 2: n:" in result.stderr and "line 3: sed: unknown key" in result.stderr
    assert not (tmp_path / "p.jsonl").exists()


def test_cli_config_show_prints_resolved_defaults(tmp_path):
    path = write(tmp_path, "kind: tiny-model\nseed: 3\n")
    result = run_dta("config", "show", str(path))
    assert result.returncode == 0, result.stderr
    assert "seed: 3" in result.stdout and "hidden_size: 128" in result.stdout
