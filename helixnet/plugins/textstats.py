"""``textstats``: line, word and character counts, the top terms, and the terms shared with a context.

Reads its inputs as streams, line by line: memory grows with the vocabulary, not the file.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from helixnet.plugins.base import ComputePlugin, InputSpec
from helixnet.worker.context import InputFile, JobContext

_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*", re.UNICODE)


class TextStatsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    top: int = Field(default=10, ge=1, le=1000, description="How many of the most frequent terms to list.")
    min_length: int = Field(default=1, ge=1, le=100, description="Ignore terms shorter than this.")
    case_sensitive: bool = Field(default=False, description="Count 'The' and 'the' apart.")


@dataclass
class _Counts:
    lines: int = 0
    words: int = 0
    characters: int = 0
    terms: Counter[str] = field(default_factory=Counter)


class TextStatsPlugin(ComputePlugin):
    name = "textstats"
    title = "Text statistics"
    description = "Counts lines, words and characters, lists the top terms and the terms shared with a context."
    Params = TextStatsParams
    inputs = (
        InputSpec(name="content", description="The text to analyse (UTF-8)."),
        InputSpec(name="context", required=False, description="A second text; terms in both are listed."),
    )

    def run(self, ctx: JobContext, params: TextStatsParams) -> dict[str, Any]:
        content = _count(ctx, ctx.inputs["content"], params, share=0.9 if "context" in ctx.inputs else 1.0)
        summary: dict[str, Any] = {
            "lines": content.lines,
            "words": content.words,
            "characters": content.characters,
            "unique_terms": len(content.terms),
            "top_terms": _top(content.terms, params.top),
            "shared_terms": None,
        }
        if "context" in ctx.inputs:
            context = _count(ctx, ctx.inputs["context"], params, share=0.1, offset=0.9)
            shared = Counter({t: n + context.terms[t] for t, n in content.terms.items() if t in context.terms})
            summary["shared_terms"] = _top(shared, params.top)
            summary["shared_count"] = len(shared)
            summary["context_words"] = context.words
        ctx.outputs.write_json("result.json", summary, main=True)
        ctx.progress(1.0, "done")
        return summary


def _count(ctx: JobContext, source: InputFile, params: TextStatsParams, *, share: float, offset: float = 0.0) -> _Counts:
    counts = _Counts()
    size = source.size or 0
    seen = 0
    with source.open() as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="")
        for line in text:
            ctx.check_cancelled()
            counts.lines += 1
            counts.characters += len(line)
            seen += len(line.encode("utf-8", "replace"))
            words = _WORD.findall(line)
            counts.words += len(words)
            if not params.case_sensitive:
                words = [word.lower() for word in words]
            counts.terms.update(word for word in words if len(word) >= params.min_length)
            if size and counts.lines % 5000 == 0:
                ctx.progress(min(1.0, offset + share * seen / size), f"read {seen:,} of {size:,} bytes")
    return counts


def _top(terms: Counter[str], n: int) -> list[dict[str, Any]]:
    ranked = sorted(terms.items(), key=lambda item: (-item[1], item[0]))[:n]
    return [{"term": term, "count": count} for term, count in ranked]
