"""Instruments other than drums, read from musicnn's tags, on held-out renders whose instruments are known:
the precision and recall behind "no piano", "no guitar", "no strings", "no synth".

The renders are bench_drums.py's (rendered there if missing; no two splits share a work): music21 works
arranged in the bootstrap styles, each render's General MIDI programs recorded beside it, which are the truth
here. `dev` is the drum bench's two dev splits (TimGM6mb, csound's GM bank, an OPL3 bank); `test` is its test
split (FluidR3, another SoundFont). Each exclusion is measured as the filter would apply it
(engine/recommend/filters.py: the track's peak strength of the tag under TAG_PRESENT passes), so what this
reports is what a hard "no piano" would let through.

A split's precision depends on how many of its tracks have the instrument (one render in nine is a solo
piano, so letting everything through would already be 0.89 precise). The precision that decides is
therefore taken at even odds, as if half the tracks had it: recall of the tracks without it over that plus
the share of tracks with it that pass. `--record` writes the test split's figures to
engine/instrument_filters.json, which `instruments.exclusion_is_hard` follows. Tags no render plays (flute,
harp, harpsichord, choir, sitar) are not measured, nor violin and cello as tags of their own (the strings
style plays them, but not in every render): they stay preferences.

`--modules` measures the tags on human-composed music instead: bench_drums.py's tracker modules, each
rendered whole and again with the instruments its author named as piano, guitar, strings or a synth muted
(where they are at least DRUMS_SHARE of the sound), so each pair differs by that instrument alone.

`--folder DIR` measures them on real recordings whose instruments are listed in `DIR/instruments.json`
({file name: [instruments, as their composer or publisher lists them]}): the tags, and the drum detector
against the kits and percussion listed. A list names every instrument that plays, however little, which is
the question an editor's "with piano" asks of a library. With `--record`, the figures join the renders' in
engine/instrument_filters.json ("recordings"): what a why names unasked must hold on both
(`instruments.may_say`).

    .venv/bin/python tests/bench/bench_instruments.py [--record] [--modules | --folder DIR]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench_drums import DRUMS_SHARE, MODULE_SECONDS, all_splits, inputs, measured, module_paths  # noqa: E402

from engine import instruments, paths  # noqa: E402
from engine.bundle import open_current_bundle  # noqa: E402
from engine.tags import TAG_PRESENT, TagIndex  # noqa: E402

# engine.tags' canonical instrument names -> the General MIDI programs that sound them. Synth basses count as
# synth; harp (46) and timpani (47) are not "strings" to a listener.
PROGRAMS = {
    "piano": set(range(0, 6)),
    "guitar": set(range(24, 32)),
    "strings": set(range(40, 46)) | set(range(48, 52)),
    "synth": set(range(80, 104)) | {38, 39},
}
MIN_EACH = 5  # tracks with and without an instrument a split needs for its figures to mean anything


def truth(labels: dict[str, dict], names: list[str], tag: str) -> np.ndarray:
    """Per render, whether it plays `tag`'s instrument."""
    if any("programs" not in labels[n] for n in names):
        raise SystemExit("renders from before their programs were recorded: delete build/drums-* and rerun")
    return np.array([bool(PROGRAMS[tag] & set(labels[n]["programs"])) for n in names])


def measure(strength: np.ndarray, has: np.ndarray) -> dict:
    """ "no <tag>" and "with <tag>" at TAG_PRESENT, as the filters and the whys apply them."""
    passes = strength < TAG_PRESENT
    recall = float(passes[~has].mean())  # of the tracks without it, the share "no <tag>" keeps
    leak = float(passes[has].mean())  # of the tracks with it, the share it lets through
    claimed = ~passes
    found = float(claimed[has].mean())  # of the tracks with it, the share a why would say have it
    false = float(claimed[~has].mean())  # of the tracks without it, the share it would say have it
    return {
        "with": int(has.sum()),
        "without": int((~has).sum()),
        "no": {
            "precision": float((~has[passes]).mean()) if passes.any() else None,
            "precision at even odds": recall / (recall + leak) if recall + leak else None,
            "recall": recall,
            "let through": f"{int(has[passes].sum())} with it of {int(passes.sum())}",
        },
        "with it": {
            "precision": float(has[claimed].mean()) if claimed.any() else None,
            "precision at even odds": found / (found + false) if found + false else None,
            "recall": found,
        },
        "AUC": float(roc_auc_score(has, strength)),
    }


