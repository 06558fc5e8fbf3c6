"""Prompt parsing: constraints out of the text, their spans and chip labels, and the text left for the encoder."""

import pytest

from engine.recommend.prompt import Exclude, Key, Length, ParsedPrompt, Tempo, Vocals, parse_prompt


def summary(c) -> tuple:
    """A constraint as a short comparable tuple (labels and spans are tested separately)."""
    if isinstance(c, Tempo):
        assert not c.hard  # the scan's tempo is not reliable enough for a filter (prompt.Tempo)
        return ("tempo", c.min_bpm, c.max_bpm, c.target_bpm, c.explicit)
    if isinstance(c, Vocals):
        return ("vocals", c.want)
    if isinstance(c, Exclude):
        return ("exclude", c.tag, c.group)
    if isinstance(c, Key):
        return ("key", c.tonic, c.mode)
    assert isinstance(c, Length)
    return ("length", c.min_seconds, c.max_seconds)


def no(tag: str, group: str = "instruments") -> tuple:
    return ("exclude", tag, group)


NONE, ANY, FEMALE, MALE = ("vocals", "none"), ("vocals", "any"), ("vocals", "female"), ("vocals", "male")


@pytest.mark.parametrize(
    "prompt, expected",
    [
        # an explicit tempo: a plain number is ±10%, "around" ±15%
        ("90 bpm", [("tempo", 81, 99, 90, True)]),
        ("90bpm", [("tempo", 81, 99, 90, True)]),
        ("at 90 BPM", [("tempo", 81, 99, 90, True)]),
        ("120 beats per minute", [("tempo", 108, 132, 120, True)]),
        ("92.5 bpm", [("tempo", 83.25, 101.75, 92.5, True)]),
        ("around 120 bpm", [("tempo", 102, 138, 120, True)]),
        ("about 100", [("tempo", 85, 115, 100, True)]),
        ("roughly 100 BPM", [("tempo", 85, 115, 100, True)]),
        ("approximately 100bpm", [("tempo", 85, 115, 100, True)]),
        ("~ 120", [("tempo", 102, 138, 120, True)]),
        ("~120bpm", [("tempo", 102, 138, 120, True)]),
        ("between 80 and 100 bpm", [("tempo", 80, 100, None, True)]),
        ("80-100 bpm", [("tempo", 80, 100, None, True)]),
        ("80–100 BPM", [("tempo", 80, 100, None, True)]),
        ("80 to 100 bpm", [("tempo", 80, 100, None, True)]),
        ("100-80 bpm", [("tempo", 80, 100, None, True)]),
        ("under 100 bpm", [("tempo", None, 100, None, True)]),
        ("below 100 bpm", [("tempo", None, 100, None, True)]),
        ("less than 100 bpm", [("tempo", None, 100, None, True)]),
        ("at most 100 bpm", [("tempo", None, 100, None, True)]),
        ("max 100 bpm", [("tempo", None, 100, None, True)]),
        ("slower than 100 bpm", [("tempo", None, 100, None, True)]),
        ("<= 100 bpm", [("tempo", None, 100, None, True)]),
        ("≤100 bpm", [("tempo", None, 100, None, True)]),
        ("< 100 bpm", [("tempo", None, 100, None, True)]),
        ("no more than 100 bpm", [("tempo", None, 100, None, True)]),
        ("over 120 bpm", [("tempo", 120, None, None, True)]),
        ("above 120 bpm", [("tempo", 120, None, None, True)]),
        ("more than 120 bpm", [("tempo", 120, None, None, True)]),
        ("at least 120 bpm", [("tempo", 120, None, None, True)]),
        ("min 120 bpm", [("tempo", 120, None, None, True)]),
        ("faster than 120 bpm", [("tempo", 120, None, None, True)]),
        (">= 120 bpm", [("tempo", 120, None, None, True)]),
        ("≥ 120.5 bpm", [("tempo", 120.5, None, None, True)]),
        ("> 120 bpm", [("tempo", 120, None, None, True)]),
        ("over 120", [("tempo", 120, None, None, True)]),  # no time unit follows: a tempo
        # tempo, soft
        ("slow", [("tempo", None, 95, None, False)]),
        ("slow-paced", [("tempo", None, 95, None, False)]),
        ("slow tempo", [("tempo", None, 95, None, False)]),
        ("very slow", [("tempo", None, 75, None, False)]),
        ("fast", [("tempo", 120, None, None, False)]),
        ("fast-paced", [("tempo", 120, None, None, False)]),
        ("fast tempo", [("tempo", 120, None, None, False)]),
        ("uptempo", [("tempo", 120, None, None, False)]),
        ("up-tempo", [("tempo", 120, None, None, False)]),
        ("very fast", [("tempo", 150, None, None, False)]),
        ("mid-tempo", [("tempo", 95, 120, None, False)]),
        ("medium tempo", [("tempo", 95, 120, None, False)]),
        ("moderate tempo", [("tempo", 95, 120, None, False)]),
        # vocals
        ("no vocals", [NONE]),
        ("no vocal", [NONE]),
        ("without vocals", [NONE]),
        ("no singing", [NONE]),
        ("no voice", [NONE]),
        ("no voices", [NONE]),
        ("no lyrics", [NONE]),
        ("vocal-free", [NONE]),
        ("instrumental", [NONE]),
        ("instrumentals only", [NONE]),
        ("with vocals", [ANY]),
        ("vocals", [ANY]),
        ("vocal", [ANY]),
        ("sung", [ANY]),
        ("singing", [ANY]),
        ("singer", [ANY]),
        ("lyrics", [ANY]),
        ("not instrumental", [ANY]),
        ("female vocals", [FEMALE]),
        ("female vocalist", [FEMALE]),
        ("female singer", [FEMALE]),
        ("female voice", [FEMALE]),
        ("woman singing", [FEMALE]),
        ("women's vocals", [FEMALE]),
        ("male vocals", [MALE]),
        ("male vocalist", [MALE]),
        ("man singing", [MALE]),
        ("men's vocals", [MALE]),
        ("male and female vocals", [ANY]),
        # exclusions: every keyword
        ("no drums", [no("drums")]),
        ("not rock", [no("rock", "genres")]),
        ("without piano", [no("piano")]),
        ("avoid synths", [no("synth")]),
        ("nothing sad", [no("sad", "moods")]),
        ("non-rock", [no("rock", "genres")]),
        ("anything but jazz", [no("jazz", "genres")]),
        # plurals, synonyms, multi-word tags
        ("no drum", [no("drums")]),
        ("no guitars", [no("guitar")]),
        ("no pianos", [no("piano")]),
        ("no violins", [no("violin")]),
        ("no hip hop", [no("hip-hop", "genres")]),
        ("no hiphop", [no("hip-hop", "genres")]),
        ("no hip-hop", [no("hip-hop", "genres")]),
        ("no edm", [no("electronic", "genres")]),
        ("no electronica", [no("electronic", "genres")]),
        ("no percussion", [no("drums")]),
        ("no beats", [no("beat")]),
        ("no choir", [no("choir")]),
        ("no choral", [no("choir")]),
        ("no rnb", [no("R&B", "genres")]),
        ("no r&b", [no("R&B", "genres")]),
        ("no strings", [no("strings")]),
        ("no classic rock", [no("classic rock", "genres")]),
        ("no new age", [no("new age", "genres")]),
        ("no easy listening", [no("easy listening", "genres")]),
        ("no heavy metal", [no("heavy metal", "genres")]),
        ("no indie pop", [no("indie pop", "genres")]),
        ("no alternative rock", [no("alternative rock", "genres")]),
        ("no hard rock", [no("hard rock", "genres")]),
        ("no electric guitar", [no("guitar")]),
        ("no female vocals", [no("female vocals")]),
        ("not slow", [no("slow", "moods")]),  # a negated mood tag, not a tempo word
        ("without any drums", [no("drums")]),
        # "tempo" or "BPM" before a bare number makes it a tempo
        ("tempo 90", [("tempo", 81, 99, 90, True)]),
        ("a tempo of 120 bpm", [("tempo", 108, 132, 120, True)]),
        ("bpm: 90", [("tempo", 81, 99, 90, True)]),
        ("bpm 300", [("tempo", 270, 330, 300, True)]),  # as "300 bpm": the unit said first
        ("tempo around 100", [("tempo", 85, 115, 100, True)]),
        ("tempo under 100", [("tempo", None, 100, None, True)]),
        # an instrument or a voice excluded by a suffix
        ("drumless", [no("drums")]),
        ("drum-free ambient", [no("drums")]),
        ("calm percussionless piano", [no("drums")]),
        ("guitar-less rock", [no("guitar")]),
        ("voiceless pads", [NONE]),
        ("pianoless jazz, no drums", [no("piano"), no("drums")]),
        # lists
        ("no drums or piano", [no("drums"), no("piano")]),
        ("no drums, piano or guitar", [no("drums"), no("piano"), no("guitar")]),
        ("no drums, piano, or guitar", [no("drums"), no("piano"), no("guitar")]),
        ("no drums and no piano", [no("drums"), no("piano")]),
        ("no vocals or drums", [NONE, no("drums")]),
        ("not rock or metal", [no("rock", "genres"), no("metal", "genres")]),
        ("no drums, warm piano", [no("drums")]),  # a comma without a closing "or" ends the list
        # length
        ("at least 2 minutes", [("length", 120, None)]),
        ("at least 90 s", [("length", 90, None)]),
        ("longer than 2 min", [("length", 120, None)]),
        ("over 3 minutes", [("length", 180, None)]),
        ("more than 1:30", [("length", 90, None)]),
        ("under 3 minutes", [("length", None, 180)]),
        ("shorter than 45 seconds", [("length", None, 45)]),
        ("less than 1:30", [("length", None, 90)]),
        ("at most 4 min", [("length", None, 240)]),
        ("max 2:00", [("length", None, 120)]),
        ("2-3 minutes", [("length", 120, 180)]),
        ("between 2 and 3 minutes", [("length", 120, 180)]),
        ("30 s", [("length", 30, None)]),
        ("30 seconds", [("length", 30, None)]),
        ("45 secs", [("length", 45, None)]),
        ("2 minutes", [("length", 120, None)]),
        ("2 min", [("length", 120, None)]),
        ("2.5 mins", [("length", 150, None)]),
        ("1:30", [("length", 90, None)]),
        ("2 minute track", [("length", 120, None)]),
        ("2 minutes long", [("length", 120, None)]),
        ("two minutes", [("length", 120, None)]),
        # several at once, in order of appearance
        ("warm acoustic, no vocals, around 90 BPM", [NONE, ("tempo", 76.5, 103.5, 90, True)]),
        ("upbeat synthwave with female vocals", [FEMALE]),
        (
            "sad piano, no drums, 90 bpm, at least 2 minutes",
            [no("drums"), ("tempo", 81, 99, 90, True), ("length", 120, None)],
        ),
        ("slow, under 3 minutes", [("tempo", None, 95, None, False), ("length", None, 180)]),
    ],
)
def test_constraints(prompt, expected):
    assert [summary(c) for c in parse_prompt(prompt).constraints] == expected


