"""Zero- and few-shot classification by nearest label in the embedding space.

A labels file names each label with a description (embedded as a query: "what the label is
about"), a few example texts (embedded as passages), or both; the label's prototype is the
normalised mean of those vectors. A text's label is the prototype of highest cosine; its
confidence is the softmax of the cosines at temperature TEMPERATURE, so it says how clearly the
best label beats the others (cosines themselves sit in a narrow band for most models).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from indexer.embedders import Embedder, normalise
from indexer.errors import ConfigError

TEMPERATURE = 0.05
FIELD = "label"  # the metadata field documents get: `--filter label=NAME`
CONFIDENCE_FIELD = "label_confidence"


class Label(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=100)
    description: str = ""
    examples: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _has_text(self) -> Label:
        if not self.description.strip() and not any(e.strip() for e in self.examples):
            raise ValueError(f"label {self.name!r} needs a description or examples")
        return self


class LabelSet(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    labels: tuple[Label, ...] = Field(min_length=2)

    @field_validator("labels")
    @classmethod
    def _unique(cls, labels: tuple[Label, ...]) -> tuple[Label, ...]:
        names = [label.name for label in labels]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"label names repeat: {', '.join(repeated)}")
        return labels


def load_labels(path: Path) -> LabelSet:
    """A YAML labels file: `labels: [{name, description, examples}, ...]` (or the list alone)."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"labels file not found: {path}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"labels file {path} is not valid YAML: {exc}") from None
    return parse_labels(raw, str(path))


def parse_labels(raw: object, where: str = "labels") -> LabelSet:
    if isinstance(raw, list):
        raw = {"labels": raw}
    try:
        return LabelSet.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'labels'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"invalid labels in {where}: {problems}") from None


@dataclass(frozen=True)
class Prototypes:
    names: list[str]
    vectors: np.ndarray  # (labels, dim) unit rows


def prototypes(labels: LabelSet, embedder: Embedder) -> Prototypes:
    """One unit vector per label from its description and examples (embedded in two batches)."""
    descriptions = [label.description for label in labels.labels if label.description.strip()]
    examples = [e for label in labels.labels for e in label.examples if e.strip()]
    described = iter(embedder.embed_queries(descriptions)) if descriptions else iter(())
    shown = iter(embedder.embed_documents(examples)) if examples else iter(())
    rows = []
    for label in labels.labels:
        parts = [next(described)] if label.description.strip() else []
        parts.extend(next(shown) for e in label.examples if e.strip())
        rows.append(np.mean(parts, axis=0))
    return Prototypes([label.name for label in labels.labels], normalise(np.asarray(rows)))


@dataclass(frozen=True)
class Assignment:
    label: str
    confidence: float  # softmax probability of the chosen label
    similarity: float  # its cosine
    scores: dict[str, float]  # every label's probability


def assign(vectors: np.ndarray, protos: Prototypes) -> list[Assignment]:
    """The nearest label of each (unit) vector, with its confidence."""
    if not len(vectors):
        return []
    cosines = np.asarray(vectors, dtype=np.float32) @ protos.vectors.T
    logits = cosines / TEMPERATURE
    probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    best = np.argmax(cosines, axis=1)
    return [
        Assignment(
            protos.names[b],
            round(float(probabilities[row, b]), 4),
            round(float(cosines[row, b]), 4),
            {name: round(float(p), 4) for name, p in zip(protos.names, probabilities[row], strict=True)},
        )
        for row, b in enumerate(best.tolist())
    ]


def classify_texts(texts: Sequence[str], labels: LabelSet, embedder: Embedder) -> list[Assignment]:
    """Labels for free texts (embedded as passages, like the documents they stand for)."""
    return assign(embedder.embed_documents(list(texts)), prototypes(labels, embedder))
