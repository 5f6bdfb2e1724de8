"""The auto detector, tsgan's default: a portfolio of detectors, chosen per series without any label.

No detector wins everywhere: PCA leads one SMD machine, a windowed kNN SKAB and NAB, a GAN another
machine. So `Auto` fits a portfolio on the training data, cheap members first, within a time budget,
measures every member by self-supervised validation, and uses the one its rule names:

1. The window of the windowed members comes from the data: the median seasonal period of the channels
   (autocorrelation, `estimate_period`), clipped to [8, 100], to 512 values per window and to what the
   data's length allows.
2. Every member is fitted on the same scaled training rows; a member that does not fit the time budget,
   or cannot fit this data, is skipped and the model says why.
3. Each member is calibrated on the clean validation tail as a detector of its own (per-channel score
   normalisation and POT thresholds), so that members are compared, and combined, in the same units.
4. Synthetic anomalies of every kind in `tsgan.inject.VALIDATION_ANOMALIES` (spikes, level shifts,
   trends, variance bursts, flat lines, correlation and contextual breaks) are injected into copies of
   the validation tail, `rounds` times with recorded seeds, and every member is scored on them with
   VUS-PR, as it would detect alone. No label of any scored data is read: the only answers are those
   of the injections.
5. The rule (`combine`): `anchor` (default) uses the `anchors` (the windowed kNN and the windowed PCA)
   and reports the validation of every member beside them; `best` uses the best member on validation;
   `top` averages the normalised channel scores of the `top_k` best. The default is the anchors because,
   measured on eleven real datasets (benchmarks/BENCHMARKS.md), choosing by validation on injected
   anomalies gave a worse member than the kNN more often than a better one, on data it was never tuned
   on too. Under `anchor`, channels that take at most two values in training (switches: a command, a
   valve state, a flag) are judged by the `switch_anchors` (the kNN among each channel's own windows)
   instead: a switch's setting beside the other channels is an operator's choice, not physics, so a
   joint window that has never been seen is no anomaly of it; its own pattern of switching is. Measured
   on the SMAP channels (18 to 25 channels, most of them commands) this lifted VUS-PR from 0.37 to 0.47
   and from 0.30 to 0.46 on 40 other SMAP channels (seen while the rule was found, so a weaker check;
   BENCHMARKS.md).

With `anchor` or `best`, a channel's score is the largest excess of the chosen members over their own
thresholds: a channel is as anomalous as the member that finds it most so, in units of that member's
threshold (the kNN sees shapes, the windowed PCA broken correlations between channels). With `top` it is
the mean of their normalised scores. Auto's point score is the mean excess of the most anomalous quarter
of the channels (`point_share`; members are judged with the same point score), scanned over time scales
(`scan`, `tsgan.scan`: at each point the most unusual of its moving means over half, one, two and four
windows, so that a long moderate anomaly ranks beside a spike; a stream judges its rows unscanned), and
the shared contract does the rest:
normalisation and thresholds, intervals, root-cause channels, reference rows, saving. The saved model
holds every fitted member (tensors under `member<i>.`, calibration under `calibration<i>.`), weights and
validation scores; its JSON header holds the window, each member's parameters, fit seconds or reason
for skipping, and the injection seeds and kinds.
"""

from __future__ import annotations

import copy
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from tsgan.detectors.base import Detector, DetectorConfig
from tsgan.detectors.baselines import estimate_period
from tsgan.errors import ConfigError, InputError, TsganError
from tsgan.inject import VALIDATION_ANOMALIES, inject_validation
from tsgan.metrics import vus
from tsgan.scan import fit_scan, scan_scores, scan_widths