@pytest.mark.parametrize(
    "prompt",
    [
        *("breakfast", "snowfall", "notable", "another", "nothing but piano", "90s hip hop", "80s rock", "1980s"),
        *("slowly", "endless summer", "timeless classic", "careless", "rockless", "jazz-free"),  # genres: no suffix
    ],
)
def test_words_that_only_look_like_constraints(prompt):
    parsed = parse_prompt(prompt)
    assert parsed.constraints == ()
    assert parsed.ignored == ()
    assert parsed.text == prompt


@pytest.mark.parametrize(
    "prompt, text",
    [
        ("warm acoustic, no vocals, around 90 BPM", "warm acoustic"),
        ("upbeat synthwave with female vocals", "upbeat synthwave"),  # "upbeat" is not a tempo word
        ("no drums", None),
        ("", None),
        ("   ", None),
        ("sad piano, no drums, rock", "sad piano, rock"),  # positive tags stay for the encoder
        ("slow dreamy piano", "dreamy piano"),
        ("dreamy piano, no drums or bass", "dreamy piano"),  # an unknown negation still leaves
        ("rock, no drums, and piano", "rock and piano"),
        ("no drums and no piano, warm", "warm"),
        ("cinematic strings at 90 bpm", "cinematic strings"),
        ("2 minute track", None),
        ("a song with no vocals", None),
        ("instrumental hip hop", "hip hop"),
        ("calm percussionless piano", "calm piano"),
        ("warm piano at a tempo of 80", "warm piano"),
        ("piano at 90", "piano at 90"),  # no tempo word, no unit: a number may be anything
    ],
)
def test_remaining_text(prompt, text):
    assert parse_prompt(prompt).text == text


