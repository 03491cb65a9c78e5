"""The command line as a user (or another tool) runs it: a real process, real files."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

COMMANDS = ["index", "rebuild", "search", "stats", "eval", "serve"]


def semsearch(*args: str, cwd: Path = REPO, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "semsearch", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture
def fake_config(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text("index_dir: idx\nmodel:\n  name: hashing\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    out = semsearch(command, "--help").stdout
    assert "usage: semsearch" in out and command in out


def test_global_help_lists_commands() -> None:
    out = semsearch("--help").stdout
    for command in COMMANDS:
        assert command in out
    for option in ("--config", "--index-dir", "--model"):
        assert option in out


def test_index_search_stats_round_trip(fake_config: Path, small_corpus: Path, tmp_path: Path) -> None:
    (small_corpus / "blob.bin").write_bytes(b"\x00\x01binary")
    out = semsearch("--config", str(fake_config), "index", str(small_corpus))
    assert "+5 added" in out.stdout and "skipped 1 file: 1 unsupported type (.bin 1)" in out.stderr
    assert "blob.bin" not in out.stderr, "one summary line, not a line per skipped file"
    verbose = semsearch("--config", str(fake_config), "rebuild", "-v")
    assert "blob.bin" in verbose.stderr
    result = json.loads(
        semsearch("--config", str(fake_config), "search", "cat mouse barn", "-k", "3", "--json").stdout
    )
    assert set(result) >= {"query", "took_ms", "results"}
    hits = result["results"]
    assert hits[0]["source"].endswith("cats.txt")
    assert set(hits[0]) >= {"doc_id", "chunk_id", "title", "source", "score", "snippet"}
    assert hits[0]["semantic_score"] is not None and hits[0]["keyword_score"] is not None
    scores = [h["score"] for h in hits]
    assert scores == sorted(scores, reverse=True)
    kept = json.loads(
        semsearch(
            "--config", str(fake_config), "search", "cat mouse barn", "-k", "3", "--json",
            "--min-score", str((scores[0] + scores[1]) / 2),
        ).stdout
    )  # fmt: skip
    assert [h["doc_id"] for h in kept["results"]] == [hits[0]["doc_id"]] and kept["total"] == 1
    text = semsearch("--config", str(fake_config), "search", "cat mouse barn", "-k", "1").stdout
    assert re.search(r"\(semantic -?\d\.\d{3}, keyword \d+\.\d{3}\)", text.splitlines()[0]), text
    stats = semsearch("--config", str(fake_config), "stats").stdout
    for key in (
        "documents: 5",
        "chunks",
        "model",
        "dimension",
        "index_type",
        "index_type: 1 segment: flat",
        "segments: 1",
        "size_on_disk",
        "built_at",
    ):
        assert key in stats
    plain = semsearch("--config", str(fake_config), "search", "ham sandwiches").stdout
    assert "food.md" in plain
    again = semsearch("--config", str(fake_config), "rebuild").stdout
    assert again.startswith("published") and "5 documents" in again


def test_index_dir_override_beats_config(fake_config: Path, small_corpus: Path, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    semsearch("--config", str(fake_config), "--index-dir", str(other), "index", str(small_corpus))
    assert (other / "CURRENT").exists() and not (tmp_path / "idx").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["search", "anything"], "no index"),
        (["index", "/definitely/not/here"], "no such file or folder"),
        (["--config", "/nope.yaml", "stats"], "config file not found"),
    ],
)
def test_user_mistakes_print_one_line_and_exit_non_zero(
    fake_config: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    base = [] if args[0] == "--config" else ["--config", str(fake_config)]
    proc = semsearch(*base, *args, check=False)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in proc.stderr


def test_out_of_range_k_and_bad_filter(fake_config: Path, small_corpus: Path) -> None:
    semsearch("--config", str(fake_config), "index", str(small_corpus))
    for args, message in (
        ([" "], "query is empty"),
        (["-k", "0"], "k must be between"),
        (["-k", "100000"], "k must be between"),
        (["--filter", "nonsense"], "FIELD=VALUE"),
        (["--filter", "colour=red"], "unknown filter field"),
        (["--min-score", "nan"], "min_score must be a finite number"),
    ):
        query = [] if args == [" "] else ["cat"]
        proc = semsearch("--config", str(fake_config), "search", *query, *args, check=False)
        assert proc.returncode == 1 and message in proc.stderr, proc.stderr


def test_bad_config_value_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("index:\n  type: annoy\n", encoding="utf-8")
    proc = semsearch("--config", str(path), "stats", check=False)
    assert proc.returncode == 1 and "index.type" in proc.stderr


@pytest.mark.slow
def test_real_model_end_to_end_from_the_command_line(small_corpus: Path, tmp_path: Path) -> None:
    index_dir = str(tmp_path / "real-idx")
    semsearch("--index-dir", index_dir, "index", str(small_corpus))
    for mode in ("semantic", "hybrid"):
        result = json.loads(
            semsearch(
                "--index-dir", index_dir, "search", "kitten hunting rodents", "--mode", mode, "--json"
            ).stdout
        )
        assert result["results"][0]["source"].endswith("cats.txt"), mode


def test_a_full_disk_is_one_line_and_the_index_stays(
    fake_config: Path, small_corpus: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import errno

    from indexer import segments
    from semsearch.cli import main

    semsearch("--config", str(fake_config), "index", str(small_corpus))
    before = semsearch("--config", str(fake_config), "stats").stdout

    def full(*_args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(segments, "save_npy", full)
    (small_corpus / "new.txt").write_text("A new note about glaciers.\n", encoding="utf-8")
    with pytest.raises(SystemExit) as exit_info:
        main(["--config", str(fake_config), "index", str(small_corpus)])
    err = capsys.readouterr().err
    assert exit_info.value.code == 1 and "disk is full" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    after = semsearch("--config", str(fake_config), "stats").stdout
    assert after.splitlines()[0] == before.splitlines()[0] and before.split()[:2] == ["documents:", "5"]


def test_serve_on_a_busy_port_fails_at_once(fake_config: Path, small_corpus: Path) -> None:
    import socket

    semsearch("--config", str(fake_config), "index", str(small_corpus))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = semsearch("--config", str(fake_config), "serve", "--port", str(port), check=False)
    assert proc.returncode == 1 and f"cannot serve on 127.0.0.1:{port}" in proc.stderr
    assert "serving" not in proc.stdout


def test_global_options_work_after_the_command(fake_config: Path, small_corpus: Path, tmp_path: Path) -> None:
    other = tmp_path / "after"
    semsearch("index", str(small_corpus), "--config", str(fake_config), "--index-dir", str(other))
    assert (other / "CURRENT").exists()
    stats = semsearch("stats", "--index-dir", str(other), "--config", str(fake_config)).stdout
    assert "documents: 5" in stats


def test_list_show_delete_and_stats_by_type(fake_config: Path, small_corpus: Path) -> None:
    (small_corpus / "blob.bin").write_bytes(b"\x00\x01binary")
    semsearch("--config", str(fake_config), "index", str(small_corpus))
    listing = json.loads(semsearch("--config", str(fake_config), "list", "--json").stdout)
    assert listing["total"] == 5 and len(listing["documents"]) == 5
    cats = next(d for d in listing["documents"] if d["source"].endswith("cats.txt"))
    assert cats["chunks"] == 1 and cats["title"]
    shown = json.loads(semsearch("--config", str(fake_config), "show", cats["doc_id"], "--json").stdout)
    assert "mouse" in shown["text"] and shown["chunks"][0]["text"]
    stats = semsearch("--config", str(fake_config), "stats").stdout
    assert "by_type: .txt 3" in stats and "skipped_last_run: 1" in stats and "blob.bin" in stats
    gone = semsearch("--config", str(fake_config), "delete", cats["doc_id"])
    assert gone.stdout.startswith("deleted 1 documents for good; 4 left")
    result = json.loads(semsearch("--config", str(fake_config), "search", "cat mouse barn", "--json").stdout)
    assert not any(h["source"].endswith("cats.txt") for h in result["results"])
    missing = semsearch("--config", str(fake_config), "show", cats["doc_id"], check=False)
    assert missing.returncode == 1 and "no document with id" in missing.stderr
    by_source = semsearch("--config", str(fake_config), "delete", "--source", "*/sub/*")
    assert by_source.stdout.startswith("deleted 2 documents")
