from __future__ import annotations

from pathlib import Path

import pytest

from tests import vectors


def test_env_override_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "vectors").mkdir()
    (tmp_path / "vectors" / "x.json").write_text('{"a": "1.50"}', encoding="utf-8")
    monkeypatch.setenv("IPM_SHARED_DIR", str(tmp_path))
    assert vectors.vectors_dir() == tmp_path / "vectors"
    assert vectors.fen(vectors.load("x.json")["a"]) == 150


def test_missing_folder_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IPM_SHARED_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError):
        vectors.vectors_dir()


def test_fen_refuses_fractions_of_a_fen() -> None:
    with pytest.raises(ValueError):
        vectors.fen("1.005")
