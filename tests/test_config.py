from __future__ import annotations

from pathlib import Path

import pytest

from indexer.config import Settings, load_settings
from indexer.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent


def test_defaults_need_no_file() -> None:
    settings = load_settings()
    assert settings.model.name == "all-MiniLM-L6-v2"
    assert settings.index.type == "auto"


def test_repo_config_yaml_is_valid_and_documents_every_key() -> None:
    text = (REPO / "config.yaml").read_text(encoding="utf-8")
    settings = load_settings(REPO / "config.yaml")
    assert settings.index_dir == REPO / "index"
    for section, model in Settings.model_fields.items():
        assert f"{section}:" in text, section
        annotation = model.annotation
        for key in getattr(annotation, "model_fields", {}):
            assert f"  {key}:" in text, f"config.yaml does not document {section}.{key}"


@pytest.mark.parametrize(
    ("yaml_text", "named_key"),
    [
        ("index:\n  type: annoy\n", "index.type"),
        ("model:\n  batch_size: 0\n", "model.batch_size"),
        ("chunking:\n  max_tokens: 64\n  overlap_tokens: 64\n", "chunking"),
        ("search:\n  max_k: -3\n", "search.max_k"),
        ("serch:\n  k: 3\n", "serch"),
        ("model:\n  nmae: x\n", "model.nmae"),
    ],
)
def test_bad_value_fails_naming_the_key(tmp_path: Path, yaml_text: str, named_key: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(yaml_text, encoding="utf-8")
    with pytest.raises(ConfigError, match=named_key.replace(".", r"\.")):
        load_settings(path)


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("index: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(bad)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("just a string\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="mapping"):
        load_settings(scalar)


def test_overrides_win_and_relative_index_dir_follows_the_file(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "c.yaml"
    path.parent.mkdir()
    path.write_text("index_dir: idx\nmodel:\n  name: foo\n", encoding="utf-8")
    settings = load_settings(path)
    assert settings.index_dir == path.parent / "idx"
    overridden = load_settings(path, {"model.name": "multilingual-e5-small", "index_dir": "/x"})
    assert overridden.model.name == "multilingual-e5-small"
    assert overridden.index_dir == Path("/x")
