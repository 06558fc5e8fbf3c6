"""Exclusions through the query: what "<style>, no drums" (or no piano, guitar, strings, synth, vocals)
returns on held-out renders whose instruments are known.

The detectors' own benches (bench_drums.py, bench_instruments.py) measure each verdict alone, which decides
whether an exclusion may filter. None reaches the 0.95 a filter needs, so an exclusion is a preference: it
costs a result by how surely the track has the instrument (`scoring.EXCLUDE_WEIGHT` for a sure one). This
bench measures what the editor sees through the whole query, the words' tag and feel matches included. On
bench_drums.py's renders, every style with and without each instrument (no two splits share a work; the
test split shares no SoundFont with dev):
- for each prompt "<style>, no <instrument>", precision@5 of the results in that style without that
  instrument (taken at the number of such tracks where there are fewer than five), and how many of the top
  5 have it;
- for prompts of feel alone ("energetic music, no piano"...), how many of the top 10 have the instrument (the
  renders' styles fix their instruments other than drums, so these are the only prompts for those).

`--vocals` measures "no vocals" instead (`scoring.VOICE_WEIGHT`), on the same renders and 40 of them again
with a made-up song sung over them by Festival (bench_vocals.py; the dev split's own 40, rendered here).

    .venv/bin/python tests/bench/bench_exclusions.py [--split dev|test] [--vocals] [--weights 0.3 1 2 4 8]

`--weights` runs the prompts at each weight (choose on dev; report on test).

`--ramps` runs "no drums" with each way of reading the sound-effects detector's doubtful zone (RULE-6,
`RAMPS`), on `--split dev-ramp` (renders the network was not fitted on) to choose, then on test:

    .venv/bin/python tests/bench/bench_exclusions.py --split dev-ramp --ramps S Q99 P MAX MIN
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench_drums import SPLITS, all_splits, ramp_split  # noqa: E402
from bench_instruments import PROGRAMS  # noqa: E402
from bench_vocals import SUNG_DEV_DIR, SUNG_DIR, sung  # noqa: E402

from engine import instruments  # noqa: E402
from engine.facade import Engine  # noqa: E402
from engine.recommend import scoring  # noqa: E402

FOLDERS = {"dev": ("dev", "dev-kits"), "test": ("test",), "dev-ramp": ("dev-ramp",)}
SUNG = {"dev": SUNG_DEV_DIR, "test": SUNG_DIR}  # the split's renders with a song over them (bench_vocals.py)
SUNG_COUNT = 40
FEELS = ("", "energetic music, ", "calm music, ", "upbeat and happy, ", "fast, ", "dark and tense, ")
INSTRUMENTS = ("drums", *PROGRAMS)


def _by_q(all_from: float):
    def absent(p: np.ndarray, q: np.ndarray | None = None) -> np.ndarray:
        by_p = instruments.ramp(np.asarray(p, np.float64), instruments.NO_DRUMS_BELOW)
        q = np.full_like(by_p, np.nan) if q is None else np.asarray(q, np.float64)
        return np.where(np.isfinite(q), instruments.ramp(q, instruments.SFX_NO_DRUMS_BELOW, all_from), by_p)

    return absent


def _in_doubt(combine):
    """Under SFX_NO_DRUMS_BELOW, none; above it, `combine` of the shipped ramp and p's own."""

    def absent(p: np.ndarray, q: np.ndarray | None = None) -> np.ndarray:
        by_p = instruments.ramp(np.asarray(p, np.float64), instruments.NO_DRUMS_BELOW)
        q = np.full_like(by_p, np.nan) if q is None else np.asarray(q, np.float64)
        shipped = instruments.ramp(q, instruments.SFX_NO_DRUMS_BELOW)
        heard = np.where(q < instruments.SFX_NO_DRUMS_BELOW, 1.0, combine(shipped, by_p))
        return np.where(np.isfinite(q), heard, by_p)

    return absent


# RULE-6's candidates for how surely a track has no drums (../data/drums/RULE-6.md): S as shipped, the ramp
# over q to 0.99, p's ramp where q doubts, and the two detectors' ramps combined there.
RAMPS = {
    "S": instruments.absent,
    "Q99": _by_q(0.99),
    "P": _in_doubt(lambda shipped, by_p: by_p),
    "MAX": _in_doubt(np.fmax),
    "MIN": _in_doubt(np.fmin),
    # Not a candidate: the first detector alone, as "no drums" was ordered before RULE-5, for comparison.
    "FIRST": lambda p, q=None: instruments.absent(p),
}


def has(label: dict, instrument: str) -> bool:
    if instrument == "vocals":
        return bool(label.get("sung"))
    return bool(label["drums"]) if instrument == "drums" else bool(PROGRAMS[instrument] & set(label["programs"]))


def style_prompts(labels: dict[str, dict], instruments: tuple[str, ...]) -> list[tuple[str, str, set[str]]]:
    """(prompt, instrument, the files it should return) for each style and instrument where at least two
    renders of the style lack the instrument and at least one has it."""
    out = []
    for style in sorted({label["style"] for label in labels.values()}):
        of_style = {path: label for path, label in labels.items() if label["style"] == style}
        for instrument in instruments:
            without = {path for path, label in of_style.items() if not has(label, instrument)}
            if len(without) >= 2 and len(without) < len(of_style):
                out.append((f"{style}, no {instrument}", instrument, without))
    return out


