"""The embedding-space commands of `semsearch`: topics, duplicates, outliers, classify.

Registered on the main parser by semsearch/cli.py; like it, they parse, call the library
(search/space/) and print.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from indexer.config import Settings

COMMANDS = ("topics", "duplicates", "outliers", "classify")


def add_parsers(commands: Any, shared: argparse.ArgumentParser) -> None:
    topics = commands.add_parser(
        "topics", parents=[shared], help="cluster the documents into topics named by their distinctive words"
    )
    topics.add_argument(
        "--k", type=int, default=None, help="number of topics (default: chosen by silhouette)"
    )
    topics.add_argument("--json", action="store_true")
    duplicates = commands.add_parser(
        "duplicates", parents=[shared], help="near-duplicate documents, grouped, with the passages that match"
    )
    duplicates.add_argument("--threshold", type=float, default=0.95, help="cosine of document vectors (0..1]")
    duplicates.add_argument("--limit", type=int, default=100, help="groups to show")
    duplicates.add_argument("--json", action="store_true")
    outliers = commands.add_parser(
        "outliers", parents=[shared], help="documents far from every topic and from their nearest documents"
    )
    outliers.add_argument("--limit", type=int, default=20)
    outliers.add_argument("--json", action="store_true")
    classify = commands.add_parser(
        "classify",
        parents=[shared],
        help="label every document by its nearest label (filter with label=NAME)",
    )
    classify.add_argument(
        "--labels", type=Path, required=True, metavar="FILE", help="YAML: name + description/examples"
    )
    classify.add_argument(
        "--truth-field",
        default=None,
        metavar="FIELD",
        help="metadata field with the true label: report accuracy",
    )
    classify.add_argument("--json", action="store_true")


def run(args: argparse.Namespace, settings: Settings, threads: int) -> int:
    from search.space.service import SpaceService

    service = SpaceService(settings)
    if args.command == "topics":
        atlas = service.atlas(args.k)
        _print(atlas.summary(), args.json, _topics_text)
    elif args.command == "duplicates":
        _print(service.duplicates(args.threshold, args.limit), args.json, _duplicates_text)
    elif args.command == "outliers":
        _print(service.outliers(args.limit), args.json, _outliers_text)
    else:
        from indexer.embedders import embedder_for
        from search.space.classify import load_labels

        labels = load_labels(args.labels)  # a bad file fails before the model loads
        embedder = embedder_for(settings, threads, bool(args.model))
        report = service.classify_index(labels, embedder, args.truth_field, args.labels)
        _print(report, args.json, _classify_text)
    return 0


def _print(data: dict[str, Any], as_json: bool, text: Any) -> None:
    print(json.dumps(data, ensure_ascii=False) if as_json else "\n".join(text(data)))


def _topics_text(data: dict[str, Any]) -> list[str]:
    lines = [f"{data['k']} topics over {data['documents']} documents ({data['k_reason']})"]
    for topic in data["topics"]:
        lines.append(f"\n[{topic['id']}] {', '.join(topic['terms'])}  ({topic['size']} documents)")
        lines.extend(f"    {doc['similarity']:.3f}  {doc['title'][:100]}" for doc in topic["central"])
    return lines


def _duplicates_text(data: dict[str, Any]) -> list[str]:
    lines = [
        f"{data['groups_found']} groups of near-duplicates ({data['documents_in_groups']} of "
        f"{data['documents']} documents) at cosine >= {data['threshold']}; {data['method']}; "
        f"{data['seconds']:.2f} s"
    ]
    for group in data["groups"]:
        lines.append(f"\n{group['size']} documents:")
        lines.extend(f"    {doc['source']}" for doc in group["documents"])
        for pair in group["pairs"][:3]:
            lines.append(f"  {pair['similarity']:.3f}  {pair['a']}  ~  {pair['b']}")
            lines.append(f"      “{_line(pair['passage_a'])}”")
            lines.append(f"      “{_line(pair['passage_b'])}”")
    return lines


def _outliers_text(data: dict[str, Any]) -> list[str]:
    lines = [
        f"{data['outliers']} outliers among {data['documents']} documents "
        f"(both z >= {data.get('min_z', 0)}); "
        f"most isolated first. {data.get('method', '')}"
    ]
    for row in data["results"]:
        mark = "OUTLIER" if row["outlier"] else "       "
        lines.append(
            f"{mark} centroid {row['centroid_distance']:.3f} (z {row['centroid_z']:+.1f})  neighbours "
            f"{row['neighbour_distance']:.3f} (z {row['neighbour_z']:+.1f})  {row['source']}"
        )
    return lines


def _classify_text(data: dict[str, Any]) -> list[str]:
    counts = ", ".join(f"{name} {count}" for name, count in data["counts"].items())
    lines = [f"labelled {data['documents']} documents ({data['version']}, {data['seconds']:.1f} s): {counts}"]
    if "accuracy" in data:
        acc = data["accuracy"]
        lines.append(f"accuracy {acc['accuracy']:.3f} ({acc['correct']} of {acc['measured']})")
        lines.extend(f"    {label}: {value:.3f}" for label, value in acc["per_label"].items())
    lines.append("search within a label with --filter label=NAME")
    return lines


def _line(text: str, width: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"
