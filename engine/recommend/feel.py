"""The feel of the words: any prompt placed on the two axes that carry most of what music feels like.

Energy (arousal: calm ↔ intense) and mood (valence: sad, dark ↔ happy, bright). Each axis is defined by
two small sets of anchor words we wrote (after SemAxis, An et al. 2018: no lexicon, so no lexicon
licence). A prompt's MiniLM sentence embedding is placed on each axis by how much nearer it is to one set
than to the other (FeelReader), measured from where neutral prompts ("piano music", "a song", "jazz")
fall, in units of their own spread: a z-score. It says both where the prompt points and how much it
talks about feel at all, so
"pumping workout music", "soothing" and "bittersweet" are read without a keyword list, and "electronic with
drums" is read as saying nothing about feel.

Measured on the bundle's MiniLM (tests/test_feel.py): "soothing" −7.4 on energy, "pumping workout music"
+4.8, "bittersweet" −2.4 on mood, "tense thriller underscore" +2.4 on energy and −4.8 on mood, "happy
ukulele" +3.7 on mood, while neutral prompts stay within about ±1.5. The energy axis is arousal, not
pleasantness: of the 17 affect words whose arousal Russell's circumplex (1980) places clearly high or low
(none of them an anchor), 16 read on the right side ("angry", "annoyed", "frustrated" high; "tired",
"content" low). Before the five unpleasant anchors of its high end were added, 11 did, and "anxious" read
as calm.

The picture has a feel too (`picture_feel`): its pace (motion between frames and the cut rate) on the
energy axis, its light (brightness, saturation and warmth) on the mood axis, so a calm clip and a frantic
one move the mood of the results, not only their tempo.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from engine.features import FeatureExtractor

AXES = {
    "energy": (
        [
            "energetic",
            "intense",
            "driving",
            "pumping",
            "powerful",
            "exciting",
            "fast-paced",
            "aggressive",
            "upbeat",
            "high-energy",
            # Unpleasant as well as pleasant: without these the axis read pleasantness too, "anxious"
            # read as calm (-2.1) and "tense", "annoyed" and "frustrated" music fell on the calm side.
            "frantic",
            "furious",
            "agitated",
            "chaotic",
            "urgent",
        ],
        ["calm", "peaceful", "gentle", "soothing", "relaxing", "quiet", "tranquil", "soft", "sleepy", "serene"],
    ),
    "mood": (
        ["happy", "joyful", "uplifting", "cheerful", "bright", "playful", "hopeful", "triumphant", "fun", "sunny"],
        [
            "sad",
            "melancholic",
            "dark",
            "gloomy",
            "somber",
            "tragic",
            "lonely",
            "mournful",
            "heartbroken",
            "bleak",
            "nostalgic",  # low and negative in the circumplex, and the word editors use most for it
            "wistful",
        ],
    ),
}
# Prompts that say what the music is but nothing of how it feels: the zero and the unit of each axis.
NEUTRAL = (
    "music",
    "a song",
    "a track",
    "piano music",
    "guitar music",
    "electronic music",
    "orchestral music",
    "music with drums",
    "a song with vocals",
    "string quartet",
    "jazz",
    "rock music",
    "background music",
)
# |z| from which the words are taken to speak about an axis. The neutral prompts stay within 1.5, but at 2.0
# 9 of 67 other prompts that name only a genre, an instrument or a purpose ("disco", "tango", "sitar",
# "beatbox") read as a feel, mostly "sad", and "tense chase scene with drums" got the chip "sad"; at 2.25, 5 do.
# Higher would silence "bittersweet" (-2.39), a word that must work (docs/quality.md, *Energy and mood*).
SPOKEN = 2.25
FULL = 4.0  # |z| at which they speak about it fully
# What a point on the two axes is called, for the chip: (energy sign, mood sign) -> word; 0 = not spoken of.
WORDS = {
    (1, 1): "upbeat",
    (1, -1): "tense",
    (-1, 1): "calm, warm",
    (-1, -1): "melancholic",
    (1, 0): "energetic",
    (-1, 0): "calm",
    (0, 1): "happy",
    (0, -1): "sad",
}


@dataclass(frozen=True)
class Feel:
    """Where words point on each axis (z against neutral prompts) and how surely they speak of it (0..1)."""

    energy: float
    mood: float
    energy_strength: float
    mood_strength: float
    source: str = "words"  # or "picture": what it was read from, so the why can say which it matched

    @property
    def strength(self) -> float:
        """How much the words are about feel at all: their surer axis."""
        return max(self.energy_strength, self.mood_strength)

    @property
    def label(self) -> str:
        """The chip's word ("tense", "calm"), or "" when the words do not speak of feel."""
        key = (_sign(self.energy, self.energy_strength), _sign(self.mood, self.mood_strength))
        return WORDS.get(key, "")

    @property
    def asks(self) -> str:
        """What the reading asks of the music, in words ("less energy and a darker mood"): its z-scores are
        on the text axes' scale, not the one a track's measured energy and mood are shown on."""
        energy = {1: "more energy", -1: "less energy"}.get(_sign(self.energy, self.energy_strength))
        mood = {1: "a brighter mood", -1: "a darker mood"}.get(_sign(self.mood, self.mood_strength))
        return " and ".join(word for word in (energy, mood) if word)

    def scaled(self, factor: float) -> Feel:
        """The same reading, spoken of `factor` times as surely (the balance between words and picture)."""
        return Feel(self.energy, self.mood, self.energy_strength * factor, self.mood_strength * factor, self.source)

    def to_json(self) -> dict:
        return {
            "label": self.label,
            "energy": round(self.energy, 2),
            "mood": round(self.mood, 2),
            "energy_strength": round(self.energy_strength, 2),
            "mood_strength": round(self.mood_strength, 2),
        }