# Members by name: the detector each is, and whether it is a GAN (trained for GAN_EPOCHS, within its
# share of the time budget). List cheap ones first, so that a small budget still leaves them.
GAN_EPOCHS = 5
MEMBERS: dict[str, tuple[str, bool]] = {  # name: (detector, windowed GAN trained under the budget)
    "pca": ("pca", False),
    "zscore": ("zscore", False),
    "knn": ("knn", False),
    "knn-channel": ("knn", False),
    "knn-max": ("knn", False),
    "pca-window": ("pca", False),
    "iforest": ("iforest", False),
    "seasonal": ("seasonal", False),
    "egbad": ("egbad", True),
    "beatgan": ("beatgan", True),
    "ganomaly": ("ganomaly", True),
    "tadgan": ("tadgan", True),
    "usad": ("usad", True),
    "anogan": ("anogan", True),
}
# The anchors first, so that a small budget still fits them (see `AutoConfig.combine`). The GAN members
# are in the catalogue, not in the default: the default rule never uses them, and in the portfolio
# measured with them (egbad, tadgan, ganomaly) they were nine tenths of the fit time (BENCHMARKS.md).
DEFAULT_MEMBERS = ("knn", "pca-window", "knn-channel", "pca", "zscore", "iforest", "seasonal")
DEFAULT_ANCHORS = ("knn", "pca-window")
DEFAULT_SWITCH_ANCHORS = ("knn-channel",)
SWITCH_VALUES = 2  # a channel with at most this many distinct values in training is a switch
WINDOWED = {"knn", "knn-channel", "knn-max", "pca-window", "iforest"}  # baselines that take the data's window
# Members that are a detector with other settings
EXTRA_PARAMS = {"knn-channel": {"per_channel": True}, "knn-max": {"fold": "max"}}
COMBINES = ("anchor", "best", "top")
WINDOW_RANGE = (8, 100)  # the data's window is clipped to this range
DEFAULT_WINDOW = 32  # when no channel has a clear period
MAX_FEATURES = 512  # window x channels at most, unless the window range's floor needs more
VAL_BUFFER = 20  # VUS buffer on validation, the same as tsgan's benchmarks use
CALIBRATION = ("score_center", "score_scale", "thresholds")  # what each member learns on validation
# What auto's scan learns (see `tsgan.scan`), here as a model saved before the scan scores: width 1 alone.
UNSCANNED = {
    "scan_widths": np.ones(1, np.int64),
    "scan_center": np.zeros(1, np.float32),
    "scan_spread": np.ones(1, np.float32),
}


def member_params(name: str, window: int, cfg: AutoConfig, max_seconds: float | None) -> dict:
    """The parameters member `name` is made with for a data window of `window` points: the seed,
    device and point score of the auto detector's `cfg`, so that each member is judged as auto scores."""
    detector, is_gan = MEMBERS[name]
    params: dict = {"seed": cfg.seed, "device": cfg.device, "point_share": cfg.point_share}
    if name in WINDOWED or is_gan:
        params["window"] = window
    if is_gan:
        params |= {"epochs": GAN_EPOCHS, "max_seconds": max_seconds}
    return params | EXTRA_PARAMS.get(name, {})


