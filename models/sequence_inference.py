"""The sequence model as plain arrays: prediction with numpy (and scipy's erf) alone, no torch.

Training needs PyTorch; prediction does not. :func:`compile_sequence_model` turns a trained
:class:`~models.sequence.SequenceModel` into arrays (``sequence/inference.npz`` in a bundle), with each
batch norm folded into the convolution before it, and :class:`NumpySequenceModel` runs the same
forward pass: the stride-3 codon embedding, the dilated residual blocks with the padding masked, masked
max and mean pooling, the feature path and the head, exact GELU. It gives the network's probabilities
to within float32 rounding (the tests hold it to 1e-5), reads the same windows
(:func:`coding_potential.features.tokens.base_tokens`), and is what every prediction uses: the CLI, the
pipeline and the serving environment, which has no torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from coding_potential.features.tokens import AMBIGUOUS, base_tokens

INFERENCE_FILE = "inference.npz"
#: Rows scored at once (bounds the (rows, channels, codons, 9) window array).
BATCH_ROWS = 64


def compile_sequence_model(model: Any) -> dict[str, np.ndarray]:
    """Arrays reproducing ``model.predict_proba`` (a :class:`~models.sequence.SequenceModel`)."""
    network = model.network
    state = {name: tensor.detach().cpu().double().numpy() for name, tensor in network.state_dict().items()}
    arrays: dict[str, np.ndarray] = {
        "max_length": np.array(model.config.max_length), "upstream": np.array(model.config.upstream),
        "dilations": np.array(model.config.dilations, dtype=np.int64),
        "feature_mean": model.feature_mean, "feature_scale": model.feature_scale,
        "embed_w": state["embed.weight"], "embed_b": state["embed.bias"],
        "features_w": state["features.0.weight"], "features_b": state["features.0.bias"],
        "head1_w": state["head.0.weight"], "head1_b": state["head.0.bias"],
        "head2_w": state["head.3.weight"], "head2_b": state["head.3.bias"],
    }
    for i, block in enumerate(network.blocks):
        for which in ("first", "second"):
            norm = getattr(block, f"{which}_norm")
            scale = state[f"blocks.{i}.{which}_norm.weight"] / np.sqrt(
                state[f"blocks.{i}.{which}_norm.running_var"] + norm.eps)
            arrays[f"block{i}_{which}_w"] = state[f"blocks.{i}.{which}.weight"] * scale[:, None, None]
            arrays[f"block{i}_{which}_b"] = (state[f"blocks.{i}.{which}.bias"]
                                             - state[f"blocks.{i}.{which}_norm.running_mean"]) * scale \
                + state[f"blocks.{i}.{which}_norm.bias"]
    return {name: np.asarray(value) for name, value in arrays.items()}


def _gelu(x: np.ndarray) -> np.ndarray:
    from scipy.special import erf

    return 0.5 * x * (1.0 + erf(x / np.float32(np.sqrt(2.0))))


class NumpySequenceModel:
    """Coding probability from compiled sequence-model arrays."""

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self.arrays = arrays
        # float32, as the network computes: half the memory traffic of float64, the same results to 1e-6
        self.weights = {name: value.astype(np.float32) for name, value in arrays.items()
                        if name.endswith(("_w", "_b"))}
        self.max_length = int(arrays["max_length"])
        self.upstream = int(arrays["upstream"])
        self.dilations = [int(d) for d in arrays["dilations"]]

    @classmethod
    def load(cls, folder: str | Path) -> NumpySequenceModel:
        """Read ``folder/inference.npz``."""
        with np.load(Path(folder) / INFERENCE_FILE, allow_pickle=False) as data:
            return cls({key: data[key] for key in data.files})

    def save(self, folder: str | Path) -> Path:
        """Write ``folder/inference.npz``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / INFERENCE_FILE, "wb") as handle:
            np.savez(handle, **self.arrays)
        return folder

    def predict_proba(self, sequences: Sequence[str], orf_start: np.ndarray, features: np.ndarray) -> np.ndarray:
        """Coding probability per sequence, in input order (``features``: the model's feature matrix)."""
        out = np.empty(len(sequences))
        a = self.arrays
        inputs = (np.asarray(features, dtype=np.float64) - a["feature_mean"]) / a["feature_scale"]
        windows = np.minimum([len(s) for s in sequences], self.max_length)
        order = np.argsort(windows, kind="stable")  # similar lengths together: less padding
        for start in range(0, order.size, BATCH_ROWS):
            rows = order[start:start + BATCH_ROWS]
            tokens, _ = base_tokens([sequences[i] for i in rows], np.asarray(orf_start)[rows], self.max_length,
                                    self.upstream)
            out[rows] = self._forward(tokens, inputs[rows])
        return out

    def _forward(self, tokens: np.ndarray, inputs: np.ndarray) -> np.ndarray:
        a = self.weights
        n, length = tokens.shape
        one_hot = (tokens[:, None, :] == np.arange(4)[None, :, None]).astype(np.float32)
        h = _strided_conv(one_hot, a["embed_w"], a["embed_b"], stride=3, padding=3)
        valid = tokens <= AMBIGUOUS
        codons = length // 3
        mask = valid[:, : 3 * codons].reshape(n, codons, 3).all(axis=2).astype(np.float32)[:, None, :]
        width = min(h.shape[2], mask.shape[2])
        h, mask = h[..., :width] * mask[..., :width], mask[..., :width]
        for i, dilation in enumerate(self.dilations):
            inner = _gelu(_dilated_conv(h, a[f"block{i}_first_w"], a[f"block{i}_first_b"], dilation)) * mask
            inner = _dilated_conv(inner, a[f"block{i}_second_w"], a[f"block{i}_second_b"], dilation) * mask
            h = _gelu(h + inner) * mask
        pooled_max = (h - (1.0 - mask) * 1e4).max(axis=2, initial=-np.inf) * (mask.max(axis=2) > 0)
        pooled_mean = h.sum(axis=2) / np.maximum(mask.sum(axis=2), 1.0)
        dense = _gelu(inputs.astype(np.float32) @ a["features_w"].T + a["features_b"])
        joined = np.concatenate([pooled_max, pooled_mean, dense], axis=1)
        logits = _gelu(joined @ a["head1_w"].T + a["head1_b"]) @ a["head2_w"].T + a["head2_b"]
        return 1.0 / (1.0 + np.exp(-logits[:, 0].astype(np.float64)))


