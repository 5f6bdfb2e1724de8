"""Metrics: every test vector of reference/metrics.md (values from running the reference implementations),
closed forms against brute force, NaN on undefined cases, and point-adjust inflation."""

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from tsgan import metrics as M
from tsgan.errors import ConfigError, InputError


def mask(n, *ranges):
    """0/1 labels of length n with 1 on each inclusive [a, b]."""
    y = np.zeros(n, dtype=int)
    for a, b in ranges:
        y[a : b + 1] = 1
    return y


def approx(*values, abs=1e-6):
    return pytest.approx(values if len(values) > 1 else values[0], abs=abs, nan_ok=True)


def tsbad_oracle(metric, y, s):
    """TSB-AD's threshold-dependent protocol: best over linspace(min, max, 100) with `s > threshold`."""
    return max(metric(y, s > t) for t in np.linspace(s.min(), s.max(), 100))


# --- TV1 (section 10): n=12, tied scores --------------------------------------------------------------------

Y1 = mask(12, (2, 5), (8, 9))
S1 = np.array([0.1, 0.2, 0.9, 0.1, 0.1, 0.1, 0.8, 0.1, 0.1, 0.1, 0.1, 0.7])
PRED1 = S1 > 0.5


def test_segments_are_inclusive_pairs():
    assert M.segments(Y1).tolist() == [[2, 5], [8, 9]]
    assert M.segments([1, 1, 0, 1]).tolist() == [[0, 1], [3, 3]]
    assert M.segments([0, 0]).shape == (0, 2)


def test_tv1_point_and_oracle_f1():
    assert M.point_prf(Y1, PRED1) == approx(1 / 3, 1 / 6, 2 / 9)
    best = M.best_f1(Y1, S1)  # the oracle threshold is the all-positive detector
    assert (best["f1"], best["threshold"], best["recall"]) == approx(2 / 3, 0.1, 1.0)


@pytest.mark.parametrize("k, f1", [(0, 2 / 3), (20, 2 / 3), (25, 2 / 9), (100, 2 / 9)])
def test_tv1_pak(k, f1):
    assert M.pak_f1(Y1, PRED1, k).f1 == approx(f1)  # k=25: 1/4 hits is not > 25 %
    if k == 0:
        assert M.pak_f1(Y1, PRED1, 0) == approx(2 / 3, 2 / 3, 2 / 3)


def test_tv1_composite_range_affiliation_auc():
    assert M.composite_f1(Y1, PRED1) == approx(1 / 3, 1 / 2, 0.4)
    assert M.range_pr(Y1, PRED1) == approx(1 / 3, 0.125, 0.181818)
    assert M.range_pr(Y1, PRED1, alpha=0.2).recall == approx(0.2)
    assert M.range_pr(Y1, PRED1, alpha=0.2, cardinality="reciprocal").f1 == approx(0.25)  # TSB-AD R-F1
    assert M.affiliation_pr(Y1, PRED1) == approx(0.3714286, 0.5696429, 0.4496612)
    detail = M.affiliation_per_event(Y1, PRED1)
    assert detail.precision == approx(0.6428571, 0.1)
    assert detail.recall == approx(0.8392857, 0.3)
    assert (M.auc_roc(Y1, S1), M.auc_pr(Y1, S1)) == approx(0.375, 0.583333)


@pytest.mark.parametrize(
    "scores, expected",
    [
        (S1, {0: (0.3125, 0.541667), 2: (0.401735, 0.613681), 4: (0.547397, 0.715865)}),  # TV1, ties
        (  # TV1b, no ties
            np.array([0.05, 0.3, 0.9, 0.6, 0.7, 0.4, 0.35, 0.1, 0.2, 0.8, 0.15, 0.25]),
            {0: (0.916667, 0.944444), 2: (0.937949, 0.957722), 4: (0.960137, 0.972314)},
        ),
    ],
)
def test_tv1_vus(scores, expected):
    for max_buffer, (roc, pr) in expected.items():
        assert M.vus(Y1, scores, max_buffer) == approx(roc, pr)


# --- Tatbul range P/R (section 2) ---------------------------------------------------------------------------