def evaluate(engine: Engine, labels: dict[str, dict], instruments: tuple[str, ...]) -> dict:
    """Labels by each file's resolved path."""

    def results(prompt: str, k: int) -> list[str]:
        return [str(Path(r.path).resolve()) for r in engine.recommend(prompt=prompt, k=k).results]

    rows, by_instrument = [], {}
    for prompt, instrument, relevant in style_prompts(labels, instruments):
        got = results(prompt, 5)
        precision = sum(p in relevant for p in got) / min(5, len(relevant))
        with_it = sum(has(labels[p], instrument) for p in got)
        rows.append((prompt, precision, with_it))
        by_instrument.setdefault(instrument, []).append((precision, with_it))
    feel = {}
    for instrument in instruments:
        for words in FEELS:
            got = results(f"{words}no {instrument}", 10)
            feel.setdefault(instrument, []).append(sum(has(labels[p], instrument) for p in got))
    return {
        "style P@5": float(np.mean([r[1] for r in rows])),
        "with it in top 5": int(sum(r[2] for r in rows)),
        "prompts": len(rows),
        "per instrument": {
            i: {
                "P@5": float(np.mean([p for p, _ in v])),
                "with it in top 5": int(sum(w for _, w in v)),
                "prompts": len(v),
            }
            for i, v in by_instrument.items()
        },
        "with it in top 10 of feel prompts": {i: int(sum(v)) for i, v in feel.items()},
        "rows": rows,
    }


def library(split: str, vocals: bool) -> dict[str, dict]:
    """The split's renders (and with `vocals`, SUNG_COUNT of them again with a song over them), rendered
    where missing: labels by resolved path."""
    splits = all_splits()
    if split == "dev-ramp":
        splits["dev-ramp"] = ramp_split(splits)
    labels = {
        str((SPLITS[s][0] / name).resolve()): label | {"sung": False}
        for s in FOLDERS[split]
        for name, label in splits[s].items()
    }
    if vocals:
        renders = sorted(Path(p) for p in labels)
        for path in sung(renders, SUNG_COUNT, SUNG[split], seed=6 if split == "test" else 16):
            original = next(p for p in renders if p.name == path.name)
            labels[str(path.resolve())] = labels[str(original)] | {"sung": True}
    return labels


@contextlib.contextmanager
def scanned(labels: dict[str, dict]) -> Iterator[Engine]:
    """An engine whose library, in a temporary folder, is the labelled renders, scanned."""
    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine(Path(tmp) / "data")
        try:
            for folder in sorted({Path(p).parent for p in labels}):
                engine.add_root(folder)
            engine.scan()
            yield engine
        finally:
            engine.close()


def compare_ramps(split: str, ramps: list[str], rows: bool) -> None:
    """ "no drums" (at the shipped EXCLUDE_WEIGHT) with each candidate ramp; RULE-6's drummed places are the
    drummed results in the style prompts' top 5s and the feel prompts' top 10s."""
    labels = library(split, vocals=False)
    out = {}
    with scanned(labels) as engine:
        print(f"split {split}: {len(labels)} renders, EXCLUDE_WEIGHT {scoring.EXCLUDE_WEIGHT}")
        print(f"{'ramp':>5} {'style P@5':>10} {'drummed in top 5s':>18} {'in feel top 10s':>16} {'places':>7}")
        for name in ramps:
            scoring.absent = RAMPS[name]
            got = evaluate(engine, labels, ("drums",))
            feel = got["with it in top 10 of feel prompts"]["drums"]
            places = got["with it in top 5"] + feel
            out[name] = {**got, "drummed places": places}
            print(
                f"{name:>5} {got['style P@5']:>10.3f} {got['with it in top 5']:>18} {feel:>16} {places:>7}", flush=True
            )
            if rows:
                for prompt, precision, with_it in got["rows"]:
                    print(f"          {prompt:<36} P@5 {precision:.2f}  with it {with_it}")
    scoring.absent = instruments.absent
    Path("bench-results").mkdir(exist_ok=True)
    Path(f"bench-results/exclusions-ramps-{split}.json").write_text(json.dumps(out, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--split", choices=FOLDERS, default="test")
    parser.add_argument("--weights", type=float, nargs="*", help="weights of the exclusion to compare")
    parser.add_argument("--vocals", action="store_true", help="'no vocals' (VOICE_WEIGHT), with sung renders")
    parser.add_argument("--ramps", nargs="*", choices=RAMPS, help="'no drums' read with each of RULE-6's ramps")
    parser.add_argument("--rows", action="store_true", help="print every prompt's figures")
    args = parser.parse_args()
    if args.ramps:
        return compare_ramps(args.split, args.ramps, args.rows)
    labels = library(args.split, args.vocals)
    constant = "VOICE_WEIGHT" if args.vocals else "EXCLUDE_WEIGHT"
    excluded = ("vocals",) if args.vocals else INSTRUMENTS
    weights = args.weights or [getattr(scoring, constant)]
    out = {}
    with scanned(labels) as engine:
        print(f"split {args.split}: {len(labels)} renders ({constant} shipped: {getattr(scoring, constant)})")
        feel_head = f"feel prompts: with it in top 10 (of {10 * len(FEELS)})"
        print(f"{'weight':>7} {'style P@5':>10} {'with it in top 5':>17}   {feel_head}")
        for weight in weights:
            setattr(scoring, constant, weight)
            got = evaluate(engine, labels, excluded)
            out[str(weight)] = got
            feel = "  ".join(f"{i} {n}" for i, n in got["with it in top 10 of feel prompts"].items())
            style = f"{got['style P@5']:>10.2f} {got['with it in top 5']:>8} of {5 * got['prompts']:<5}"
            print(f"{weight:>7.2f} {style}   {feel}", flush=True)
            if args.rows:
                for prompt, precision, with_it in got["rows"]:
                    print(f"          {prompt:<36} P@5 {precision:.2f}  with it {with_it}")
    Path("bench-results").mkdir(exist_ok=True)
    name = f"exclusions-{args.split}" + ("-vocals" if args.vocals else "")
    Path(f"bench-results/{name}.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