def data_window(x_train: np.ndarray, longest: int) -> int:
    """The window of the windowed members: the median seasonal period over the channels (those with a
    clear one), clipped to `WINDOW_RANGE`, to `MAX_FEATURES` values per window (the cost of a kNN
    distance or a GAN step grows with it) and to `longest`, the most the data's length allows."""
    periods = [p for p in (estimate_period(column) for column in x_train.T) if p]
    window = int(np.median(periods)) if periods else DEFAULT_WINDOW
    lo, hi = WINDOW_RANGE
    hi = max(lo, min(hi, MAX_FEATURES // x_train.shape[1]))
    return max(2, min(int(np.clip(window, lo, hi)), longest))


def switch_channels(x_train: np.ndarray) -> np.ndarray:
    """Which channels (columns of `x_train`) are switches: at most `SWITCH_VALUES` distinct values."""
    return np.array([len(np.unique(column)) <= SWITCH_VALUES for column in x_train.T], dtype=bool)


def channel_roles(
    n_members: int, chosen: np.ndarray, switch_anchors: list[int], switches: np.ndarray
) -> np.ndarray:
    """Which channels each member judges (members x channels): the `chosen` members every channel, but
    where there are switches and switch anchors, the chosen judge the other channels and the switch
    anchors the switches."""
    roles = np.zeros((n_members, len(switches)), dtype=bool)
    if not switch_anchors or not switches.any():
        roles[chosen] = True
        return roles
    roles[chosen] |= ~switches
    roles[switch_anchors] |= switches
    return roles


def choose(val_vus: np.ndarray, combine: str, top_k: int, anchors: list[int]) -> np.ndarray:
    """Indices of the members to use: the `anchors`' (indices), or by validation VUS-PR (members x rounds)."""
    if combine == "anchor":
        return np.array(anchors)
    order = np.argsort(-val_vus.mean(axis=1), kind="stable")  # ties: the member listed first
    return order[:top_k] if combine == "top" else order[:1]


@dataclass
class AutoConfig(DetectorConfig):
    members: list[str] = field(default_factory=lambda: list(DEFAULT_MEMBERS))  # tried in this order
    window: int | None = None  # points per window of the windowed members; None: from the data's period
    budget_seconds: float = 120.0  # training time of the whole portfolio; members past it are skipped
    # anchor: the anchors, whatever validation says (still measured and reported) | best: the best member
    # on validation | top: the mean of the top_k best on validation
    combine: str = "anchor"
    # Members the anchor rule uses, combined by their largest excess; those not among the fitted members
    # are left out, and with none left the rule uses the first fitted member (the report names them).
    anchors: list[str] = field(default_factory=lambda: list(DEFAULT_ANCHORS))
    # Members the anchor rule uses on switch channels (two values in training) instead of the anchors;
    # with none of them fitted, or [], the anchors judge every channel.
    switch_anchors: list[str] = field(default_factory=lambda: list(DEFAULT_SWITCH_ANCHORS))
    top_k: int = 3
    rounds: int = 3  # injections into the validation tail, each with every anomaly kind once
    injection_size: float = 1.0  # injected anomalies' sizes, times each kind's own (in channel spreads)
    max_flagged: float | None = 0.5  # the default's cap on the share of a series flagged (see base)
    # A flagged point stands 3 spreads above its series' bulk of scores (see base): measured on eleven
    # real datasets it lifted the deployable F1 on SMD, NAB and SKAB and lowered it nowhere.
    series_floor: float | None = 3.0
    # The point score is the mean excess of the most anomalous quarter of the channels (see base): on
    # the development datasets it ranked SMD's many-channel anomalies better and left SKAB, NAB as they were.
    point_share: float | None = 0.25
    # The point score's scan over time scales, in windows of the data (see `tsgan.scan`); [] for none.
    # Measured on eleven real datasets and 41 series never used before, it lifted NAB, SKAB and the
    # fresh series and cost the SMD machines a little (benchmarks/BENCHMARKS.md).
    scan: list[float] = field(default_factory=lambda: [0.5, 1.0, 2.0, 4.0])

    def validate(self) -> None:
        super().validate()
        self.members, self.anchors = _names(self.members), _names(self.anchors)
        self.switch_anchors = _names(self.switch_anchors)
        unknown = [m for m in [*self.members, *self.anchors, *self.switch_anchors] if m not in MEMBERS]
        if unknown or not self.members:
            found = f"unknown auto member {unknown[0]!r}" if unknown else "auto needs at least one member"
            raise ConfigError(f"{found}: expected names from {', '.join(MEMBERS)}")
        if not self.budget_seconds > 0:
            raise ConfigError(
                f"budget_seconds must be > 0, got {self.budget_seconds}; give the seconds the portfolio "
                "may train for (default 120)"
            )
        if self.combine not in COMBINES:
            raise ConfigError(f"unknown combine {self.combine!r}: expected one of {', '.join(COMBINES)}")
        if self.window is not None and self.window < 2:
            raise ConfigError(f"window must be >= 2 or None (from the data), got {self.window}")
        if not self.injection_size > 0:
            raise ConfigError(f"injection_size must be > 0, got {self.injection_size}")
        if not all(0 < scale < np.inf for scale in self.scan):
            raise ConfigError(
                f"scan scales must be finite and > 0 (in windows), got {self.scan}; [] for no scan"
            )
        for name in ("top_k", "rounds"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")


def _names(names: list[str] | str) -> list[str]:
    """Member names: a comma-separated string (as --param gives) split, a list kept as it is (the very
    object, as scikit-learn's clone checks)."""
    if isinstance(names, str):
        return [name.strip() for name in names.split(",") if name.strip()]
    return names


class Auto(Detector):
    """A portfolio of detectors, selected or combined by validation on injected anomalies (see module)."""

    name = "auto"
    config_class = AutoConfig
    # Auto's channel scores are its members' excesses, already in units of each member's validation
    # spread. Where no member moves on a channel, they sit at one value nearly all the time, and the IQR
    # would give the channel a spread near zero and any later movement a score in the millions, which
    # outweighs every other channel in the point score. Measured on eleven datasets this lifted SMD 2-7
    # (0.723 -> 0.752 VUS-PR) and moved no other set (benchmarks/BENCHMARKS.md).
    score_tail_floor = 0.1
    instead = {
        "epochs": f"its GAN members train {GAN_EPOCHS} epochs at most, within --budget-seconds",
        "stride": "each member keeps its own",
        "objective": "each GAN member keeps its own",
        "inversion": "no member inverts a generator",
    }

    def min_length(self) -> int:
        if hasattr(self, "members_"):
            return max(self.members_[i].min_length() for i in self._used())
        return self.config.window or 1

    # --- fitting -------------------------------------------------------------------------------------

    def _fit(self, x_train: np.ndarray, verbose: bool) -> None:
        cfg = self.config
        # The validation tail is as long as the training part times val / (1 - val): windows fit both.
        n_val = int(len(x_train) * cfg.val_fraction / (1 - cfg.val_fraction))
        longest = max(1, min(len(x_train), n_val) // 2)
        self.window_ = cfg.window or data_window(x_train, longest)
        self.scan_widths_ = scan_widths(cfg.scan, self.window_, n_val)
        self.switches_ = switch_channels(x_train)
        started = time.perf_counter()
        self.members_: list[Detector] = []
        self.report_ = {
            "window": self.window_,
            "scan_widths": self.scan_widths_.tolist(),
            "switches": [str(c) for c in np.array(self.channels_)[self.scaler_.active_][self.switches_]],
            "budget_seconds": cfg.budget_seconds,
            "members": [],
        }
        progress = tqdm(cfg.members, desc="fit auto", unit="member", disable=not verbose)
        for i, name in enumerate(progress):
            progress.set_postfix(member=name)
            left = cfg.budget_seconds - (time.perf_counter() - started)
            entry = {"name": name, "detector": MEMBERS[name][0]}
            self.report_["members"].append(entry)
            if left <= 0 and self.members_:  # the first member always fits: a model needs one
                entry["skipped"] = f"the time budget of {cfg.budget_seconds:g} s was spent"
                continue
            if self._only_for_switches(name) and not self.switches_.any():
                entry["skipped"] = "no switch channels in the training data, and it judges only those"
                continue
            gans_left = sum(MEMBERS[m][1] for m in cfg.members[i:])
            # A GAN member may use its share of what is left, leaving some for validation scoring.
            params = member_params(name, self.window_, cfg, max(left, 1.0) / (gans_left + 1))
            tick = time.perf_counter()
            try:
                member = self._new_member(name, params)
                member._fit(x_train[:, self._columns(name)], verbose=False)
            except TsganError as exc:
                entry["skipped"] = str(exc)
                continue
            entry |= {"params": params, "fit_s": round(time.perf_counter() - tick, 3)}
            self.members_.append(member)
        if not self.members_:
            reasons = "; ".join(f"{e['name']}: {e['skipped']}" for e in self.report_["members"])
            raise InputError(f"auto: no member could be fitted ({reasons})")

    def _columns(self, name: str) -> np.ndarray | slice:
        """The active channels member `name` sees: the switches alone for one that judges only them (it
        costs nothing on the others), every channel for the rest."""
        return self.switches_ if self._only_for_switches(name) else slice(None)

    def _member_columns(self, i: int) -> np.ndarray | slice:
        """The active channels fitted member `i` sees (see `_columns`)."""
        return self._columns(self._kept()[i]["name"])

    def _only_for_switches(self, name: str) -> bool:
        """Whether member `name` has no use but judging switch channels (under the default rule)."""
        cfg = self.config
        return cfg.combine == "anchor" and name in cfg.switch_anchors and name not in cfg.anchors

    def _new_member(self, name: str, params: dict) -> Detector:
        from tsgan.detectors import make_detector  # imported here: that module imports this one

        member = make_detector(MEMBERS[name][0], **params)
        member.channels_, member.scaler_ = self.channels_, self.scaler_
        member._train_labels = None
        return member

    def _kept(self) -> list[dict]:
        """Report entries of the fitted members, in the order of `members_`."""
        return [e for e in self.report_["members"] if "skipped" not in e]

    # --- calibration and selection -------------------------------------------------------------------

    def _calibrate(self, x_val: np.ndarray, verbose: bool) -> np.ndarray:
        """On fit: every member calibrated on these normal rows as a detector of its own (score
        normalisation and thresholds), then the selection on injected anomalies. On a series'
        reference rows: the members in use recalibrated as copies, so that the fitted detector this
        copy came from keeps its own."""
        selecting = not hasattr(self, "weights_")
        if not selecting:
            self.members_ = [copy.copy(m) for m in self.members_]
        raw = {}
        for i in range(len(self.members_)) if selecting else self._used():
            member, x = self.members_[i], x_val[:, self._member_columns(i)]
            raw[i] = member._calibrate(x, False) if selecting else member._channel_scores(x, False)
            member._calibrate_on_scores(raw[i])
        if selecting:
            self._select(x_val, raw, verbose)
        return self._combine((i, raw[i]) for i in self._used())

    def _calibrate_on_scores(self, raw_val: np.ndarray) -> None:
        """The shared normalisation and thresholds, then the scan's (on the same normal rows' points)."""
        super()._calibrate_on_scores(raw_val)
        self.scan_center_, self.scan_spread_ = fit_scan(self._row_points(raw_val), self.scan_widths_)

    def _series_point(self, excess: np.ndarray) -> np.ndarray:
        return scan_scores(self._point(excess), self.scan_widths_, self.scan_center_, self.scan_spread_)

    def _select(self, x_val: np.ndarray, raw_val: dict[int, np.ndarray], verbose: bool) -> None:
        """Validation VUS-PR of every member on `rounds` injections into x_val, and the weights. Each
        member is judged as it would detect alone: its point score comes from its excesses over its own
        per-channel thresholds, as auto's own does (`point_share`), scanned as auto's are, with the
        scan matched on the member's own scores of the clean rows (`raw_val`)."""
        cfg = self.config
        scans = [
            fit_scan(member._row_points(raw_val[i]), self.scan_widths_)
            for i, member in enumerate(self.members_)
        ]
        seeds = [cfg.seed * 1000 + r for r in range(cfg.rounds)]
        self.val_vus_ = np.zeros((len(self.members_), len(seeds)), dtype=np.float32)
        injections = []
        for r, seed in enumerate(tqdm(seeds, desc="validate auto", unit="round", disable=not verbose)):
            x_injected, labels, _, records = inject_validation(x_val, seed, size=cfg.injection_size)
            # VUS widens each anomaly by up to `buffer` rows; on a short tail a wide buffer would merge
            # the injected anomalies into one region that every member finds.
            buffer = max(1, min(VAL_BUFFER, len(x_val) // (4 * len(records))))
            injections.append({"seed": seed, "kinds": [a["kind"] for a in records]})
            for i, member in enumerate(self.members_):
                raw = member._channel_scores(x_injected[:, self._member_columns(i)], verbose=False)
                point = scan_scores(member._row_points(raw), self.scan_widths_, *scans[i])
                self.val_vus_[i, r] = vus(labels, point, buffer).pr
        kept = [e["name"] for e in self._kept()]
        anchors = [i for i, name in enumerate(kept) if name in cfg.anchors] or [0]
        chosen = choose(self.val_vus_, cfg.combine, cfg.top_k, anchors)
        switch_anchors = [
            i for i, name in enumerate(kept) if name in cfg.switch_anchors and cfg.combine == "anchor"
        ]
        self.channel_roles_ = channel_roles(len(kept), chosen, switch_anchors, self.switches_)
        mean = self.val_vus_.mean(axis=1)
        used = self.channel_roles_.any(axis=1)
        # A mean shares the weight out; the largest excess takes each used member whole.
        self.weights_ = np.where(used, 1.0 / used.sum() if cfg.combine == "top" else 1.0, 0.0).astype(
            np.float32
        )
        for entry, score, weight in zip(self._kept(), mean, self.weights_, strict=True):
            entry |= {"val_vus_pr": round(float(score), 4), "weight": round(float(weight), 4)}
        self.report_ |= {
            "combine": cfg.combine,
            "anchors": [kept[i] for i in anchors] if cfg.combine == "anchor" else [],
            "switch_anchors": [kept[i] for i in switch_anchors if self.channel_roles_[i].any()],
            "injections": injections,
            "kinds": list(VALIDATION_ANOMALIES),
        }

    # --- scoring -------------------------------------------------------------------------------------

    def _used(self) -> list[int]:
        """Indices of the members with weight (all of them before selection)."""
        if not hasattr(self, "weights_"):
            return list(range(len(self.members_)))
        return [i for i, w in enumerate(self.weights_) if w > 0]

    def _combine(self, raw: Iterable[tuple[int, np.ndarray]]) -> np.ndarray:
        """The used members' channel scores in one (`raw`: (member index, raw scores) pairs, taken one at
        a time so that a long series holds one member's scores beside the running result): with `top`
        the weighted mean of their normalised scores, otherwise the largest of their excesses over
        their thresholds (with one member, its normalised scores shifted by its thresholds: the same
        ranking and flags)."""
        mean = self.config.combine == "top"
        total = None
        for i, scores in raw:
            member = self.members_[i]
            normalised = member._normalise(scores)
            del scores  # the member's raw scores are no longer needed
            part = self.weights_[i] * normalised if mean else member._excess(normalised)
            roles = self.channel_roles_[i]
            if not roles.all():  # channels another member judges: -inf, so that they never win the max
                judged = np.full((*part.shape[:-1], len(roles)), -np.inf, dtype=np.float32)
                # A member that sees only the channels it judges (`_columns`) has scores for those alone.
                sees_all = isinstance(self._member_columns(i), slice)
                judged[..., roles] = part[..., roles] if sees_all else part
                part = judged
            if total is None:
                total = part
            else:
                (np.add if mean else np.maximum)(total, part, out=total)
        return np.asarray(total, dtype=np.float32)

    def _channel_scores(self, x: np.ndarray, verbose: bool) -> np.ndarray:
        return self._combine(
            (i, self.members_[i]._channel_scores(x[:, self._member_columns(i)], verbose))
            for i in self._used()
        )

    def _block_scores(self, blocks: np.ndarray) -> np.ndarray:
        return self._combine(
            (i, self.members_[i]._block_scores(blocks[..., self._member_columns(i)])) for i in self._used()
        )

    # --- saving --------------------------------------------------------------------------------------

    def _info(self) -> dict:
        return self.report_

    def _load_info(self, info: dict) -> None:
        self.report_ = info
        self.window_ = int(info["window"])

    def _state(self) -> dict[str, torch.Tensor]:
        state = {"weights": torch.from_numpy(self.weights_), "val_vus": torch.from_numpy(self.val_vus_)}
        state["channel_roles"] = torch.from_numpy(self.channel_roles_.astype(np.uint8))
        state |= {name: torch.from_numpy(getattr(self, f"{name}_")) for name in UNSCANNED}
        for i, member in enumerate(self.members_):
            state |= {f"member{i}.{k}": v for k, v in member._state().items()}
            for name in CALIBRATION:
                state[f"calibration{i}.{name}"] = torch.from_numpy(getattr(member, f"{name}_"))
        return state

    def _load_state(self, state: dict[str, torch.Tensor]) -> None:
        self.weights_ = state["weights"].numpy()
        self.val_vus_ = state["val_vus"].numpy()
        active = np.array(self.channels_)[self.scaler_.active_]
        self.switches_ = np.isin(active, self.report_.get("switches", []))
        if "channel_roles" in state:
            self.channel_roles_ = state["channel_roles"].numpy().astype(bool)
        else:  # saved before switches (none in its report): each used member judges every channel
            self.channel_roles_ = channel_roles(
                len(self.weights_), np.flatnonzero(self.weights_), [], self.switches_
            )
        for name, unscanned in UNSCANNED.items():
            setattr(self, f"{name}_", state[name].numpy() if name in state else unscanned)
        self.members_ = []
        for i, entry in enumerate(self._kept()):
            prefix = f"member{i}."
            member = self._new_member(entry["name"], entry["params"])
            member._load_state({k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)})
            for name in CALIBRATION:
                setattr(member, f"{name}_", state[f"calibration{i}.{name}"].numpy())
            self.members_.append(member)
        if len(self.members_) != len(self.weights_):
            raise InputError(f"{len(self.members_)} members for {len(self.weights_)} weights; file damaged")

    def describe(self) -> str:
        return describe(self.report_)

    def kept(self) -> list[str]:
        """Names of the members the scores come from."""
        return [e["name"] for e in self._kept() if e["weight"] > 0]


def describe(report: dict) -> str:
    """The members of a fitted auto detector, one line each: what `tsgan fit` prints."""
    anchors = f" ({', '.join(report['anchors'])})" if report.get("anchors") else ""
    lines = [
        f"auto: window {report['window']}, combine {report.get('combine', 'best')}{anchors}, "
        f"budget {report['budget_seconds']:g} s; validation on injected {', '.join(report.get('kinds', []))}"
    ]
    if len(report.get("scan_widths", [])) > 1:
        lines[0] += f"; point scores scanned over {', '.join(map(str, report['scan_widths']))} points"
    if report.get("switch_anchors"):
        names = report["switches"]
        shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
        judges = ", ".join(report["switch_anchors"])
        lines.append(f"  switch channels (two values in training), judged by {judges}: {shown}")
    for e in report["members"]:
        if "skipped" in e:
            lines.append(f"  {e['name']:<11} skipped: {e['skipped']}")
        else:
            kept = "kept" if e.get("weight", 0) > 0 else "    "
            lines.append(
                f"  {e['name']:<11} {kept} weight {e.get('weight', 0):.2f}  validation VUS-PR "
                f"{e.get('val_vus_pr', float('nan')):.3f}  fit {e['fit_s']:.1f} s"
            )
    return "\n".join(lines)


def describe_choices(detectors: list[Auto]) -> str:
    """How often each member was kept over several fits (one per training series of a dataset)."""
    counts = Counter(name for det in detectors for name in det.kept())
    tally = ", ".join(f"{name} {n}" for name, n in counts.most_common())
    return f"auto kept, over {len(detectors)} fits: {tally}"
