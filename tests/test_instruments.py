"""The drum detector's arithmetic: one track or many, the first detector's hits recovered, a bundle it cannot read."""

import json

import numpy as np
import pytest

from engine import instruments
from engine.errors import BundleError
from engine.tags import TagIndex

LABELS = ["drums", "beat", "piano", "rock", "guitar", "classical", "techno", "ambient", "strings", "electronic"]


def first_detector(hits: np.ndarray, drums_tag: np.ndarray) -> np.ndarray:
    """The probability the first detector (VERSION 1) stored, to 3 decimals: its published weights."""
    return np.round(1 / (1 + np.exp(-(4.2 * np.log1p(hits) + 5.26 * drums_tag - 4.04))), 3)


def test_the_hits_the_first_detector_read_are_recovered_from_what_it_stored():
    rng = np.random.default_rng(0)
    tags = TagIndex(LABELS)
    peaks = rng.uniform(0, 1, (500, len(LABELS))).astype(np.float32)
    hits = rng.uniform(0, 4, 500)
    stored = first_detector(hits, peaks[:, 0])
    recovered = instruments.hits_of_version_1(stored, peaks, tags)
    clear = (stored > 0.01) & (stored < 0.99)  # where 3 decimals hold the hits to about 1 %
    assert clear.mean() > 0.3
    np.testing.assert_allclose(recovered[clear], hits[clear], rtol=0.03, atol=0.01)
    assert (first_detector(recovered, peaks[:, 0]) == stored).all()  # everywhere, the stored value comes back
    # Rounded to 1, the stored value bounds the hits from below: what comes back is that bound. (It was never
    # rounded to 0: with no hits and no drums tag it said 0.017.)
    assert (recovered[stored == 1] <= hits[stored == 1] + 1e-9).all() and (stored == 1).any()


def test_one_track_and_many_are_measured_alike(bundle):
    rng = np.random.default_rng(1)
    labels = list(bundle.tag_labels)
    tags = TagIndex(labels)
    peaks = rng.uniform(0, 1, (20, len(labels))).astype(np.float32)
    hits = rng.uniform(0, 5, 20)
    many = instruments.drum_probability(hits, peaks, tags)
    assert many.shape == (20,) and ((many > 0) & (many < 1)).all()
    for i in (0, 7, 19):
        assert float(instruments.drum_probability(hits[i], peaks[i], tags)) == pytest.approx(many[i])
    # More drum hits, all else equal, never make drums less likely.
    assert (instruments.drum_probability(hits + 2, peaks, tags) > many).all()


def test_a_candidate_fit_is_applied_by_the_same_arithmetic():
    """tests/bench/fit_drums.py scores a candidate through drum_probability: its weights, its tags, its
    log scale, not the fit in use."""
    tags = TagIndex(LABELS)
    peaks = np.zeros((3, len(LABELS)), np.float32)
    peaks[:, LABELS.index("classical")] = [0.0, 0.5, 1.0]
    hits = np.array([0.0, 1.0, 3.0])
    candidate = {"hits": 2.0, "tags": {"classical": -1.0}, "tag_scale": "log", "bias": 0.5}
    p = instruments.drum_probability(hits, peaks, tags, candidate)
    z = 2.0 * np.log1p(hits) - np.log(np.array([0.0, 0.5, 1.0]) + instruments.TAG_FLOOR) + 0.5
    np.testing.assert_allclose(p, 1 / (1 + np.exp(-z)))
    assert not np.allclose(p, instruments.drum_probability(hits, peaks, tags))  # the fit in use differs
    with pytest.raises(BundleError, match="cowbell"):
        instruments.drum_probability(hits, peaks, tags, candidate | {"tags": {"cowbell": 1.0}})


def test_a_bundle_without_a_tag_the_detector_reads_is_refused(bundle):
    labels = list(bundle.tag_labels)
    full = TagIndex(labels)
    assert np.isfinite(instruments.drum_probability(1.0, np.zeros(len(labels)), full))
    lacking = [labels[i] for i in range(len(labels)) if i not in full.rows["drums"]]
    with pytest.raises(BundleError, match="drums"):  # the tag every fit reads
        instruments.drum_probability(1.0, np.zeros(len(lacking)), TagIndex(lacking))


def _measured(precision: float, recall: float) -> dict:
    return {"no": {"precision at even odds": precision, "recall": recall}}


@pytest.mark.parametrize(
    "figures, hard",
    [
        (_measured(0.97, 0.8), True),
        (_measured(0.94, 0.9), False),  # lets through too many tracks that have it
        (_measured(0.99, 0.3), False),  # drops most tracks that have not: better ranked last
        (None, False),  # never measured
    ],
)
def test_an_exclusion_filters_only_where_its_held_out_measurement_is_reliable(monkeypatch, figures, hard):
    from engine.recommend.prompt import PREFERENCE, parse_prompt

    monkeypatch.setattr(instruments, "_TAG_SETS", [{"piano": figures} if figures else {}])
    assert instruments.exclusion_is_hard("piano") is hard
    (chip,) = parse_prompt("warm strings, no piano").constraints
    assert (chip.tag, chip.hard) == ("piano", hard)
    assert chip.label == "no piano" + ("" if hard else PREFERENCE)
    # A genre no bench measures, and drums (their detector's own record), are untouched by piano's figures.
    assert not instruments.exclusion_is_hard("rock")


