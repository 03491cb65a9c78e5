"""The `semsearch` command: parses arguments, calls the library, prints. No logic of its own.

Global options (`--config`, `--index-dir`, `--model`, `--threads`) work with every command.
A user mistake prints one line to stderr and exits 1; nothing prints a traceback for it.
"""

from __future__ import annotations

import argparse
import errno
import gc
import json
import os
import sqlite3
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from indexer.config import MODES, Settings, load_settings
from indexer.errors import SemsearchError
from indexer.runtime import configure_threads
from semsearch import space_commands

DEFAULT_CONFIG = Path("config.yaml")


def _warn(message: str) -> None:
    print(f"semsearch: {message}", file=sys.stderr)


def _global_options(parser: argparse.ArgumentParser, default: Any) -> None:
    """The options every command takes, before or after its name (`default` SUPPRESS on the
    commands, so a value given before the name is not reset by the command's own parser)."""
    parser.add_argument(
        "--config", type=Path, default=default, help="YAML config (default: ./config.yaml if present)"
    )
    parser.add_argument(
        "--index-dir", type=Path, default=default, help="index directory (overrides index_dir)"
    )
    parser.add_argument(
        "--model", default=default, help="embedding model name or path (default: the index's own model)"
    )
    parser.add_argument(
        "--threads", type=int, default=default, help="CPU threads for indexing (runtime.threads; 0 = all)"
    )


def _engine_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--engine", choices=("local", "ray"), default=None, help="chunk and embed here or on Ray"
    )
    parser.add_argument(
        "--ray-address", default=None, metavar="ADDR", help="a running Ray cluster (default: a local Ray)"
    )


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="semsearch", description="Index your documents and search them by meaning."
    )
    _global_options(parser, None)
    shared = argparse.ArgumentParser(add_help=False)
    _global_options(shared, argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    index = commands.add_parser(
        "index", parents=[shared], help="add new and changed documents, drop vanished ones"
    )
    index.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    index.add_argument("-v", "--verbose", action="store_true", help="name every skipped file")
    _engine_options(index)

    rebuild = commands.add_parser(
        "rebuild", parents=[shared], help="build a complete new index and swap it in atomically"
    )
    rebuild.add_argument(
        "paths", nargs="*", type=Path, metavar="PATH", help="default: the paths the index was built from"
    )
    rebuild.add_argument("-v", "--verbose", action="store_true", help="name every skipped file")
    _engine_options(rebuild)

    search = commands.add_parser("search", parents=[shared], help="search the index")
    search.add_argument("query")
    search.add_argument("-k", type=int, default=None, help="number of results (default 10)")
    search.add_argument("--offset", type=int, default=0)
    search.add_argument("--mode", choices=MODES, default=None)
    search.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="metadata filter; also source=PREFIX|GLOB, modified_after=, modified_before=",
    )
    search.add_argument("--all-chunks", action="store_true", help="do not collapse to one hit per document")
    search.add_argument(
        "--min-score",
        type=float,
        default=None,
        metavar="SCORE",
        help="drop hits scoring below SCORE (cosine in semantic, BM25 in keyword, fused z-score in hybrid)",
    )
    search.add_argument(
        "--diversity",
        type=float,
        default=0.0,
        metavar="D",
        help="re-rank for variety by MMR: 0 (default) the plain ranking .. 1 novelty only",
    )
    search.add_argument("--json", action="store_true", help="print JSON")

    commands.add_parser("stats", parents=[shared], help="what the index holds")
    check = commands.add_parser("check", parents=[shared], help="verify the index: files, counts, integrity")
    check.add_argument(
        "--repair",
        action="store_true",
        help="rebuild what is derived (ANN, keyword postings, checksums) from what is stored; embeds nothing",
    )
    snapshot = commands.add_parser(
        "snapshot", parents=[shared], help="copy the live index to DIR (consistent while a server runs)"
    )
    snapshot.add_argument("dest", type=Path, metavar="DIR")
    restore = commands.add_parser(
        "restore", parents=[shared], help="publish a snapshot from DIR as the live index (atomically)"
    )
    restore.add_argument("source", type=Path, metavar="DIR")
    listing = commands.add_parser("list", parents=[shared], help="the documents the index holds, by source")
    listing.add_argument("--source", help="only sources matching this glob, e.g. '*/notes/*'")
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--offset", type=int, default=0)
    listing.add_argument("--json", action="store_true")
    show = commands.add_parser("show", parents=[shared], help="one document: metadata, text, chunks")
    show.add_argument("doc_id", metavar="ID")
    show.add_argument("--json", action="store_true")
    delete = commands.add_parser(
        "delete", parents=[shared], help="delete documents for good (text, keyword rows, vectors)"
    )
    delete.add_argument("doc_ids", nargs="*", metavar="ID")
    delete.add_argument("--source", help="also every document whose source matches this glob")
    commands.add_parser(
        "compact",
        parents=[shared],
        help="merge the index's segments and drop deleted rows (also happens automatically)",
    )

    evaluate = commands.add_parser("eval", parents=[shared], help="nDCG/recall/MRR on a BEIR-layout dataset")
    evaluate.add_argument("dataset", type=Path)
    evaluate.add_argument("--mode", choices=MODES, default=None)
    evaluate.add_argument("--split", default="test")
    evaluate.add_argument("--max-queries", type=int, default=0, help="evaluate only the first N queries")
    evaluate.add_argument(
        "--exact-baseline",
        action="store_true",
        help="also measure exact (flat) search and report the ANN recall gap",
    )
    evaluate.add_argument("--json", action="store_true")

    serve = commands.add_parser("serve", parents=[shared], help="serve the search page and the JSON API")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    space_commands.add_parsers(commands, shared)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    config = args.config
    if config is None and DEFAULT_CONFIG.exists():
        config = DEFAULT_CONFIG
    overrides: dict[str, Any] = {
        "index_dir": args.index_dir,
        "model.name": args.model,
        "runtime.threads": args.threads,
        "engine.kind": getattr(args, "engine", None),
        "engine.ray_address": getattr(args, "ray_address", None),
    }
    if args.model:  # a model chosen on the command line picks its own backend
        overrides["model.backend"] = "auto"
    return load_settings(config, overrides)


