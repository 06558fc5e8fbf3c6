"""Reference outputs of the ORIGINAL musicnn TensorFlow models, for testing our PyTorch/ONNX port.

This is a one-off script. It is NOT part of the package and is not run by CI: it needs TensorFlow and
the musicnn 0.1.0 wheel (code + TF1 checkpoints), which live in a throwaway virtualenv outside the repo.
Its output, ``tests/fixtures/musicnn_tf_reference.npz``, is committed; the port's tests compare to it.

What it does
------------
For every signal in ``tests/signals.py::MUSICNN_REFERENCE_SIGNALS`` (3 s, 48000 samples, 16 kHz):

1. log-mel input, float32, shape (188, 96) = (time, mel)::

       S = |librosa.stft(y, n_fft=512, hop_length=256, window='hann', center=True, pad_mode='reflect')|**2
       mel = librosa.filters.mel(sr=16000, n_fft=512, n_mels=96) @ S  # slaney scale + slaney norm
       logmel = log10(10000 * mel + 1).T

   188 frames (musicnn itself uses 187) because the port works on whole 48000-sample patches; the
   musicnn graph accepts any number of frames.
2. runs ``MTT_musicnn`` and ``MSD_musicnn`` (each in a fresh graph and session, inference mode) on
   the batch of all signals and stores ``sigmoid(logits)`` (50 tags), ``penultimate`` (200-d output of
   the last ``bn_dense`` batch norm), ``mean_pool`` and ``max_pool`` (753-d each).
3. prints the top-5 tags per signal and model, for a human sanity check.

Fixture keys: ``signal_names``, ``logmel`` (N,188,96), ``{mtt,msd}_tags`` (N,50),
``{mtt,msd}_penultimate`` (N,200), ``{mtt,msd}_mean_pool`` / ``{mtt,msd}_max_pool`` (N,753), and
``versions`` (tensorflow, tf-keras, librosa, numpy versions and the musicnn wheel's sha256).

Quirks of running the 2019 musicnn code on current TensorFlow (handled below)
-----------------------------------------------------------------------------
* ``tf.compat.v1.layers`` needs Keras 2: install ``tf-keras`` (same minor as TF) and set
  ``TF_USE_LEGACY_KERAS=1`` before TensorFlow is imported.
* graph mode: ``tf.compat.v1.disable_eager_execution()``.
* ``is_training`` must be the Python bool ``False``. musicnn's own extractor feeds a bool placeholder,
  which under tf-keras makes BatchNorm use batch statistics (training mode): constant outputs.
* musicnn's extractor wraps ``saver.restore`` in a bare ``except`` and silently runs with random
  weights if it fails; here restore errors propagate and every restored variable is checked against
  the checkpoint.
* the checkpoints' ``checkpoint`` files point to the author's machine, so the checkpoint prefix
  ``<wheel>/musicnn/<MODEL>/`` (empty file prefix inside the directory) is used directly.

How to run (from the repo root)
-------------------------------
::

    python3 -m venv /tmp/tfref
    /tmp/tfref/bin/pip install tensorflow-cpu tf-keras librosa numpy
    /tmp/tfref/bin/pip download --no-deps musicnn==0.1.0 -d /tmp/tfref/dl   # do NOT pip install it
    python3 -m zipfile -e /tmp/tfref/dl/musicnn-0.1.0-py3-none-any.whl /tmp/tfref/dl/wheel
    /tmp/tfref/bin/python export_onnx/reference/musicnn_tf_reference.py \\
        --wheel /tmp/tfref/dl/musicnn-0.1.0-py3-none-any.whl --wheel-dir /tmp/tfref/dl/wheel \\
        --dump-variables /tmp/tfref/variables.txt

Versions used for the committed fixture: see its ``versions`` entry.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import warnings
from importlib import metadata
from pathlib import Path

# Must be set before TensorFlow is imported: tf.compat.v1.layers needs Keras 2 (the tf-keras package).
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import librosa  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

# musicnn's tf.compat.v1.layers calls each warn that they are deprecated: known, and noise here.
warnings.filterwarnings("ignore", message=r"`tf\.layers\.", category=UserWarning)

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))
from signals import MUSICNN_REFERENCE_SIGNALS  # noqa: E402

SR = 16_000
N_FFT = 512
HOP = 256
N_MELS = 96
N_SAMPLES = 48_000
N_FRAMES = 1 + N_SAMPLES // HOP  # 188 with center=True
MODELS = {"mtt": "MTT_musicnn", "msd": "MSD_musicnn"}
NUM_CLASSES = 50


def logmel(y: np.ndarray) -> np.ndarray:
    """The port's log-mel input: float32 (time, mel) = (188, 96) for a 48000-sample float32 signal."""
    y = np.asarray(y, dtype=np.float32)
    stft = librosa.stft(y, n_fft=N_FFT, hop_length=HOP, window="hann", center=True, pad_mode="reflect")
    spec = np.abs(stft) ** 2
    mel = librosa.filters.mel(sr=SR, n_fft=N_FFT, n_mels=N_MELS) @ spec
    return np.log10(10000.0 * mel.astype(np.float32) + 1.0).astype(np.float32).T


def checkpoint_variables(prefix: str) -> dict[str, list[int]]:
    """Name -> shape of the checkpoint's model variables (Adam slots and beta powers left out).

    ``tf.train.list_variables`` would need the checkpoint directory, whose ``checkpoint`` file points to
    the musicnn author's machine; the reader it uses internally is given the prefix directly instead.
    """
    shapes = tf.compat.v1.train.NewCheckpointReader(prefix).get_variable_to_shape_map()
    return {
        name: shape
        for name, shape in sorted(shapes.items())
        if "Adam" not in name and name not in ("beta1_power", "beta2_power")
    }