def _strided_conv(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, stride: int, padding: int) -> np.ndarray:
    """``torch.nn.functional.conv1d`` with a stride: x (n, c, l), weight (d, c, k) -> (n, d, t)."""
    kernel = weight.shape[2]
    padded = np.pad(x, ((0, 0), (0, 0), (padding, padding)))
    steps = (padded.shape[2] - kernel) // stride + 1
    taps = [padded[:, :, k:k + stride * (steps - 1) + 1:stride] for k in range(kernel)]
    return _taps_product(taps, weight, bias)


def _dilated_conv(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, dilation: int) -> np.ndarray:
    """A width-3 convolution with ``dilation`` and as much padding (the length is kept)."""
    padded = np.pad(x, ((0, 0), (0, 0), (dilation, dilation)))
    steps = x.shape[2]
    return _taps_product([padded[:, :, k * dilation:k * dilation + steps] for k in range(3)], weight, bias)


def _taps_product(taps: list[np.ndarray], weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """One matrix product over the stacked taps: (d, k*c) @ (k*c, n*t), a single BLAS call."""
    n, channels, steps = taps[0].shape
    stacked = np.concatenate(taps, axis=1).transpose(1, 0, 2).reshape(len(taps) * channels, n * steps)
    flat = weight.transpose(0, 2, 1).reshape(weight.shape[0], -1)  # (d, k*c), tap-major like the rows
    product = (flat @ stacked).reshape(weight.shape[0], n, steps).transpose(1, 0, 2)
    return product + bias[None, :, None]