def split_figures(splits: dict[str, dict[str, dict]], names_of: list[str], tags: TagIndex) -> dict:
    """Every measurable tag's figures on the union of the given splits."""
    labels: dict[str, dict] = {}
    peaks, names = [], []
    for split in names_of:
        n, _, p, _ = inputs(split, splits[split])
        labels |= splits[split]
        names += n
        peaks.append(p)
    rows = np.concatenate(peaks)
    out = {}
    for tag in PROGRAMS:
        has = truth(labels, names, tag)
        if min(has.sum(), (~has).sum()) < MIN_EACH:
            out[tag] = {"with": int(has.sum()), "without": int((~has).sum()), "measured": False}
            continue
        out[tag] = measure(tags.strength(rows, tag), has)
    return out


# What an author's instrument names call each instrument (bass guitars are not "guitar", as in PROGRAMS).
MODULE_NAMES = {
    "piano": r"piano",
    "guitar": r"(?<!bass)(?<!bass-)guitar|gtr",
    "strings": r"string|violin|viola|cello",
    "synth": r"synth|\bsaw|square|analog|\bsid\b|\blead\b|\bpad\b",
}
MODULES_DIR = Path("build/instruments-modules")


def module_pairs() -> dict[str, list[tuple[str, str]]]:
    """Per instrument, (whole, muted) file names of the modules that play it (rendered once, then reused)."""
    import tracker_modules

    pairs_file = MODULES_DIR / "pairs.json"
    if pairs_file.is_file():
        return json.loads(pairs_file.read_text())
    MODULES_DIR.mkdir(parents=True, exist_ok=True)
    pairs: dict[str, list[tuple[str, str]]] = {tag: [] for tag in MODULE_NAMES}
    for _, path in module_paths():
        named, whole = tracker_modules.instrument_names(path), None
        for tag, pattern in MODULE_NAMES.items():
            playing = [i for i, name in enumerate(named) if re.search(pattern, name, re.IGNORECASE)]
            if not playing:
                continue
            whole = tracker_modules.render(path, [], MODULE_SECONDS) if whole is None else whole
            muted = tracker_modules.render(path, playing, MODULE_SECONDS)
            if tracker_modules.share_taken(whole, muted) >= DRUMS_SHARE:
                tracker_modules.write(MODULES_DIR / f"{path.stem}--whole.opus", whole)
                tracker_modules.write(MODULES_DIR / f"{path.stem}--no-{tag}.opus", muted)
                pairs[tag].append((f"{path.stem}--whole.opus", f"{path.stem}--no-{tag}.opus"))
    pairs_file.write_text(json.dumps(pairs, indent=1))
    return pairs


def module_figures(tags: TagIndex) -> dict:
    """Each instrument's figures on its module pairs, and in how many pairs the tag is stronger whole."""
    out = {}
    for tag, pairs in module_pairs().items():
        if not pairs:
            continue
        names = [n for pair in pairs for n in pair]
        cache = measured(MODULES_DIR, names)
        strength = tags.strength(np.array([cache[n]["peaks"] for n in names], np.float32), tag)
        has = np.array([not n.endswith(f"--no-{tag}.opus") for n in names])
        out[tag] = measure(strength, has) | {
            "whole above muted": f"{int((strength[0::2] > strength[1::2]).sum())} of {len(pairs)}"
        }
    return out


# A listed instrument's words (each item's words too: "electric piano", "clarinet. percussion") -> the tag.
# An electric piano ("ep", "rhodes") is a piano to musicnn's tag as to a listener; a bass guitar is not a
# guitar (as PROGRAMS counts it), and an orchestra has strings.
LISTED = {
    "piano": {"piano", "pianos", "ep", "rhodes"},
    "guitar": {"guitar", "guitars"},
    "strings": {"strings", "string", "violin", "violins", "viola", "violas", "cello", "cellos", "orchestra"},
    "synth": {"synth", "synths", "synthesizer", "synthesizers"},
}
NOT_LISTED = {"guitar": {"bass guitar", "bass guitars"}}  # items whose words would wrongly name the tag
KIT = {"kit", "kits", "drum", "drums", "snare", "snares"}
# Unpitched percussion and timpani (kettle drums); pitched percussion (marimba, glockenspiel) is not drums.
PERCUSSION = {
    "percussion", "timpani", "tympani", "taiko", "bongo", "bongos", "conga", "congas", "tabla", "tablas",
    "djembe", "djembes", "cajon", "cajons", "shaker", "shakers", "tambourine", "tambourines", "cymbal", "cymbals",
}  # fmt: skip
# A list with a synth or electronics of its own ("synths", not "synth bells") and no kit or percussion says
# nothing of drums: a synth or a drum machine plays them in most electronic pieces, and the lists name it once.
SILENT_ON_DRUMS = {"synth", "synths", "electronic", "electronics", "misc"}