@pytest.mark.parametrize(
    "prompt, labels",
    [
        ("90 bpm", ["90 BPM ±10% (preference)"]),
        ("around 120", ["120 BPM ±15% (preference)"]),
        ("under 100 bpm", ["≤ 100 BPM (preference)"]),
        ("over 120 bpm", ["≥ 120 BPM (preference)"]),
        ("80-100 bpm", ["80–100 BPM (preference)"]),
        ("slow", ["slow, ≤ 95 BPM (preference)"]),
        ("very fast", ["very fast, ≥ 150 BPM (preference)"]),
        ("mid-tempo", ["mid-tempo, 95–120 BPM (preference)"]),
        ("at least 2 minutes", ["≥ 2:00"]),
        ("shorter than 45 seconds", ["≤ 0:45"]),
        ("2-3 minutes", ["2:00–3:00"]),
        ("no vocals, female vocals", ["no vocals (preference)"]),
        ("with female vocals", ["female vocals"]),
        ("vocals", ["vocals"]),
        ("no drums or hip hop", ["no drums (preference)", "no hip-hop (preference)"]),
    ],
)
def test_chip_labels(prompt, labels):
    assert parse_prompt(prompt).describe() == labels


@pytest.mark.parametrize(
    "prompt, phrases",
    [
        ("warm acoustic, no vocals, around 90 BPM", ["no vocals", "around 90 BPM"]),
        ("upbeat synthwave with female vocals", ["with female vocals"]),
        ("chill, at 90 BPM", ["at 90 BPM"]),
        ("no drums, piano or guitar", ["no drums", "piano", "guitar"]),
        ("lofi beats not too fast", ["not too fast"]),
        ("piano, non-rock, ≥ 2:00", ["non-rock", "≥ 2:00"]),
        ("jazz anything but sad, slow-paced", ["anything but sad", "slow-paced"]),
    ],
)
def test_spans_point_at_the_phrase(prompt, phrases):
    parsed = parse_prompt(prompt)
    assert [prompt[c.span[0] : c.span[1]] for c in parsed.constraints] == phrases