REAL_SIMPLE = mask(50, (20, 21), (25, 27), (44, 47))
PRED_SIMPLE = mask(50, (19, 20), (23, 30), (37, 37), (49, 49))


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        (dict(), (0.21875, 0.5, 0.304348)),
        (dict(cardinality="reciprocal", precision_bias="flat", bias="front"), (0.21875, 0.555556, 0.313901)),
        (dict(alpha=0.5, precision_bias="flat", bias="back"), (0.21875, 0.555556, 0.313901)),
        (dict(bias="middle"), (0.2625, 0.5, 0.344262)),
    ],
)
def test_tv_simple(kwargs, expected):
    assert M.range_pr(REAL_SIMPLE, PRED_SIMPLE, **kwargs) == approx(*expected)


def test_tv_simple_classical_is_point_wise():
    assert M.point_prf(REAL_SIMPLE, PRED_SIMPLE) == approx(1 / 3, 4 / 9, 0.380952)


REAL2 = mask(20, (2, 9), (15, 16))
PRED2 = mask(20, (1, 3), (6, 7), (9, 12), (16, 16))


@pytest.mark.parametrize(
    "cardinality, bias, alpha, expected",
    [
        ("one", "flat", 0, (0.729167, 0.5625, 0.635081)),
        ("one", "front", 0, (0.725, 0.486111, 0.581995)),
        ("one", "back", 0, (0.733333, 0.638889, 0.682861)),
        ("one", "middle", 0, (0.729167, 0.525, 0.610465)),
        ("reciprocal", "flat", 0, (0.729167, 0.354167, 0.476763)),
        ("reciprocal", "front", 0, (0.725, 0.273148, 0.3968)),
        ("reciprocal", "back", 0, (0.733333, 0.435185, 0.546223)),
        ("reciprocal", "middle", 0, (0.729167, 0.341667, 0.465305)),
        ("reciprocal", "flat", 0.2, (0.729167, 0.483333, 0.581329)),
        ("reciprocal", "flat", 0.5, (0.729167, 0.677083, 0.70216)),
    ],
)
def test_tv2(cardinality, bias, alpha, expected):
    assert M.range_pr(REAL2, PRED2, alpha=alpha, cardinality=cardinality, bias=bias) == approx(*expected)


def test_tv2_classical_is_point_wise():
    assert M.point_prf(REAL2, PRED2) == approx(0.6, 0.6, 0.6)


# --- affiliation (section 3) --------------------------------------------------------------------------------


def test_affiliation_readme_example():
    gt, pred = [0, 0, 0, 1, 0, 0, 0, 1, 1, 1], [0, 0, 0, 0, 1, 0, 0, 0, 1, 0]
    assert M.affiliation_pr(gt, pred)[:2] == approx(0.8181818, 0.8442761)
    d = M.affiliation_per_event(gt, pred)
    assert d.precision == approx([0.6363636, 1.0])
    assert d.recall == approx([0.8181818, 0.8703704])
    assert d.precision_distance == approx([0.5, 0.0])
    assert d.recall_distance == approx([0.5, 1 / 3])


def test_affiliation_repository_unit_test():
    # Events pred (1,3),(6,18),(25,26) and gt (1,8),(16,17),(25,28),(29,31) in Trange (1,31), half-open.
    # The metric is translation invariant, so shift by -1 to binary vectors on [0, 30).
    gt = mask(30, (0, 6), (15, 15), (24, 26), (28, 29))
    pred = mask(30, (0, 1), (5, 16), (24, 24))
    assert M.affiliation_pr(gt, pred)[:2] == approx(0.7278339, 0.6971952)
    d = M.affiliation_per_event(gt, pred)
    assert d.precision == approx([0.5909091, 0.5925926, 1.0, np.nan])
    assert d.recall == approx([0.9415584, 1.0, 0.8472222, 0.0])
    assert d.precision_distance == approx([8 / 8, 8.5 / 6, 0.0, np.nan])
    assert d.recall_distance == approx([2.25 / 7, 0.0, 2 / 3, np.inf])


# --- VUS and TSB-AD get_metrics (section 4.4, TV3) ----------------------------------------------------------

T3 = np.arange(100)
S3 = np.round(
    np.exp(-0.5 * ((T3 - 47) / 4) ** 2) + 0.6 * np.exp(-0.5 * ((T3 - 80) / 2) ** 2) + 0.01 * (T3 % 7) / 7, 6
)
Y3 = mask(100, (40, 49))