def _parse_filters(pairs: Sequence[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SemsearchError(f"--filter expects FIELD=VALUE, got {pair!r}")
        out[key.strip()] = value
    return out


def _print_hits(result: Any) -> None:
    if not result.hits:
        print(f"no results for {result.query!r}")
        return
    for rank, hit in enumerate(result.hits, start=1):
        sides = ""
        if result.mode == "hybrid":
            shown = [f"{name} {'-' if s is None else f'{s:.3f}'}" for name, s in _sides(hit)]
            sides = f"  ({', '.join(shown)})"
        print(f"{rank:>2}. {hit.score:.3f}  {hit.title}{sides}")
        print(f"    {hit.source}")
        print(f"    {hit.snippet}")
    print(f"({len(result.hits)} of {result.total} in {result.took_ms:.1f} ms, {result.mode})")


def _sides(hit: Any) -> list[tuple[str, float | None]]:
    return [("semantic", hit.semantic_score), ("keyword", hit.keyword_score)]


def _print_listing(page: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(page, ensure_ascii=False))
        return
    for doc in page["documents"]:
        modified = time.strftime("%Y-%m-%d %H:%M", time.localtime(doc["modified"]))
        print(f"{modified}  {doc['chunks']:>4} chunks  {doc['source']}  {doc['title']}")
    shown = len(page["documents"])
    print(f"({shown} of {page['total']} documents from {page['offset']}; --offset and --limit page through)")


def _print_document(doc: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(doc, ensure_ascii=False))
        return
    print(f"{doc['title']}\n{doc['source']}  (id {doc['doc_id']}, {len(doc['chunks'])} chunks)")
    for key, value in doc["metadata"].items():
        print(f"  {key}: {value}")
    print()
    print(doc["text"])


def _print_report(report: Any) -> None:
    state = "published" if report.published else "unchanged"
    resumed = f" ({report.reused} taken over from an interrupted run)" if report.reused else ""
    merged = f", {report.merged} merged away" if report.merged else ""
    print(
        f"{state} {report.version}: +{report.added} added, ~{report.updated} updated, "
        f"-{report.removed} removed, {report.unchanged} unchanged, {len(report.skipped)} skipped{resumed}; "
        f"{report.documents} documents, {report.chunks} chunks in {report.segments} segments{merged} "
        f"({report.index_type}); embedded {report.chunks_embedded} chunks in {report.embed_seconds:.1f} s, "
        f"total {report.seconds:.1f} s"
    )


def run(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    settings = _settings(args)
    serving = args.command in ("search", "serve")
    runtime = settings.runtime
    threads = configure_threads(
        runtime.query_threads if serving else runtime.threads, serving_queries=serving
    )

    # Imported after the thread pools are sized: these pull in numpy and faiss (torch only when
    # a model is loaded, and a model only when something is embedded).
    from indexer.embedders import LazyEmbedder, create_embedder, embedder_for
    from indexer.pipeline import Indexer, checked_roots
    from indexer.progress import ProgressLines

    if args.command in ("index", "rebuild"):
        checked_roots(args.paths)  # a mistyped path fails before any model loads
        embedder = (
            embedder_for(settings, threads, bool(args.model))
            if args.command == "index"
            else create_embedder(settings.model, threads)  # a rebuild may switch models
        )
        engine = None
        if settings.engine.kind == "ray":
            from indexer.ray_engine import RayEngine

            engine = RayEngine(settings, embedder, warn=_warn)
        indexer = Indexer(
            settings, embedder, warn=_warn, progress=ProgressLines(_warn), verbose=args.verbose, engine=engine
        )
        try:
            report = indexer.index(args.paths) if args.command == "index" else indexer.rebuild(args.paths)
        finally:
            indexer.engine.close()
        _print_report(report)
        return 0

    if args.command in space_commands.COMMANDS:
        return space_commands.run(args, settings, threads)

    if args.command == "compact":
        from indexer.maintenance import compact_index

        _print_report(compact_index(settings, warn=_warn))
        return 0

    if args.command in ("list", "show"):
        from search.service import SearchService

        service = SearchService.open(settings, embedder_for(settings, threads, bool(args.model)))
        if args.command == "list":
            page = service.documents(args.limit, args.offset, args.source)
            _print_listing(page, args.json)
        else:
            _print_document(service.document(args.doc_id), args.json)
        return 0

    if args.command == "delete":
        from indexer.maintenance import delete_documents

        if not args.doc_ids and not args.source:
            raise SemsearchError("delete needs document ids or --source GLOB")
        report = delete_documents(settings, args.doc_ids, args.source, warn=_warn)
        print(f"deleted {report.removed} documents for good; {report.documents} left ({report.version})")
        return 0

    if args.command == "check":
        from indexer.check import check_index

        if args.repair:
            from indexer.repair import repair_index

            repair = repair_index(settings)
            for line in repair.before.problems:
                print(f"FOUND    {line}")
            for line in repair.repaired:
                print(f"REPAIRED {line}")
            verdict = repair.after
        else:
            verdict = check_index(settings.index_dir)
        for line in verdict.checked:
            print(f"ok       {line}")
        for line in verdict.problems:
            print(f"PROBLEM  {line}")
        print(
            f"{verdict.generation}: "
            + ("all checks passed" if verdict.ok else f"{len(verdict.problems)} problems")
        )
        return 0 if verdict.ok else 1

    if args.command in ("snapshot", "restore"):
        from indexer.backup import restore_snapshot, take_snapshot

        if args.command == "snapshot":
            taken = take_snapshot(settings.index_dir, args.dest)
            print(
                f"snapshot of {taken.generation} in {args.dest}: {taken.documents} documents, "
                f"{taken.chunks} chunks, {taken.files} files, {taken.bytes / 1e6:.1f} MB "
                f"in {taken.seconds:.1f} s"
            )
        else:
            restored = restore_snapshot(args.source, settings.index_dir, settings.index.keep_versions)
            print(
                f"restored {args.source} as {restored.generation}: {restored.documents} documents, "
                f"{restored.chunks} chunks in {restored.seconds:.1f} s (the previous version stays "
                "until cleanup)"
            )
        return 0

    if args.command == "stats":
        from search.service import index_stats

        stats = index_stats(settings.index_dir, settings.index)
        skipped = stats.pop("skipped_last_run")
        stats["by_type"] = ", ".join(f"{kind} {count}" for kind, count in stats["by_type"].items()) or "-"
        for key, value in stats.items():
            print(f"{key:>16}: {value}")
        print(f"{'skipped_last_run':>16}: {len(skipped)}")
        for line in skipped[:20]:
            print(f"{'':>18}{line}")
        if len(skipped) > 20:
            print(f"{'':>18}... and {len(skipped) - 20} more (`semsearch index` prints them all)")
        return 0

    if args.command == "search":
        from indexer.layout import IndexLayout
        from search.searcher import SearchRequest
        from search.service import SearchService

        filters = _parse_filters(args.filter)
        k = settings.search.default_k if args.k is None else args.k
        mode = args.mode or settings.search.mode
        SearchRequest(
            args.query, k, args.offset, mode, min_score=args.min_score, diversity=args.diversity
        ).validate(settings)
        IndexLayout(settings.index_dir).current()  # no index: say so before any model loads
        embedder = embedder_for(settings, threads, bool(args.model))
        if mode != "keyword" and isinstance(embedder, LazyEmbedder):
            embedder.real()  # loaded before the clock starts: took_ms is the search, not start-up
        service = SearchService.open(settings, embedder)
        gc.freeze()  # what start-up built stays: a collection pass would scan it mid-query (75 ms)
        result = service.search_text(
            args.query,
            k=k,
            offset=args.offset,
            mode=mode,
            filters=filters,
            collapse=not args.all_chunks,
            min_score=args.min_score,
            diversity=args.diversity,
        )
        if args.json:
            print(json.dumps(service.result_json(result), ensure_ascii=False))
        else:
            _print_hits(result)
        return 0

    if args.command == "eval":
        from search.evaluation import format_report, run_evaluation

        started = time.perf_counter()
        report = run_evaluation(
            settings,
            create_embedder(settings.model, threads),
            args.dataset,
            mode=args.mode or settings.search.mode,
            split=args.split,
            max_queries=args.max_queries,
            exact_baseline=args.exact_baseline,
            warn=_warn,
            progress=sys.stderr.isatty(),
            index_dir=args.index_dir,
        )
        report["wall_seconds"] = round(time.perf_counter() - started, 1)
        print(json.dumps(report, ensure_ascii=False) if args.json else format_report(report))
        return 0

    if args.command == "serve":
        from web.server import serve

        serve(
            settings,
            host=args.host or settings.server.host,
            port=args.port or settings.server.port,
            model_given=bool(args.model),
        )
        return 0
    raise AssertionError(args.command)  # pragma: no cover - argparse rejects unknown commands


def _disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    return "disk is full" in str(exc)


def main(argv: Sequence[str] | None = None) -> None:
    try:
        code = run(argv)
    except SemsearchError as exc:
        print(f"semsearch: error: {exc}", file=sys.stderr)
        code = 1
    except BrokenPipeError:  # `search ... | head`: the reader left (caught before OSError, its base)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 0
    except (OSError, sqlite3.OperationalError) as exc:
        if not _disk_full(exc):
            raise
        print(
            f"semsearch: error: the disk is full ({exc}); nothing was published, the index is as "
            "it was: free some space and run the command again",
            file=sys.stderr,
        )
        code = 1
    except KeyboardInterrupt:
        print("semsearch: interrupted", file=sys.stderr)
        code = 130
    sys.exit(code)