@pytest.mark.parametrize("precision, said", [(0.94, True), (0.78, False), (None, False)])
def test_an_instrument_is_said_unasked_only_where_its_presence_was_measured_reliably(monkeypatch, precision, said):
    figures = {"with it": {"precision at even odds": precision}} if precision is not None else {}
    monkeypatch.setattr(instruments, "_TAG_SETS", [{"guitar": figures}])
    stored = {"genres": {"rock": 0.6}, "instruments": {"guitar": 0.5, "drums": 0.1, "acoustic": 0.3}}
    drummed = instruments.DRUMS_FROM + 0.01
    grouped = instruments.said_groups(stored, drummed)
    # Genres and "acoustic" name no instrument; musicnn's faint `drums` gives way to the detector's verdict.
    expected = {"guitar": 0.5} if said else {}
    assert grouped == {"genres": {"rock": 0.6}, "instruments": expected | {"acoustic": 0.3, "drums": drummed}}
    unmeasured_drums = instruments.said_tags(["guitar", "rock", "drums"], float("nan"))
    assert unmeasured_drums == (["guitar", "rock"] if said else ["rock"])
    assert stored["instruments"]["drums"] == 0.1  # the stored record is left as it was


@pytest.mark.parametrize(
    "renders, recordings, said, no_precision, no_recall",
    [
        (0.94, 0.82, False, 0.71, 0.82),  # right on renders, not on real recordings (piano, 5 December 2026)
        (0.94, 0.92, True, 0.71, 0.82),
        (0.94, None, True, 0.71, 0.96),  # a set that did not measure it leaves the other's figures
    ],
)
def test_the_worst_held_out_set_decides_what_is_said_and_what_filters(
    monkeypatch, renders, recordings, said, no_precision, no_recall
):
    """A tag right on renders can be wrong on a real library: each figure is the worst of the sets recorded."""
    rendered = {"piano": {"with it": {"precision at even odds": renders}, "no": _measured(0.71, 0.96)["no"]}}
    real = {"piano": {"with it": {"precision at even odds": recordings}, "no": _measured(0.83, 0.82)["no"]}}
    monkeypatch.setattr(instruments, "_TAG_SETS", [rendered, real if recordings is not None else {}])
    assert instruments.may_say("piano") is said
    assert instruments.presence_precision("piano") == (recordings if recordings is not None else renders)
    assert instruments.exclusion_precision("piano") == no_precision
    assert instruments._exclusion_figures("piano")[1] == no_recall


def test_musicnns_words_for_a_tempo_or_a_loudness_are_never_said_unasked():
    """The scan measures both and every result shows them: "slow" beside 144 BPM, or "quiet" on a track at
    -8 LUFS, contradicted the measure on the same line."""
    assert not any(instruments.may_say(t) for t in ("slow", "fast", "quiet", "loud"))
    assert instruments.may_say("soft") and instruments.may_say("ambient")
    grouped = {"moods": {"slow": 0.6, "quiet": 0.5, "soft": 0.4}, "genres": {"ambient": 0.7}}
    assert instruments.said_groups(grouped, None) == {"moods": {"soft": 0.4}, "genres": {"ambient": 0.7}}


def test_the_instruments_said_only_when_measured_are_the_tags_that_name_one():
    from engine.tags import TAG_GROUPS

    named = {name for group, name in TAG_GROUPS.values() if group == "instruments"}
    assert named >= instruments.PLAYING
    # What stays sayable unasked in that group names no instrument playing (or, drums, has a detector).
    assert named - instruments.PLAYING - set(instruments.DRUM_TAGS) == {
        "acoustic", "solo", "vocals", "female vocals", "male vocals", "instrumental"
    }  # fmt: skip


def test_the_recorded_figures_are_of_tags_the_prompt_can_exclude():
    from engine.tags import TAG_GROUPS

    canonical = {name for _, name in TAG_GROUPS.values()}
    assert len(instruments._TAG_SETS) == 2  # the test renders and real recordings (bench_instruments --folder)
    for recorded in instruments._TAG_SETS:
        assert recorded and set(recorded) <= canonical
        for figures in recorded.values():
            no = figures["no"]
            assert 0 <= no["recall"] <= 1 and 0 <= no["precision at even odds"] <= 1