@pytest.mark.parametrize(
    "prompt, notes",
    [
        ("no bass", ['no "bass": Needledrop has no tag for bass']),
        ("no cheese, warm piano", ['no "cheese": Needledrop has no tag for cheese']),
        ("without Bass or drums", ['without "bass": Needledrop has no tag for bass']),
        ("500 bpm", ['"500 bpm": not a plausible tempo (20–300 BPM)']),
        ("10 bpm", ['"10 bpm": not a plausible tempo (20–300 BPM)']),
        ("piano, -50 bpm", ['"-50 bpm": not a plausible tempo (20–300 BPM)']),  # was sent to the words
        ("no drums, drums", ['"drums": contradicts "no drums (preference)", which is used']),
        ("drums; no drums", ['"drums": contradicts "no drums (preference)", which is used']),
        ("no piano, with piano", ['"with piano": contradicts "no piano (preference)", which is used']),
        ("no rock, indie rock", []),  # a longer phrase is the words' to weigh
        ("no drums, with percussion", ['"with percussion": contradicts "no drums (preference)", which is used']),
        ("no blues, blue", []),  # a colour, not the genre
        ("80-100 bpm", []),  # a range, not a negative tempo
        (
            "instrumental with female vocals",
            ['"with female vocals": contradicts "no vocals (preference)", which is used'],
        ),
        ("female vocals, male vocals", ['"male vocals": contradicts "female vocals", which is used']),
        ("vocals, female vocals", ['"vocals": already said by "female vocals"']),  # the more specific is used
        ("slow, 90 bpm", ['"slow": the explicit tempo (90 BPM ±10%) is used instead']),
    ],
)
def test_ignored_notes(prompt, notes):
    assert parse_prompt(prompt).ignored == tuple(notes)