# The clip's cues (engine/media/video.py) in the words an editor would use, here and in the "why"
# (explain.py): a mean motion (mean absolute change of a grey thumbnail between frames, 0..1) of 0.01 is a
# calm picture, 0.04 a busy one; 0.3 cuts a second are quick cuts.
CALM_MOTION, BUSY_MOTION = 0.01, 0.04
QUICK_CUTS = 0.3
PICTURE_Z = 4.0  # a clearly calm or frantic picture speaks of energy as surely as words at |z| = 4
PICTURE_MOOD = 0.5  # light is a weaker cue of mood than pace is of energy
# The picture's own bar: its scale (PICTURE_Z) was set against 2 z, and what a clip's pace does to the
# results was measured with it; the words' bar (SPOKEN) rose for what words say, not for the picture.
PICTURE_SPOKEN = 2.0


def picture_feel(cues: dict[str, float]) -> Feel:
    """The feel of a clip from its mean cues: pace on the energy axis, light on the mood axis."""
    pace = float(np.tanh(sum(pace_terms(cues).values())))
    mood = float(np.tanh(sum(light_terms(cues).values()) / 3))
    energy_z, mood_z = PICTURE_Z * pace, PICTURE_Z * PICTURE_MOOD * mood
    strength = (_strength(energy_z, PICTURE_SPOKEN), _strength(mood_z, PICTURE_SPOKEN))
    return Feel(energy_z, mood_z, *strength, "picture")


def pace_terms(cues: dict[str, float]) -> dict[str, float]:
    """What the picture's pace is made of: octaves of motion away from the middle of calm and busy, and
    quick-cut rates away from the threshold (half of each)."""
    motion = np.log2(max(cues.get("motion", 0.0), 1e-4) / np.sqrt(CALM_MOTION * BUSY_MOTION))
    cuts = (cues.get("cuts_per_second", 0.0) - QUICK_CUTS) / QUICK_CUTS
    return {"motion": 0.5 * float(motion), "cuts": 0.5 * cuts}


def light_terms(cues: dict[str, float]) -> dict[str, float]:
    """What the picture's light is made of, each in units of a clear difference: brightness, saturation
    (colour) and warmth (red over blue)."""
    return {
        "brightness": (cues.get("brightness", 0.5) - 0.45) / 0.2,
        "saturation": (cues.get("saturation", 0.3) - 0.3) / 0.3,
        "warmth": cues.get("warmth", 0.0) / 0.1,
    }


def _sign(z: float, strength: float) -> int:
    return 0 if strength <= 0 else (1 if z > 0 else -1)


def _strength(z: float, spoken: float = SPOKEN) -> float:
    return float(np.clip((abs(z) - spoken) / (FULL - spoken), 0.0, 1.0)) if abs(z) > spoken else 0.0


class FeelReader:
    """Reads a prompt's feel from its MiniLM sentence embedding (anchors embedded once, on first use).

    Each axis is read as how much closer the prompt is to its nearest anchors of one end than to those of
    the other (the mean cosine of the NEAREST closest of each set), measured against the neutral prompts.
    The difference of the two sets' mean embeddings (SemAxis proper) was tried first: on MiniLM its energetic
    end lies barely off the neutral prompts ("energetic music" at z = 2.1, "a track" at 2.5), while the
    nearest anchors read "energetic music" at 5.4, "high-energy, driving" at 7.7 and "soothing" at −7.4,
    and the neutral prompts within ±1.5 but for "a track" (2.5)."""

    NEAREST = 3

    def __init__(self, extractor: FeatureExtractor):
        self.extractor = extractor

    @cached_property
    def _axes(self) -> dict[str, tuple[np.ndarray, np.ndarray, float, float]]:
        """Per axis: its two anchor sets (unit vectors), and the neutral prompts' mean and spread."""
        axes = {}
        for name, (high, low) in AXES.items():
            up, down = self._unit([f"{w} music" for w in high]), self._unit([f"{w} music" for w in low])
            along = self._along(self._unit(list(NEUTRAL)), up, down)
            axes[name] = (up, down, float(along.mean()), float(along.std()))
        return axes

    def _unit(self, texts: list[str]) -> np.ndarray:
        vectors = self.extractor.text_backbone(texts).sentence_embedding
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    def _along(self, sentences: np.ndarray, up: np.ndarray, down: np.ndarray) -> np.ndarray:
        def nearest(anchors: np.ndarray) -> np.ndarray:
            return np.sort(sentences @ anchors.T, axis=1)[:, -self.NEAREST :].mean(axis=1)

        return nearest(up) - nearest(down)

    def read(self, sentence: np.ndarray) -> Feel:
        unit = np.asarray(sentence, np.float32)[None] / (np.linalg.norm(sentence) + 1e-12)
        z = {
            name: float((self._along(unit, up, down)[0] - centre) / spread)
            for name, (up, down, centre, spread) in self._axes.items()
        }
        return Feel(z["energy"], z["mood"], _strength(z["energy"]), _strength(z["mood"]))