def _words(item: str) -> set[str]:
    return {item} | set(re.findall(r"[a-z]+", item))


def lists_tag(items: list[str], tag: str) -> bool:
    """Whether a list (lower-case items) names `tag`'s instrument: an item or one of its words does ("electric
    piano", "clarinet. percussion"), unless the item is one that only seems to ("bass guitar")."""
    return any(_words(item) & LISTED[tag] and item not in NOT_LISTED.get(tag, set()) for item in items)


def listed_folder(folder: Path) -> dict[str, list[str]]:
    """A folder's listed instruments (lower case), in file name order, every file checked to be there."""
    listing = folder / "instruments.json"
    if not listing.is_file():
        raise SystemExit(f"{listing}: no such file; a folder of recordings needs {{file name: [instruments]}}")
    lists = json.loads(listing.read_text())
    missing = sorted(name for name in lists if not (folder / name).is_file())
    if missing:
        raise SystemExit(f"{folder}: {len(missing)} file(s) of instruments.json missing, e.g. {missing[0]}")
    return {name: [item.strip().lower() for item in items] for name, items in sorted(lists.items())}


def folder_figures(folder: Path, tags: TagIndex) -> dict:
    """Each tag's figures against the lists, and the drum detector's against the listed kits and percussion
    (lists silent on drums left out)."""
    listed = listed_folder(folder)
    names = list(listed)
    cache = measured(folder, names, Path("build") / f"instruments-{folder.resolve().name}.json")
    peaks = np.array([cache[n]["peaks"] for n in names], np.float32)
    out: dict = {"files": len(names), "tags": {}}
    for tag in LISTED:
        has = np.array([lists_tag(listed[n], tag) for n in names])
        if min(has.sum(), (~has).sum()) < MIN_EACH:
            out["tags"][tag] = {"with": int(has.sum()), "without": int((~has).sum()), "measured": False}
            continue
        out["tags"][tag] = measure(tags.strength(peaks, tag), has)
    drummed, known = drum_truth([listed[n] for n in names])
    hits = np.array([cache[n]["hits"] for n in names], np.float64)
    probability = instruments.drum_probability(hits, peaks, tags)
    out["drums"] = drum_figures(probability[known], drummed[known]) | {"silent on drums": int((~known).sum())}
    return out


def drum_truth(listed: list[list[str]]) -> tuple[np.ndarray, np.ndarray]:
    """Per list, whether it names drums, and whether it says anything of them (False for a list silent on
    drums: no kit or percussion, but a synth or electronics, which may play them)."""
    drummed = np.array([any(_words(item) & (KIT | PERCUSSION) for item in items) for items in listed])
    # Whole items only: "synth bells" or "electronic bass" plays no beat.
    silent = np.array([bool(set(items) & SILENT_ON_DRUMS) for items in listed])
    return drummed, drummed | ~silent


def even_odds(picked: np.ndarray, right: np.ndarray) -> float | None:
    """The precision of a verdict (`picked`: the files it picks; `right`: those it should) were the files it
    should pick as many as the others (None: it picks none)."""
    hit, miss = float(picked[right].mean()), float(picked[~right].mean())
    return hit / (hit + miss) if hit + miss else None