def test_unusable_phrases_leave_the_text_and_keep_no_constraint():
    parsed = parse_prompt("warm piano, no bass, 500 bpm")
    assert parsed.constraints == ()
    assert parsed.text == "warm piano"


def test_contradiction_keeps_the_first_vocals_constraint():
    parsed = parse_prompt("instrumental with female vocals")
    assert [summary(c) for c in parsed.constraints] == [NONE]
    assert parsed.text is None


def test_repeated_constraints_are_kept_once_without_a_note():
    parsed = parse_prompt("no drums, no drums, instrumental, no vocals")
    assert [summary(c) for c in parsed.constraints] == [no("drums"), NONE]
    assert parsed.ignored == ()


@pytest.mark.parametrize(
    "prompt, index, rest",
    [
        ("warm acoustic, no vocals, around 90 BPM", 0, "warm acoustic, around 90 BPM"),
        ("warm acoustic, no vocals, around 90 BPM", 1, "warm acoustic, no vocals"),
        ("no drums, piano or guitar", 0, "no piano or guitar"),  # the keyword stays for the rest of the list
        ("no drums, piano or guitar", 1, "no drums or guitar"),
        ("no drums, piano or guitar", 2, "no drums or piano"),
        ("without vocals or drums, warm", 1, "without vocals, warm"),
        ("no drums or bass", 0, "no bass"),  # the unknown "bass" must not turn positive
        ("upbeat synthwave with female vocals, 2 minutes", 0, "upbeat synthwave, 2 minutes"),
        ("slow piano", 0, "piano"),
    ],
)
def test_without_drops_exactly_that_constraint(prompt, index, rest):
    parsed = parse_prompt(prompt)
    assert parsed.without(index) == rest
    again = parse_prompt(rest)
    expected = [summary(c) for i, c in enumerate(parsed.constraints) if i != index]
    assert [summary(c) for c in again.constraints] == expected
    assert again.describe() == [label for i, label in enumerate(parsed.describe()) if i != index]


def test_case_does_not_matter():
    upper = parse_prompt("WARM ACOUSTIC, NO VOCALS, AROUND 90 BPM, NOT ROCK, Over 2 Minutes, SLOW")
    lower = parse_prompt("warm acoustic, no vocals, around 90 bpm, not rock, over 2 minutes, slow")
    assert [summary(c) for c in upper.constraints] == [summary(c) for c in lower.constraints]
    assert [summary(c) for c in lower.constraints] == [
        NONE,
        ("tempo", 76.5, 103.5, 90, True),
        no("rock", "genres"),
        ("length", 120, None),
    ]
    assert upper.ignored == ('"SLOW": the explicit tempo (90 BPM ±15%) is used instead',)
    assert upper.text == "WARM ACOUSTIC"


def test_parse_result_shape():
    parsed = parse_prompt("piano, no drums")
    assert isinstance(parsed, ParsedPrompt)
    assert parsed.original == "piano, no drums"
    # No exclusion is measured reliably enough to filter (engine/instruments.py): each is a preference.
    assert parsed.constraints == (Exclude("no drums (preference)", (7, 15), False, "drums", "instruments"),)
    assert parsed.ignored == ()
    with pytest.raises(AttributeError):
        parsed.text = "x"  # frozen: chips are values


# --- keys, time signatures, repeats and contradictions ---------------------------------------------------------