@pytest.mark.parametrize("no_precision, hard", [(0.97, True), (0.57, False)])
def test_no_vocals_filters_only_where_the_voice_is_heard_reliably(monkeypatch, no_precision, hard):
    from engine.recommend.prompt import PREFERENCE, parse_prompt

    figures = {
        "no": {"precision at even odds": no_precision, "recall": 1.0},
        "with it": {"precision at even odds": 1.0, "recall": 0.25},
    }
    monkeypatch.setattr(instruments, "_VOCALS", figures)
    (none,) = parse_prompt("calm piano, no vocals").constraints
    assert (none.want, none.hard, none.label) == ("none", hard, "no vocals" + ("" if hard else PREFERENCE))
    (voice,) = parse_prompt("female vocals").constraints
    assert (voice.want, voice.hard, voice.label) == ("female", True, "female vocals")  # precise, if it misses
    monkeypatch.setattr(instruments, "_VOCALS", {})  # never measured: nothing about a voice filters
    assert not any(c.hard for c in parse_prompt("female vocals, no drums").constraints)


def test_a_chip_gives_the_held_out_figure_its_filter_or_preference_follows(monkeypatch):
    """The reason the app shows on a chip names the recorded figure, which also decided whether it filters."""
    from engine.recommend.prompt import measured_reason, parse_prompt

    def reason(prompt: str) -> str | None:
        (c,) = parse_prompt(prompt).constraints
        return measured_reason(c)

    # "no drums" reads the sound-effects detector where it measured: the worst of its held-out sets.
    sets = json.loads(instruments.SFX_FILE.read_text())["held_out"]
    drums = min(s["precision at even odds"] for s in [sets["no drums"], *sets["no drums, RULE-4's tests"].values()])
    assert f'"no drums" is right {drums:.0%} of the time' in reason("no drums")
    assert "none removed" in reason("no drums") and "a filter needs 95%" in reason("no drums")
    assert "not listened" not in reason("no drums")
    # Tracks the network has not heard are answered by the shipped detector: its figure is given for them.
    (no_drums,) = parse_prompt("no drums").constraints
    first = instruments.FIRST_NO_DRUMS_PRECISION
    assert f"({first:.0%} for the 3 tracks not listened to for drums)" in measured_reason(no_drums, 3)
    assert "not listened" not in measured_reason(parse_prompt("no piano").constraints[0], 3)
    # Where the scan does not listen for drums at all, the first detector answers for every track.
    never = measured_reason(no_drums, None)
    assert f"right {first:.0%} of the time" in never and "does not listen for drums here" in never
    piano = instruments.exclusion_precision("piano")
    assert f"right {piano:.0%}" in reason("no piano")
    assert reason("not rock").endswith('"no rock" was never measured on held-out music')
    assert reason("around 90 bpm") is None  # a tempo's reason is not a recorded figure
    monkeypatch.setattr(instruments, "_VOCALS", {"no": {"precision at even odds": 0.97, "recall": 0.9}})
    assert reason("no vocals") == 'a filter: "no vocals" is right 97% of the time on held-out music'
    monkeypatch.setattr(instruments, "_VOCALS", {"no": {"precision at even odds": 0.97, "recall": 0.3}})
    assert "as a filter it would remove most of the music it should keep" in reason("no vocals")


def test_the_recorded_voice_figures_make_no_vocals_a_preference_and_a_voice_a_filter():
    """What docs/quality.md says of the shipped record (bench_vocals.py --sung --record)."""
    assert set(instruments._VOCALS) >= {"no", "with it"}
    assert not instruments.vocals_filter_is_hard("none")
    assert all(instruments.vocals_filter_is_hard(w) for w in ("any", "female", "male"))


def test_a_voice_as_a_preference_costs_by_how_surely_one_was_heard(bundle):
    from engine.recommend.filters import SUNG, VOICE_DOUBT
    from engine.recommend.prompt import Vocals
    from engine.recommend.scoring import EXCLUDE_WEIGHT, VOICE_WEIGHT, soft_penalty, worst_penalty

    labels = list(bundle.tag_labels)
    tracks = np.zeros(4, dtype=[("vocal_peak", "f4"), ("tag_peaks", "f4", (len(labels),))])
    # clear of a voice, doubtful (halfway between where a voice is suggested and where it is heard), sung, unmeasured
    tracks["vocal_peak"] = [0.3, (VOICE_DOUBT + SUNG) / 2, 0.9, np.nan]
    segments = np.zeros(4, dtype=[("tempo", "f4")])
    w = VOICE_WEIGHT

    def cost(want: str, hard: bool) -> np.ndarray:
        return soft_penalty([Vocals("x", (0, 1), hard, want)], segments, tracks, TagIndex(labels))

    # Called sung (0.9): the verdict "vocals" filters on, so it costs as much as a sure drum kit.
    np.testing.assert_allclose(cost("none", False), [0, w / 2, EXCLUDE_WEIGHT, w / 2], atol=1e-6)
    np.testing.assert_allclose(cost("any", False), [w, w / 2, 0, w / 2], atol=1e-6)
    np.testing.assert_allclose(cost("none", True), 0)  # a filter has already decided
    assert worst_penalty([Vocals("x", (0, 1), False, "none")]) == EXCLUDE_WEIGHT
    assert worst_penalty([Vocals("x", (0, 1), False, "any")]) == w
    assert worst_penalty([Vocals("x", (0, 1), True, "any")]) == 0