def drum_figures(
    probability: np.ndarray, drummed: np.ndarray, no_below: float | None = None, drums_from: float | None = None
) -> dict:
    """ "no drums" and "has drums" at the detector's bars (or the bars given), as measure() reports a tag's."""
    passes = probability < (instruments.NO_DRUMS_BELOW if no_below is None else no_below)
    claimed = probability >= (instruments.DRUMS_FROM if drums_from is None else drums_from)
    return {
        "with": int(drummed.sum()),
        "without": int((~drummed).sum()),
        "no": {
            "precision at even odds": even_odds(passes, ~drummed),
            "recall": float(passes[~drummed].mean()),
            "drums let through": int(passes[drummed].sum()),
            "passed": int(passes.sum()),
        },
        "with it": {"precision at even odds": even_odds(claimed, drummed), "recall": float(claimed[drummed].mean())},
        "AUC": float(roc_auc_score(drummed, probability)),
    }


def print_folder(figures: dict) -> None:
    print(f"{'':9}{'with':>6}{'w/o':>5}  no: even odds  recall   with: even odds  recall   AUC")
    for tag, f in [*figures["tags"].items(), ("drums", figures["drums"])]:
        print(
            f"{tag:9}{f['with']:>6}{f['without']:>5}      {_fmt(f['no']['precision at even odds'])}    "
            f"{_fmt(f['no']['recall'])}          {_fmt(f['with it']['precision at even odds'])}    "
            f"{_fmt(f['with it']['recall'])}   {f['AUC']:.2f}"
        )
    print(f"(drums: {figures['drums']['silent on drums']} lists silent on drums left out)")


def _fmt(x: float | None) -> str:
    return "  -  " if x is None else f"{x:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--record", action="store_true", help="write the figures to the filters' file")
    parser.add_argument("--modules", action="store_true", help="on human-composed tracker modules instead")
    parser.add_argument("--folder", type=Path, help="recordings with their instruments in DIR/instruments.json")
    args = parser.parse_args()
    if args.folder:
        figures = folder_figures(args.folder, TagIndex(open_current_bundle(paths.models_dir()).tag_labels))
        print_folder(figures)
        Path("bench-results").mkdir(exist_ok=True)
        Path(f"bench-results/instruments-{args.folder.resolve().name}.json").write_text(json.dumps(figures, indent=2))
        if args.record:
            record = json.loads(instruments.FILTERS_FILE.read_text())
            record["recordings"] = {
                "note": f"bench_instruments.py --folder: {args.folder.resolve().name}, against the listed instruments",
                "set": args.folder.resolve().name,
            } | figures
            instruments.FILTERS_FILE.write_text(json.dumps(record, indent=1) + "\n")
        return
    if args.modules:
        figures = module_figures(TagIndex(open_current_bundle(paths.models_dir()).tag_labels))
        print(json.dumps(figures, indent=2))
        Path("bench-results").mkdir(exist_ok=True)
        Path("bench-results/instruments-modules.json").write_text(json.dumps(figures, indent=2))
        return
    splits = all_splits()
    tags = TagIndex(open_current_bundle(paths.models_dir()).tag_labels)
    out = {"dev": split_figures(splits, ["dev", "dev-kits"], tags), "test": split_figures(splits, ["test"], tags)}
    print(f"{'':9}{'split':6}{'with':>6}{'w/o':>5}  no: prec  even odds  recall   with: prec  even odds  recall   AUC")
    for tag in PROGRAMS:
        for split in ("dev", "test"):
            f = out[split][tag]
            if f.get("measured") is False:
                print(f"{tag:9}{split:6}{f['with']:>6}{f['without']:>5}  not measurable (too few of one kind)")
                continue
            no, has = f["no"], f["with it"]
            print(
                f"{tag:9}{split:6}{f['with']:>6}{f['without']:>5}      {_fmt(no['precision'])}"
                f"      {_fmt(no['precision at even odds'])}    {_fmt(no['recall'])}"
                f"         {_fmt(has['precision'])}      {_fmt(has['precision at even odds'])}    "
                f"{_fmt(has['recall'])}   {f['AUC']:.2f}"
            )
    Path("bench-results").mkdir(exist_ok=True)
    Path("bench-results/instruments.json").write_text(json.dumps(out, indent=2))
    if args.record:
        record = json.loads(instruments.FILTERS_FILE.read_text()) | {  # the voice's figures are bench_vocals'
            "note": "bench_instruments.py: 'no <tag>' as the filter applies it and '<tag>' said of a track, "
            "from each track's tag peak, on bench_drums.py's test split",
            "split": "test",
            "files": len(splits["test"]),
            "tags": {t: f for t, f in out["test"].items() if f.get("measured") is not False},
        }
        instruments.FILTERS_FILE.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