C, D, E, F, G, A, B = 0, 2, 4, 5, 7, 9, 11


@pytest.mark.parametrize(
    "prompt, expected",
    [
        ("in D minor", [("key", D, "minor")]),
        ("D minor", [("key", D, "minor")]),
        ("d minor", [("key", D, "minor")]),
        ("F# major", [("key", F + 1, "major")]),
        ("F♯ major", [("key", F + 1, "major")]),
        ("Bb minor", [("key", B - 1, "minor")]),
        ("B flat minor", [("key", B - 1, "minor")]),
        ("E-flat major", [("key", E - 1, "major")]),
        ("in the key of Eb major", [("key", E - 1, "major")]),
        ("c major scale", [("key", C, "major")]),
        ("Cb major", [("key", B, "major")]),  # wraps below C
        ("in Am", [("key", A, "minor")]),
        ("in F#m", [("key", F + 1, "minor")]),
        ("key of A", [("key", A, None)]),
        ("in the key of g", [("key", G, None)]),
        ("major key", [("key", None, "major")]),
        ("minor key", [("key", None, "minor")]),
        ("minor-key strings", [("key", None, "minor")]),
        ("in a minor key", [("key", None, "minor")]),  # the article, not the note A
        ("A minor key ballad", [("key", None, "minor")]),  # a sentence's article
        ("in a minor", [("key", A, "minor")]),  # after "in", with no key word: the note A
        ("sad A minor ballad", [("key", A, "minor")]),
        ("minor", [("key", None, "minor")]),  # alone, in a music prompt, the mode
        ("sad piano, minor", [("key", None, "minor")]),
        ("a major ballad", [("key", None, "major")]),
        ("minor chords", [("key", None, "minor")]),
        ("sad song in b minor, no drums", [("key", B, "minor"), no("drums")]),
        ("in H minor", [("key", B, "minor")]),  # German names B natural H ("h-moll")
        ("key of A, minor", [("key", A, None), ("key", None, "minor")]),  # each says part: both are used
    ],
)
def test_keys(prompt, expected):
    parsed = parse_prompt(prompt)
    assert [summary(c) for c in parsed.constraints] == expected
    assert parsed.ignored == ()
    assert not any(c.hard for c in parsed.constraints if isinstance(c, Key))  # estimated keys only re-rank


@pytest.mark.parametrize(
    "prompt",
    ["a minor change to the edit", "a major label pop song", "I am happy", "be calm", "Bbm", "am radio", "a flat"],
)
def test_words_that_only_look_like_keys(prompt):
    parsed = parse_prompt(prompt)
    assert parsed.constraints == () and parsed.ignored == ()
    assert parsed.text == prompt


@pytest.mark.parametrize(
    "prompt, labels, phrases, text",
    [
        ("sad strings in D minor", ["D minor (preference)"], ["in D minor"], "sad strings"),
        ("Bb minor, no vocals", ["Bb minor (preference)", "no vocals (preference)"], ["Bb minor", "no vocals"], None),
        ("piano in a minor key", ["minor key (preference)"], ["in a minor key"], "piano"),
        ("key of A, at 90 bpm", ["key of A (preference)", "90 BPM ±10% (preference)"], ["key of A", "at 90 bpm"], None),
        ("warm, major", ["major key (preference)"], ["major"], "warm"),
    ],
)
def test_key_chips_spans_and_text(prompt, labels, phrases, text):
    parsed = parse_prompt(prompt)
    assert parsed.describe() == labels
    assert [prompt[c.span[0] : c.span[1]] for c in parsed.constraints] == phrases
    assert parsed.text == text


def test_without_drops_a_key_chip():
    parsed = parse_prompt("sad strings in D minor, no drums")
    assert parsed.without(0) == "sad strings, no drums"
    assert [summary(c) for c in parse_prompt(parsed.without(0)).constraints] == [no("drums")]


