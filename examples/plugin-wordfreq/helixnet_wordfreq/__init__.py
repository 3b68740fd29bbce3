"""``wordfreq``: the word frequencies of a text, as a CSV output and a JSON result.

A complete third-party compute plugin: a pydantic ``Params`` model, one declared input, progress
reports, a cancellation check, and an output artifact.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter

from pydantic import BaseModel, ConfigDict, Field

from helixnet import ComputePlugin, InputSpec, JobContext

WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


class WordFreqParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=20, ge=1, le=10_000, description="How many words to keep.")
    min_length: int = Field(default=3, ge=1, le=50, description="Skip words shorter than this.")


class WordFreqPlugin(ComputePlugin):
    name = "wordfreq"
    title = "Word frequencies"
    description = "Counts how often each word occurs in a text; writes frequencies.csv."
    Params = WordFreqParams
    inputs = (InputSpec(name="text", description="UTF-8 text"),)

    def run(self, ctx: JobContext, params: WordFreqParams) -> dict:
        counts: Counter[str] = Counter()
        with ctx.inputs["text"].open() as raw:
            for number, line in enumerate(io.TextIOWrapper(raw, encoding="utf-8", errors="replace"), 1):
                ctx.check_cancelled()
                counts.update(w.lower() for w in WORD.findall(line) if len(w) >= params.min_length)
                if number % 10_000 == 0:
                    ctx.log.info(f"{number:,} lines read")
        top = counts.most_common(params.limit)
        with ctx.outputs.open("frequencies.csv", "text/csv", main=True) as handle:
            text = io.TextIOWrapper(handle, encoding="utf-8", newline="")
            writer = csv.writer(text)
            writer.writerow(["word", "count"])
            writer.writerows(top)
            text.flush()
            text.detach()
        ctx.progress(1.0, f"{len(counts):,} distinct words")
        return {"distinct": len(counts), "top": [{"word": w, "count": n} for w, n in top]}