@pytest.mark.parametrize(
    "max_buffer, roc, pr", [(0, 0.971667, 0.837862), (4, 0.977684, 0.871196), (10, 0.984532, 0.908789),
                            (20, 0.988033, 0.928423)]
)  # fmt: skip
def test_tv3_vus(max_buffer, roc, pr):
    assert (M.auc_roc(Y3, S3), M.auc_pr(Y3, S3)) == approx(0.971667, 0.837862)
    assert M.vus(Y3, S3, max_buffer) == approx(roc, pr)


@pytest.mark.parametrize(
    "scores, expected, tol",
    [
        (S3, dict(aucpr=0.837862, aucroc=0.971667, vuspr=0.908789, vusroc=0.984532, std=0.749995, pa=1.0,
                  event=1.0, r=0.758364, aff=0.987342), 1e-4),  # std: TSB-AD's 2PR/(P+R+1e-5)
        (np.random.default_rng(0).random(100), dict(aucpr=0.0898, aucroc=0.4222, vuspr=0.1227, vusroc=0.5303,
                                                     std=0.1978, pa=0.5263, event=0.2, r=0.2296, aff=0.6843),
         1e-4),  # the reference rounds to 4 decimals
    ],
)  # fmt: skip
def test_tv3_tsbad_get_metrics(scores, expected, tol):
    volume = M.vus(Y3, scores, 10)
    got = dict(
        aucpr=M.auc_pr(Y3, scores),
        aucroc=M.auc_roc(Y3, scores),
        vuspr=volume.pr,
        vusroc=volume.roc,
        std=M.best_f1(Y3, scores)["f1"],
        pa=tsbad_oracle(lambda y, p: M.pak_f1(y, p, 0).f1, Y3, scores),
        event=tsbad_oracle(lambda y, p: M.composite_f1(y, p).f1, Y3, scores),
        r=tsbad_oracle(lambda y, p: M.range_pr(y, p, alpha=0.2, cardinality="reciprocal").f1, Y3, scores),
        aff=tsbad_oracle(lambda y, p: M.affiliation_pr(y, p).f1, Y3, scores),
    )
    assert got == pytest.approx(expected, abs=tol)


def test_vus_equals_auc_without_buffer_or_ties():
    rng = np.random.default_rng(5)
    y = mask(200, (20, 35), (90, 92), (150, 170))
    s = rng.random(200) + y * 0.4
    assert M.vus(y, s, 0) == approx(M.auc_roc(y, s), M.auc_pr(y, s))


def test_vus_is_the_mean_of_range_auc():
    rng = np.random.default_rng(6)
    y = mask(300, (0, 4), (40, 60), (66, 70), (295, 299))
    s = np.round(rng.random(300), 1)
    curves = np.array([M.range_auc(y, s, ell) for ell in range(9)])
    assert M.vus(y, s, 8) == approx(*curves.mean(axis=0))