@pytest.mark.parametrize(
    "prompt, notes, text",
    [
        ("4/4", ['"4/4": the time signature is not measured (the scan assumes 4/4)'], None),
        ("no 4/4", ['"no 4/4": the time signature is not measured (the scan assumes 4/4)'], None),
        ("upbeat rock in 4/4", ['"in 4/4": the time signature is not measured (the scan assumes 4/4)'], "upbeat rock"),
        ("3/4 waltz", ['"3/4": the time signature is not measured (the scan assumes 4/4)'], "waltz"),
        ("6/8 time, piano", ['"6/8 time": the time signature is not measured (the scan assumes 4/4)'], "piano"),
        ("in waltz time", ['"in waltz time": the time signature is not measured (the scan assumes 4/4)'], None),
        (
            "odd time signatures",
            ['"odd time signatures": the time signature is not measured (the scan assumes 4/4)'],
            None,
        ),
        ("4/4, 4/4", ['"4/4": the time signature is not measured (the scan assumes 4/4)'], None),  # said once
    ],
)
def test_time_signatures_are_reported_once_as_not_measured(prompt, notes, text):
    parsed = parse_prompt(prompt)
    assert parsed.ignored == tuple(notes)
    assert parsed.constraints == () and parsed.text == text


def test_a_fraction_is_not_a_time_signature():
    assert parse_prompt("1/2 speed").ignored == ()


@pytest.mark.parametrize(
    "prompt, kept, notes",
    [
        (
            "slow, 140 BPM",
            [("tempo", 126, 154, 140, True)],
            ['"slow": the explicit tempo (140 BPM ±10%) is used instead'],
        ),
        (
            "under 90 BPM over 120 BPM",
            [("tempo", None, 90, None, True)],
            ['"over 120 BPM": contradicts "≤ 90 BPM (preference)", which is used'],
        ),
        (
            "90 bpm, 120 bpm",
            [("tempo", 81, 99, 90, True)],
            ['"120 bpm": contradicts "90 BPM ±10% (preference)", which is used'],
        ),
        (
            "slow, fast",
            [("tempo", None, 95, None, False)],
            ['"fast": contradicts "slow, ≤ 95 BPM (preference)", which is used'],
        ),
        (
            "under 2 minutes, over 3 minutes",
            [("length", None, 120)],
            ['"over 3 minutes": contradicts "≤ 2:00", which is used'],
        ),
        ("no vocals, female vocals", [NONE], ['"female vocals": contradicts "no vocals (preference)", which is used']),
        # The explicit key wins over a mode alone, wherever it stands.
        (
            "in D minor, major key",
            [("key", D, "minor")],
            ['"major key": contradicts "D minor (preference)", which is used'],
        ),
        (
            "major key, in D minor",
            [("key", D, "minor")],
            ['"major key": contradicts "D minor (preference)", which is used'],
        ),
        ("D minor, F major", [("key", D, "minor")], ['"F major": contradicts "D minor (preference)", which is used']),
        ("D minor, minor key", [("key", D, "minor")], ['"minor key": already said by "D minor (preference)"']),
        ("not minor", [], ['"not minor": a key can be preferred, not excluded (ask for "major key" instead)']),
        ("no major keys", [], ['"no major keys": a key can be preferred, not excluded (ask for "minor key" instead)']),
        ("piano, not in D minor", [], ['"not in D minor": a key can be preferred, not excluded']),
    ],
)
def test_repeats_and_contradictions_are_reported_once(prompt, kept, notes):
    parsed = parse_prompt(prompt)
    assert [summary(c) for c in parsed.constraints] == kept
    assert parsed.ignored == tuple(notes)


def test_compatible_constraints_are_all_kept():
    parsed = parse_prompt("over 80 bpm, under 120 bpm, slow, very slow, D minor, D minor")
    assert [summary(c) for c in parsed.constraints] == [
        ("tempo", 80, None, None, True),
        ("tempo", None, 120, None, True),
        ("key", D, "minor"),
    ]
    assert parsed.ignored == (
        '"slow": the explicit tempo (≥ 80 BPM) is used instead',
        '"very slow": the explicit tempo (≥ 80 BPM) is used instead',
    )