def run_model(models, model: str, batch: np.ndarray, prefix: str) -> dict[str, np.ndarray]:
    """Build ``model`` in a fresh graph, restore its checkpoint (verified), and run it on ``batch``."""
    graph = tf.Graph()
    with graph.as_default():
        with tf.name_scope("model"):  # as musicnn's extractor does; variable names are not affected
            x = tf.compat.v1.placeholder(tf.float32, [None, N_FRAMES, N_MELS])
            # is_training as a Python bool: a bool placeholder puts BatchNorm in training mode under tf-keras.
            outs = models.define_model(x, False, model, NUM_CLASSES)
            logits, mean_pool, max_pool, penultimate = outs[0], outs[6], outs[7], outs[8]
            tags = tf.nn.sigmoid(logits)
        variables = tf.compat.v1.global_variables()
        saver = tf.compat.v1.train.Saver()

    with tf.compat.v1.Session(graph=graph) as sess:
        sess.run(tf.compat.v1.variables_initializer(variables))
        saver.restore(sess, prefix)  # no try/except: a failed restore must not go unnoticed

        # Every graph variable must hold exactly the checkpoint's value (and all model weights be used).
        reader = tf.compat.v1.train.NewCheckpointReader(prefix)
        graph_names = set()
        for var, value in zip(variables, sess.run(variables), strict=True):
            name = var.op.name
            graph_names.add(name)
            if not np.array_equal(value, reader.get_tensor(name)):
                raise RuntimeError(f"{model}: variable {name} does not match the checkpoint after restore")
        unused = set(checkpoint_variables(prefix)) - graph_names
        if unused:
            raise RuntimeError(f"{model}: checkpoint variables not in the graph: {sorted(unused)}")

        fetched = sess.run(
            {"tags": tags, "penultimate": penultimate, "mean_pool": mean_pool, "max_pool": max_pool},
            feed_dict={x: batch},
        )

    for key, value in fetched.items():
        if not np.all(np.isfinite(value)):
            raise RuntimeError(f"{model}: non-finite {key}")
        if len(batch) > 1 and np.allclose(value, value[:1]):
            raise RuntimeError(f"{model}: {key} is the same for every signal (BatchNorm in training mode?)")
    return {key: np.asarray(value, dtype=np.float32) for key, value in fetched.items()}


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--wheel",
        type=Path,
        default=Path("/tmp/tfref/dl/musicnn-0.1.0-py3-none-any.whl"),
        help="the musicnn 0.1.0 wheel (only hashed, for the record)",
    )
    parser.add_argument(
        "--wheel-dir",
        type=Path,
        default=Path("/tmp/tfref/dl/wheel"),
        help="the unzipped wheel: holds musicnn/models.py and musicnn/<MODEL>/ checkpoints",
    )
    parser.add_argument("--out", type=Path, default=REPO / "tests" / "fixtures" / "musicnn_tf_reference.npz")
    parser.add_argument(
        "--dump-variables",
        type=Path,
        default=None,
        help="also write the checkpoints' variable names and shapes to this text file",
    )
    args = parser.parse_args()

    sys.path.insert(0, str(args.wheel_dir))
    from musicnn import configuration, models  # the wheel's own code, unmodified

    labels = {"mtt": configuration.MTT_LABELS, "msd": configuration.MSD_LABELS}
    prefixes = {key: str(args.wheel_dir / "musicnn" / model) + "/" for key, model in MODELS.items()}

    if args.dump_variables:
        lines = []
        for key, model in MODELS.items():
            variables = checkpoint_variables(prefixes[key])
            lines.append(f"# {model} ({len(variables)} variables, Adam slots and beta powers excluded)")
            lines += [f"{name}\t{shape}" for name, shape in variables.items()]
            lines.append("")
        args.dump_variables.write_text("\n".join(lines))
        print(f"wrote {args.dump_variables}")

    tf.compat.v1.disable_eager_execution()

    names = list(MUSICNN_REFERENCE_SIGNALS)
    waves = [np.asarray(fn(), dtype=np.float32) for fn in MUSICNN_REFERENCE_SIGNALS.values()]
    for name, y in zip(names, waves, strict=True):
        if y.shape != (N_SAMPLES,):
            raise ValueError(f"signal {name} has shape {y.shape}, expected ({N_SAMPLES},)")
    batch = np.stack([logmel(y) for y in waves])
    assert batch.shape == (len(names), N_FRAMES, N_MELS) and batch.dtype == np.float32

    fixture: dict[str, np.ndarray] = {"signal_names": np.array(names), "logmel": batch}
    for key, model in MODELS.items():
        for out_name, value in run_model(models, model, batch, prefixes[key]).items():
            fixture[f"{key}_{out_name}"] = value

    versions = ", ".join(
        [
            f"tensorflow {tf.__version__}",
            f"tf-keras {metadata.version('tf-keras')}",
            f"librosa {librosa.__version__}",
            f"numpy {np.__version__}",
            f"musicnn-0.1.0-py3-none-any.whl sha256 {sha256(args.wheel)}",
        ]
    )
    fixture["versions"] = np.array(versions)

    for i, name in enumerate(names):
        print(name)
        for key, model in MODELS.items():
            probs = fixture[f"{key}_tags"][i]
            top = np.argsort(-probs)[:5]
            print(f"  {model:12s} " + ", ".join(f"{labels[key][j]} {probs[j]:.3f}" for j in top))

    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **fixture)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes)")
    print(versions)


if __name__ == "__main__":
    main()
