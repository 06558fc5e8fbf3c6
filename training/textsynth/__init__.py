"""Text synthesis: descriptions of music from tagger outputs, tempo and key, for training data.

Three methods, as in the ViML paper:
- `tags`: the grouped tag words, concatenated;
- `data2text`: the same facts put into sentences by templates;
- `prompt2text`: analogy prompting of a language model with a few human-written examples
  (examples.jsonl): `[Input] tags with confidences -> [Output] description` pairs, then the clip's tags.

A summary (what every method works from) is a dict: tag probabilities by name (musicnn MTT then MSD),
tempo_bpm, key, mode, loudness_db, onset_rate.
"""

from __future__ import annotations

from collections.abc import Callable

from engine.features import MusicFeatures, Segment
from training.errors import TrainingError

Synthesizer = Callable[[list[dict]], list[str]]


def summarize(music: MusicFeatures, segment: Segment, tag_names: tuple[str, ...]) -> dict:
    desc = music.descriptors(segment)
    tags = music.tags[segment.patches].mean(axis=0)
    return {
        "tags": {name: round(float(p), 4) for name, p in zip(tag_names, tags)},
        "tempo_bpm": round(desc.tempo_bpm, 1),
        "key": desc.key,
        "mode": round(desc.mode, 3),
        "loudness_db": round(desc.loudness_db, 1),
        "onset_rate": round(desc.onset_rate, 2),
        "brightness": round(desc.brightness, 5),
    }


def synthesizers(methods: list[str], *, endpoint: str | None = None) -> dict[str, Synthesizer]:
    from training.textsynth import prompt2text, templates

    table = {
        "tags": lambda: templates.tags_text,
        "data2text": lambda: templates.data2text,
        "prompt2text": lambda: prompt2text.PromptToText(endpoint=endpoint),
    }
    unknown = [m for m in methods if m not in table]
    if unknown:
        raise TrainingError(f"unknown text synthesis method(s) {unknown}; choose from {list(table)}")
    return {m: table[m]() for m in methods}
