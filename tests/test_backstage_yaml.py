"""App-configs read as Backstage reads them (YAML 1.2, the `yaml` npm package), within bounds."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from credplugin.backstage import yaml12
from credplugin.backstage.appconfig import ConfigError, load_app_config


def test_scalars_resolve_by_the_yaml_1_2_core_schema() -> None:
    doc = yaml12.load(
        "name: no\nday: 2025-01-15\nid: 0123\noctal: 0o17\nhex: 0x1f\nyes_: yes\nnull_: ~\n"
        "float: 1.5e3\nyes_bool: true\nunderscored: 1_000\nsexagesimal: 1:30\n"
    )
    assert doc == {
        "name": "no",
        "day": "2025-01-15",
        "id": 123,
        "octal": 15,
        "hex": 31,
        "yes_": "yes",
        "null_": None,
        "float": 1500.0,
        "yes_bool": True,
        "underscored": "1_000",
        "sexagesimal": "1:30",
    }


def test_a_merge_key_is_an_ordinary_key() -> None:
    doc = yaml12.load("base: &b {url: x}\ncluster:\n  <<: *b\n  name: c\n")
    assert doc["cluster"] == {"<<": {"url": "x"}, "name": "c"}


def test_a_key_twice_in_one_mapping_is_an_error() -> None:
    with pytest.raises(yaml12.DuplicateKey, match="'url' appears twice"):
        yaml12.load("url: a\nurl: b\n")


def test_an_alias_bomb_is_refused_fast() -> None:
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 12)]
    started = time.monotonic()
    with pytest.raises(yaml12.TooLarge, match="aliases"):
        yaml12.load("\n".join(levels))
    assert time.monotonic() - started < 2


def test_aliases_under_the_limit_still_cannot_expand_past_the_bound(tmp_path: Path) -> None:
    """Nine aliases, each of the previous one nine times: 9**9 values once walked."""
    levels = ["l0: &l0 [x, x, x, x, x, x, x, x, x]"]
    levels += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 10)]
    path = tmp_path / "app-config.yaml"
    path.write_text("kubernetes:\n  bomb:\n" + "\n".join("    " + line for line in levels))
    started = time.monotonic()
    with pytest.raises(ConfigError, match="expands past"):
        load_app_config([str(path)], {})
    assert time.monotonic() - started < 10


def test_include_cycles_are_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("x: {$include: b.yaml}\n")
    (tmp_path / "b.yaml").write_text("y: {$include: a.yaml}\n")
    (tmp_path / "app-config.yaml").write_text("kubernetes: {$include: a.yaml}\n")
    with pytest.raises(ConfigError, match=r"\$include cycle: app-config.yaml -> a.yaml -> b.yaml"):
        load_app_config([str(tmp_path / "app-config.yaml")], {})
    (tmp_path / "self.yaml").write_text("k: {$include: self.yaml}\n")
    (tmp_path / "app-config.yaml").write_text("kubernetes: {$include: self.yaml}\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_app_config([str(tmp_path / "app-config.yaml")], {})


def test_a_failure_outside_the_sections_we_read_is_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "app-config.yaml"
    path.write_text(
        "integrations:\n  github: {$include: missing.yaml}\n"
        "backend: {database: {$file: nope.txt}, x: {$include: also-missing.yaml}}\n"
        "kubernetes: {clusterLocatorMethods: []}\n"
    )
    warnings: list[str] = []
    config = load_app_config([str(path)], {}, warn=warnings.append)
    assert set(config) == {"kubernetes"}
    assert len(warnings) == 2 and "integrations" in warnings[0] and "backend" in warnings[1]
    path.write_text("kubernetes: {$include: missing.yaml}\n")
    with pytest.raises(ConfigError, match=r"missing\.yaml"):
        load_app_config([str(path)], {})


def test_variables_with_defaults_follow_backstage() -> None:
    from credplugin.backstage.appconfig import Ref, substitute

    assert substitute("${REGION:-eu-west-1}", {}) == Ref(
        "env", "REGION", "eu-west-1", "REGION is not set", ("REGION",)
    )
    got = substitute("https://${HOST:-h.example}/x", {"HOST": ""})
    assert isinstance(got, Ref) and got.value == "https://h.example/x"


def test_a_file_larger_than_any_app_config_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "app-config.yaml"
    path.write_text("x: " + "a" * (yaml12.MAX_FILE_BYTES + 10) + "\n")
    with pytest.raises(ConfigError, match="refused"):
        load_app_config([str(path)], {})


def test_pyyaml_itself_would_read_these_differently() -> None:
    """Why the loader exists: the same text under PyYAML's YAML 1.1 defaults."""
    assert yaml.safe_load("name: no\nid: 0123\n") == {"name": False, "id": 83}