def vus_literal(y, s, max_buffer, thre):
    """Section 4.2's pseudo-code, loop for loop (slow): the reference the closed form must match."""
    n, n_pos, seq = len(y), y.sum(), M.segments(y).tolist()

    def merge(h):
        out = []
        for a, b in seq:
            if out and out[-1][1] >= a - h:
                out[-1][1] = b + h
            else:
                out.append([a - h, b + h])
        out[0][0], out[-1][1] = max(out[0][0], 0), min(out[-1][1], n - 1)
        return out

    def extended(ell):
        lab, h = y.astype(float), ell // 2
        for a, b in seq:
            for t in range(b + 1, min(b + h, n - 1) + 1):
                lab[t] += np.sqrt(1 - (t - b) / ell)
            for t in range(max(a - h, 0), a):
                lab[t] += np.sqrt(1 - (a - t) / ell)
        return np.minimum(lab, 1)

    lmax, desc, rocs, prs = merge(max_buffer // 2), np.sort(s)[::-1], [], []
    for ell in range(max_buffer + 1):
        ext, ranges = extended(ell), merge(ell // 2)
        tpr, fpr, prec = [0.0], [0.0], [1.0]
        for i in np.linspace(0, n - 1, thre).astype(int):
            pred = s >= desc[i]
            lab, exist = ext.copy(), 0
            for a, b in ranges:
                lab[a : b + 1] = ext[a : b + 1] * pred[a : b + 1]
                exist += pred[a : b + 1].any()
            for a, b in seq:
                lab[a : b + 1] = 1
            tp = sum(lab[a : b + 1] @ pred[a : b + 1] for a, b in lmax)
            half = (n_pos + sum(lab[a : b + 1].sum() for a, b in lmax)) / 2
            tpr.append(min(tp / half, 1) * exist / len(ranges))
            fpr.append((pred.sum() - tp) / (n - half))
            prec.append(tp / pred.sum())
        tpr, fpr = np.array(tpr + [1.0]), np.array(fpr + [1.0])
        rocs.append(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
        prs.append(np.sum(np.diff(tpr[:-1]) * np.array(prec[1:])))
    return np.mean(rocs), np.mean(prs)


@pytest.mark.parametrize("seed", range(4))
def test_vus_closed_form_matches_pseudo_code(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(40, 90))
    y = np.zeros(n, dtype=int)
    for a in rng.integers(0, n, 4):  # segments touching the ends, close enough to merge, overlapping
        y[a : a + rng.integers(1, 8)] = 1
    y[: seed % 2 * 2] = 1
    s = np.round(rng.random(n), 1)  # many ties
    max_buffer = int(rng.integers(3, 12))
    assert M.vus(y, s, max_buffer, n_thresholds=60) == approx(*vus_literal(y, s, max_buffer, 60), abs=1e-12)


# --- composite F1 (section 5), NAB (section 7), HitRate (section 8) -----------------------------------------


def test_composite_f1_garg_example():
    y = mask(100, (10, 19), (50, 59))
    pred = mask(100, (15, 16), (55, 61))
    assert M.composite_f1(y, pred) == approx(7 / 9, 1.0, 0.875)


NAB_Y = mask(100, (40, 49))
NAB_NULL = {"standard": (0.0, -1.0), "reward_low_FP_rate": (0.0, -1.0), "reward_low_FN_rate": (0.0, -2.0)}


@pytest.mark.parametrize(
    "detections, expected",
    [
        ([42, 80], {"standard": (93.3553, 0.867107), "reward_low_FP_rate": (87.8553, 0.757107),
                    "reward_low_FN_rate": (95.5702, 0.867107)}),
        ([42, 52], {"standard": (95.1029, 0.902058), "reward_low_FP_rate": (91.3505, 0.827009),
                    "reward_low_FN_rate": (96.7353, 0.902058)}),
        ([40, 41, 49], dict.fromkeys(M.NAB_PROFILES, (100.0, 1.0))),
        ([10], NAB_NULL),  # inside the probation period: ignored
        ([], NAB_NULL),
    ],
)  # fmt: skip
def test_nab(detections, expected):
    pred = np.zeros(100, dtype=int)
    pred[detections] = 1
    for profile, (score, raw) in expected.items():
        got = M.nab_score(NAB_Y, pred, profile=profile)
        assert got.score == approx(score, abs=1e-4)  # the reference prints 4 decimals
        assert got.raw == approx(raw)


def test_nab_oracle_is_the_best_fixed_threshold():
    rng = np.random.default_rng(7)
    y = mask(400, (100, 119), (200, 203), (300, 339))
    s = np.round(rng.random(400) + y * rng.random(400), 2)
    best = M.nab_score(y, s)
    brute = max(M.nab_score(y, (s >= t).astype(int)).raw for t in np.unique(s))
    assert best.raw == approx(max(brute, -3.0))  # -3: detecting nothing
    assert M.nab_score(y, (s >= best.threshold).astype(int)).raw == approx(best.raw)


@pytest.mark.parametrize("p", [100, 150])
def test_hit_rate(p):
    # mlnext.anomaly.hit_rate_at_p([6, 2], [6, 5, 1, 4, 3, 2], p=100) = 0.5, channels 1-based there.
    ranking = [6, 5, 1, 4, 3, 2]
    scores = np.zeros(6)
    scores[np.array(ranking) - 1] = np.arange(6, 0, -1)
    assert M.hit_rate(mask(6, (5, 5), (1, 1)), scores, p=p) == approx(0.5)


def test_hit_rate_averages_rows_and_skips_rows_without_truth():
    truth = np.array([[1, 0, 0], [0, 1, 1], [0, 0, 0]])
    scores = np.array([[3.0, 2.0, 1.0], [3.0, 2.0, 1.0], [1.0, 2.0, 3.0]])
    assert M.hit_rate(truth, scores) == approx((1.0 + 0.5) / 2)


# --- closed forms against brute force and sklearn -----------------------------------------------------------


@pytest.mark.parametrize("seed", range(3))
def test_sweeps_match_sklearn_and_brute_force(seed):
    rng = np.random.default_rng(seed)
    y = mask(300, (20, 59), (100, 104), (200, 260))
    s = np.round(rng.random(300) + 0.3 * y, 2)  # ties
    assert M.auc_roc(y, s) == approx(roc_auc_score(y, s), abs=1e-12)
    assert M.auc_pr(y, s) == approx(average_precision_score(y, s), abs=1e-12)
    thresholds = np.unique(s)
    assert M.best_f1(y, s)["f1"] == approx(max(M.point_prf(y, s >= t).f1 for t in thresholds))
    f1s = []
    for k in range(0, 101, 10):
        f1s.append(max(M.pak_f1(y, s >= t, k).f1 for t in thresholds))
        assert M.best_f1(y, M.pak_adjust(y, s, k))["f1"] == approx(f1s[-1])
    assert M.pak_auc(y, s) == approx(np.sum((np.array(f1s[1:]) + f1s[:-1]) / 2 * 10) / 100)


# --- undefined cases, inputs --------------------------------------------------------------------------------


def test_no_positive_labels_give_nan_not_zero():
    y = np.zeros(50, dtype=int)
    s = np.random.default_rng(8).random(50)
    pred = s > 0.7
    nan3 = approx(0.0, np.nan, np.nan)  # precision is defined (0): the predictions are all false
    assert M.point_prf(y, pred) == nan3
    assert M.pak_f1(y, pred, 20) == nan3
    assert M.range_pr(y, pred) == nan3
    assert M.composite_f1(y, pred) == nan3
    assert M.affiliation_pr(y, pred) == approx(np.nan, np.nan, np.nan)
    assert np.isnan(list(M.best_f1(y, s).values())).all()
    for value in (M.auc_roc(y, s), M.auc_pr(y, s), M.pak_auc(y, s), M.pak_auc(y, pred)):
        assert np.isnan(value)
    assert M.vus(y, s, 10) == approx(np.nan, np.nan)
    assert M.range_auc(y, s, 10) == approx(np.nan, np.nan)
    assert np.isnan(M.nab_score(y, s).score)
    assert np.isnan(M.hit_rate([0, 0, 0], [1.0, 2.0, 3.0]))


def test_no_predictions_score_zero():
    y, none = mask(40, (10, 19)), np.zeros(40, dtype=int)
    for metric in (M.point_prf, M.range_pr, M.affiliation_pr, M.composite_f1):
        assert metric(y, none) == approx(0.0, 0.0, 0.0)


def test_bad_inputs_raise():
    y = mask(10, (2, 4))
    with pytest.raises(InputError):
        M.point_prf(y, np.ones(9))
    with pytest.raises(InputError):
        M.auc_roc(y, np.full(10, np.nan))
    with pytest.raises(InputError):
        M.point_prf([0, 2, 1], [0, 1, 1])
    with pytest.raises(ConfigError):
        M.range_pr(y, y, cardinality="two")
    with pytest.raises(ConfigError):
        M.pak_f1(y, y, 120)
    with pytest.raises(ConfigError):
        M.vus(y, np.arange(10.0), -1)
    with pytest.raises(ConfigError):
        M.nab_score(y, y, profile="lenient")


# --- point adjustment inflates random scores (Kim et al.) ---------------------------------------------------


def test_point_adjust_inflates_a_random_score_and_pak_auc_does_not():
    y = mask(20_000, (2000, 2499), (7000, 7399), (12000, 12599), (17000, 17499))
    s = np.random.default_rng(9).random(len(y))
    pred = s >= np.quantile(s, 0.95)
    assert M.point_prf(y, pred).f1 < 0.15
    assert M.pak_f1(y, pred, 0).f1 > 0.75  # every long segment gets a hit, so all its points count
    assert M.pak_auc(y, pred) < 0.2
