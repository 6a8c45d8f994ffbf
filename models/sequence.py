"""The sequence model: a residual dilated 1-D CNN over each transcript's bases, joined with its features.

What it reads (:mod:`coding_potential.features.tokens`): a window of at most ``max_length`` bases,
starting ``upstream`` bases before the longest complete ORF and in its frame, as base tokens. A
transcript longer than the window is cropped around its ORF; one without an ORF is read from its start.

The network:

1. a codon embedding: a convolution of width 9 and stride 3 over the one-hot bases (A/C/G/T; an
   ambiguity code is all zeros), so each position is one codon of the ORF's frame with its
   neighbours;
2. residual blocks of two dilated convolutions (dilations ``1, 2, 4, 8, 16`` by default: a receptive
   field of about 250 codons), batch norm and GELU. Padding is masked to zero after every layer, so a
   transcript's score does not depend on the batch it is scored in;
3. masked max and mean pooling over codons, concatenated with the standardised feature matrix (the
   same ORF, hexamer, Fickett and composition columns as the feature models) through a small dense
   layer, and a two-layer head.

It trains with AdamW and a one-cycle learning rate, class-weighted binary cross-entropy, in batches of
similar lengths (less padding), for ``epochs`` epochs or until ``time_budget_s`` would be passed. The
same code uses a GPU when one is present (``device="auto"``). Seeds fix the weights, the batch order
and the dropout: two fits with the same seed on the same device give the same model.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from coding_potential.features.tokens import AMBIGUOUS, DEFAULT_UPSTREAM, base_tokens

WEIGHTS_FILE, SETTINGS_FILE = "sequence_model.pt", "sequence_model.json"


@dataclass
class SequenceConfig:
    """Settings of the sequence model and its training (all saved with it)."""

    max_length: int = 1500
    upstream: int = DEFAULT_UPSTREAM
    channels: int = 48
    dilations: tuple[int, ...] = (1, 2, 4, 8, 16)
    feature_width: int = 64
    head_width: int = 64
    dropout: float = 0.2
    epochs: int = 4
    batch_size: int = 64
    learning_rate: float = 2e-3
    weight_decay: float = 1e-2
    seed: int = 0
    #: Stop before an epoch that would end past this many seconds of training (None: no limit).
    time_budget_s: float | None = None
    #: ``auto`` (a GPU when torch sees one), ``cpu`` or ``cuda``.
    device: str = "auto"
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.dilations = tuple(int(d) for d in self.dilations)
        if self.max_length < 30 or self.channels < 1 or self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"sequence model settings out of range: {self}")


def choose_device(wanted: str = "auto") -> torch.device:
    """``auto``: CUDA when available, else the CPU."""
    if wanted == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(wanted)


class ResidualBlock(nn.Module):
    """Two dilated convolutions with batch norm, a residual connection, and the padding masked."""

    def __init__(self, channels: int, dilation: int) -> None:
        super().__init__()
        self.first = nn.Conv1d(channels, channels, 3, padding=dilation, dilation=dilation)
        self.second = nn.Conv1d(channels, channels, 3, padding=dilation, dilation=dilation)
        self.first_norm = nn.BatchNorm1d(channels)
        self.second_norm = nn.BatchNorm1d(channels)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = F.gelu(self.first_norm(self.first(x))) * mask
        h = self.second_norm(self.second(h)) * mask
        return F.gelu(x + h) * mask


class CodingCNN(nn.Module):
    """Codon-stride CNN over base tokens plus a dense path for the feature matrix; returns logits."""

    def __init__(self, n_features: int, config: SequenceConfig) -> None:
        super().__init__()
        width = config.channels
        self.embed = nn.Conv1d(4, width, 9, stride=3, padding=3)
        self.blocks = nn.ModuleList(ResidualBlock(width, d) for d in config.dilations)
        self.features = nn.Sequential(nn.Linear(n_features, config.feature_width), nn.GELU())
        self.head = nn.Sequential(
            nn.Linear(2 * width + config.feature_width, config.head_width), nn.GELU(),
            nn.Dropout(config.dropout), nn.Linear(config.head_width, 1),
        )

    def forward(self, tokens: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        valid = (tokens <= AMBIGUOUS).float().unsqueeze(1)  # padding is the only token above
        one_hot = F.one_hot(tokens.long().clamp(max=4), 5)[..., :4].float().transpose(1, 2)
        h = self.embed(one_hot)
        # a codon counts when its three bases are in the window
        mask = (F.avg_pool1d(valid, 3, 3) > 0.999).float()
        width = min(h.shape[2], mask.shape[2])
        h, mask = h[..., :width] * mask[..., :width], mask[..., :width]
        for block in self.blocks:
            h = block(h, mask)
        pooled_max = (h - (1.0 - mask) * 1e4).amax(dim=2) * (mask.amax(dim=2) > 0)
        pooled_mean = h.sum(dim=2) / mask.sum(dim=2).clamp(min=1.0)
        return self.head(torch.cat([pooled_max, pooled_mean, self.features(features)], dim=1)).squeeze(1)


class SequenceModel:
    """A trained :class:`CodingCNN` with its settings and the feature standardisation.

    Parameters
    ----------
    config : SequenceConfig
    feature_mean, feature_scale : numpy.ndarray
        Standardisation of the feature matrix, learned on the training rows.
    network : CodingCNN, optional
        A new, untrained one when absent.
    """

    def __init__(self, config: SequenceConfig, feature_mean: np.ndarray, feature_scale: np.ndarray,
                 network: CodingCNN | None = None) -> None:
        self.config = config
        self.feature_mean = np.asarray(feature_mean, dtype=np.float64)
        self.feature_scale = np.asarray(feature_scale, dtype=np.float64)
        self.device = choose_device(config.device)
        self.network = (network or CodingCNN(self.feature_mean.size, config)).to(self.device)
        self.history: list[dict[str, float]] = []

    # ------------------------------------------------------------------------------------ training
    @classmethod
    def fit(cls, sequences: Sequence[str], orf_start: np.ndarray, features: np.ndarray, labels: np.ndarray,
            config: SequenceConfig | None = None, progress: Callable[[str], None] | None = None,
            after_epoch: Callable[[int, SequenceModel], None] | None = None) -> SequenceModel:
        """Train on ``sequences`` (normalised), their ``orf_start`` column, feature matrix and labels.

        ``after_epoch(epoch, model)`` is called after each epoch with the model in evaluation mode (a tuner
        scores it there and may raise to stop the training, e.g. ``optuna.TrialPruned``).
        """
        config = config or SequenceConfig()
        say = progress or (lambda _message: None)
        torch.manual_seed(config.seed)
        generator = np.random.default_rng(config.seed)
        features = np.asarray(features, dtype=np.float64)
        labels = np.asarray(labels, dtype=np.float32)
        mean, scale = features.mean(axis=0), features.std(axis=0)
        model = cls(config, mean, np.where(scale > 0, scale, 1.0))
        inputs = model._standardise(features)
        network, device = model.network, model.device
        optimizer = torch.optim.AdamW(network.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
        steps = config.epochs * math.ceil(len(labels) / config.batch_size)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.learning_rate, total_steps=steps)
        positive_weight = float((labels == 0).sum() / max((labels == 1).sum(), 1))
        windows = np.minimum([len(s) for s in sequences], config.max_length)
        started = time.monotonic()
        for epoch in range(config.epochs):
            elapsed = time.monotonic() - started
            if epoch and config.time_budget_s and elapsed * (epoch + 1) / epoch > config.time_budget_s:
                say(f"stopping after {epoch} epochs: another would pass the {config.time_budget_s:.0f} s budget")
                break
            network.train()
            total = 0.0
            for rows in model._batches(windows, generator):
                tokens, _ = base_tokens([sequences[i] for i in rows], orf_start[rows], config.max_length,
                                        config.upstream)
                target = torch.from_numpy(labels[rows]).to(device)
                logits = network(torch.from_numpy(tokens).to(device), torch.from_numpy(inputs[rows]).to(device))
                weight = torch.where(target == 1, positive_weight, 1.0)
                loss = F.binary_cross_entropy_with_logits(logits, target, weight=weight)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                schedule.step()
                total += loss.item() * len(rows)
            model.history.append({"epoch": epoch + 1, "loss": total / len(labels),
                                  "seconds": time.monotonic() - started})
            say(f"epoch {epoch + 1}/{config.epochs}: loss {total / len(labels):.4f}, "
                f"{time.monotonic() - started:.0f} s")
            if after_epoch is not None:
                network.eval()
                after_epoch(epoch + 1, model)
        network.eval()
        return model

    def _standardise(self, features: np.ndarray) -> np.ndarray:
        return ((np.asarray(features, dtype=np.float64) - self.feature_mean) / self.feature_scale).astype(np.float32)

    def _batches(self, windows: np.ndarray, generator: np.random.Generator | None) -> list[np.ndarray]:
        """Rows in batches of similar window lengths; shuffled (lengths jittered, batch order) when training."""
        jitter = generator.uniform(0, 200, windows.size) if generator is not None else 0
        order = np.argsort(windows + jitter, kind="stable")
        batches = [order[i:i + self.config.batch_size] for i in range(0, order.size, self.config.batch_size)]
        if generator is not None:
            generator.shuffle(batches)
        return batches

    # ---------------------------------------------------------------------------------- prediction
    @torch.no_grad()
    def predict_proba(self, sequences: Sequence[str], orf_start: np.ndarray, features: np.ndarray) -> np.ndarray:
        """Coding probability per sequence, in input order."""
        self.network.eval()
        out = np.empty(len(sequences))
        if not len(sequences):
            return out
        inputs = self._standardise(features)
        windows = np.minimum([len(s) for s in sequences], self.config.max_length)
        for rows in self._batches(windows, None):
            tokens, _ = base_tokens([sequences[i] for i in rows], np.asarray(orf_start)[rows], self.config.max_length,
                                    self.config.upstream)
            logits = self.network(torch.from_numpy(tokens).to(self.device),
                                  torch.from_numpy(inputs[rows]).to(self.device))
            out[rows] = torch.sigmoid(logits).cpu().numpy()
        return out

    # ---------------------------------------------------------------------------------- persistence
    def save(self, folder: str | Path) -> Path:
        """Write ``sequence_model.pt`` (weights), ``sequence_model.json`` (settings, standardisation) and
        ``inference.npz`` (the numpy form prediction uses, :mod:`models.sequence_inference`)."""
        from .sequence_inference import NumpySequenceModel, compile_sequence_model

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        NumpySequenceModel(compile_sequence_model(self)).save(folder)
        state = {name: tensor.cpu() for name, tensor in self.network.state_dict().items()}
        torch.save(state, folder / WEIGHTS_FILE)
        settings = {"config": asdict(self.config), "feature_mean": self.feature_mean.tolist(),
                    "feature_scale": self.feature_scale.tolist(), "history": self.history}
        (folder / SETTINGS_FILE).write_text(json.dumps(settings, indent=2))
        return folder

    @classmethod
    def load(cls, folder: str | Path, device: str | None = None) -> SequenceModel:
        """Read what :meth:`save` wrote (on ``device``, default the saved setting)."""
        folder = Path(folder)
        settings = json.loads((folder / SETTINGS_FILE).read_text())
        config = SequenceConfig(**{**settings["config"], **({"device": device} if device else {})})
        model = cls(config, np.array(settings["feature_mean"]), np.array(settings["feature_scale"]))
        state = torch.load(folder / WEIGHTS_FILE, map_location=model.device, weights_only=True)
        model.network.load_state_dict(state)
        model.network.eval()
        model.history = settings.get("history", [])
        return model
