"""Published numbers we reproduce: the TRLearner paper's Tables 1 and 9 (MSE), keyed by our names.

Methods are named as our grids name them: a backbone ("maml", "anil", "metasgd", "tnet") followed
by "+regularizer" parts in a fixed order (meta_aug, metamix, mr_maml, trlearner). Columns are
(family, K); the paper's "Sinusoid" is compared with our `sinusoid_w1` and `sinusoid` families alike
(methods.md: only the w = 1 family gives the paper's MAML row). MR-MAML is the paper's own row
"MR-MAML", i.e. MAML + the MR-MAML weight regularizer.
"""

from __future__ import annotations

from metareg.analysis.runs import method_name

BACKBONES = ("maml", "anil", "metasgd", "tnet")
REGULARIZER_ORDER = ("meta_aug", "metamix", "mr_maml", "dropout_bins", "metacrl", "trlearner")
BACKBONE_LABELS = {
    "maml": "MAML",
    "fomaml": "FOMAML",
    "anil": "ANIL",
    "metasgd": "MetaSGD",
    "tnet": "T-Net",
    "protonet": "ProtoNet",
}
REGULARIZER_LABELS = {
    "meta_aug": "Meta-Aug",
    "metamix": "MetaMix",
    "mr_maml": "MR-MAML",
    "dropout_bins": "Dropout-Bins",
    "metacrl": "MetaCRL",
    "trlearner": "TRLearner",
}
# Variants of our grids (not the papers' methods): MetaMix's inputs mixed too, its mixture
# strategies (MetaMix Tables 3, 7, 13, 16), MR-MAML with noise that can act.
VARIANT_LABELS = {
    "metamix_input": "MetaMix (input mixing too)",
    "metamix_qq": "Mixup(Dq, Dq)",
    "metamix_ss": "Mixup(Ds, Ds)",
    "metamix_concat": "Ds ⊕ Dq",
    "metamix_cs": "MetaMix + CS",
    "mr_maml_noisy": "MR-MAML (rho init -5, beta 1e-3)",
    "mr_maml_ref": "MR-MAML (the reference notebook's scales: rho -50, beta 5e-5)",
    "mr_maml_adam": "MR-MAML-W with a persistent Adam",
    "mr_maml_beta0": "MR-MAML-W's encoder without the KL (beta 0)",
    "mr_maml_ours": "MR-MAML (the library's pre-issue-33 defaults)",
    "asr": "adaptive sampler",
    "md": "meta-data by the sampler",
}

# TRLearner paper, Table 1: (sin 5-shot, sin 10-shot, harmonic 5-shot, harmonic 10-shot).
_TABLE1 = {
    "maml+mr_maml": (0.581, 0.104, 0.590, 0.247),
    "maml": (0.593, 0.166, 0.622, 0.256),
    "maml+meta_aug": (0.531, 0.103, 0.596, 0.247),
    "maml+metamix": (0.476, 0.083, 0.576, 0.236),
    "maml+dropout_bins": (0.452, 0.062, 0.561, 0.235),
    "maml+metacrl": (0.440, 0.054, 0.548, 0.211),
    "maml+trlearner": (0.400, 0.052, 0.539, 0.204),
    "anil": (0.541, 0.103, 0.573, 0.205),
    "anil+meta_aug": (0.536, 0.097, 0.561, 0.197),
    "anil+metamix": (0.514, 0.083, 0.554, 0.184),
    "anil+dropout_bins": (0.487, 0.088, 0.541, 0.179),
    "anil+metacrl": (0.468, 0.081, 0.533, 0.153),
    "anil+trlearner": (0.471, 0.075, 0.517, 0.134),
    "metasgd": (0.577, 0.152, 0.612, 0.248),
    "metasgd+meta_aug": (0.524, 0.138, 0.608, 0.231),
    "metasgd+metamix": (0.468, 0.072, 0.595, 0.226),
    "metasgd+dropout_bins": (0.435, 0.040, 0.578, 0.213),
    "metasgd+metacrl": (0.408, 0.038, 0.551, 0.195),
    "metasgd+trlearner": (0.391, 0.024, 0.532, 0.176),
    "tnet": (0.564, 0.111, 0.597, 0.214),
    "tnet+meta_aug": (0.521, 0.105, 0.584, 0.207),
    "tnet+metamix": (0.498, 0.094, 0.576, 0.183),
    "tnet+dropout_bins": (0.470, 0.077, 0.559, 0.174),
    "tnet+metacrl": (0.462, 0.071, 0.554, 0.158),
    "tnet+trlearner": (0.443, 0.066, 0.543, 0.144),
}
# TRLearner paper, Table 9 (sinusoid, regularizers combined): (5-shot, 10-shot). Its
# single-regularizer rows repeat Table 1 (MAML+MetaMix 10-shot is printed 0.085 there,
# 0.083 in Table 1).
_TABLE9 = {
    "maml+metamix+trlearner": (0.398, 0.050),
    "anil+metamix+trlearner": (0.465, 0.070),
    "tnet+metamix+trlearner": (0.440, 0.061),
}


def paper_mse(method: str, family: str, shots: int) -> float | None:
    """The paper's MSE for a method and column, or None where the paper has no such cell."""
    sinusoid = family.startswith("sinusoid")
    if method in _TABLE1 and (sinusoid or family == "harmonic"):
        return _TABLE1[method][(0 if sinusoid else 2) + (0 if shots == 5 else 1)]
    if method in _TABLE9 and sinusoid:
        return _TABLE9[method][0 if shots == 5 else 1]
    return None


def backbone_of(method: str) -> str:
    """ "anil+trlearner" -> "anil"; a backbone variant keeps its suffix ("maml_inner4+trlearner" ->
    "maml_inner4")."""
    return method_name(method).split("+")[0]


def label(method: str) -> str:
    """Human-readable row label: "ANIL+MetaMix+TRLearner", "MAML+TRLearner (top-1 relation)"."""
    parts = method_name(method).split("+")
    out = [BACKBONE_LABELS.get(parts[0], parts[0])]
    for p in parts[1:]:
        if p.startswith("trlearner_top"):
            k = p.removeprefix("trlearner_top")
            out.append(f"TRLearner (top-{k} relation{'s' if k != '1' else ''})")
        else:
            out.append(REGULARIZER_LABELS.get(p, VARIANT_LABELS.get(p, p)))
    return "+".join(out)


# Omniglot, non-mutually-exclusive, accuracy (%): {(paper, ways, shots): {method: (mean, ci95)}}.
# TRLearner Table 2/6 (20-way); MetaMix Table 5 (20-way 1-shot, as the issue quotes it;
# CIs not quoted).
OMNIGLOT = {
    ("TRLearner", 20, 1): {
        "maml": (87.15, 0.61),
        "maml+meta_aug": (89.77, 0.62),
        "maml+metamix": (91.97, 0.51),
        "maml+dropout_bins": (92.89, 0.46),
        "maml+metacrl": (93.00, 0.42),
        "maml+trlearner": (94.23, 0.56),
        "protonet": (89.15, 0.46),
        "protonet+meta_aug": (90.87, 0.52),
        "protonet+metamix": (91.08, 0.51),
        "protonet+dropout_bins": (92.13, 0.48),
        "protonet+metacrl": (93.09, 0.25),
        "protonet+trlearner": (94.56, 0.39),
        "maml+mr_maml": (89.28, 0.59),  # the paper's "MR-MAML" row
    },
    ("TRLearner", 20, 5): {
        "maml": (93.51, 0.25),
        "maml+meta_aug": (94.56, 0.20),
        "maml+metamix": (97.95, 0.17),
        "maml+dropout_bins": (98.03, 0.15),
        "maml+metacrl": (98.39, 0.18),
        "maml+trlearner": (98.74, 0.24),
        "protonet": (94.01, 0.19),
        "protonet+meta_aug": (94.17, 0.25),
        "protonet+metamix": (94.32, 0.29),
        "protonet+dropout_bins": (94.89, 0.23),
        "protonet+metacrl": (95.34, 0.18),
        "protonet+trlearner": (96.76, 0.24),
        "maml+mr_maml": (95.01, 0.23),
    },
    ("MetaMix", 20, 1): {"maml": (87.40, None), "maml+metamix": (91.82, None)},
}


def omniglot_pair(
    source: str, ways: int, shots: int, method: str, base: str
) -> tuple[float, float] | None:
    """A paper's (X, B) Omniglot accuracies (%) for the claim "method improves base", None where
    it lacks either. Variants of our grids (e.g. MetaMix + CS) are not the papers' methods."""
    table = OMNIGLOT.get((source, ways, shots), {})
    x, b = table.get(method_name(method)), table.get(method_name(base))
    return (x[0], b[0]) if x and b else None


# Drug activity on the Novartis pQSAR assays (NOT our ChEMBL assays): (mean R^2, median R^2,
# count > 0.3 of 100). TRLearner Table 3/7, its "Group 5 (average)" column; MetaMix Table 2, the
# mean of its four groups.
DRUG_TRLEARNER_GROUP5 = {
    "maml": (0.341, 0.260, 45),
    "maml+trlearner": (0.378, 0.319, 56),
    "anil": (0.330, 0.284, 48),
    "anil+metamix": (0.327, 0.284, 48),
    "anil+trlearner": (0.364, 0.304, 51),
    "protonet": (0.332, 0.282, 47),
    "protonet+trlearner": (0.393, 0.348, 57),
}
_DRUG_METAMIX_GROUPS = {  # groups 1-4
    "pqsar_max": ((0.390, 0.335, 51), (0.335, 0.280, 44), (0.373, 0.315, 50), (0.362, 0.260, 46)),
    "metasgd": ((0.331, 0.224, 45), (0.249, 0.187, 33), (0.282, 0.226, 40), (0.312, 0.287, 48)),
    "anil": ((0.299, 0.184, 41), (0.226, 0.143, 30), (0.268, 0.199, 37), (0.304, 0.282, 48)),
    "metasgd+metamix": (
        (0.364, 0.296, 49),
        (0.271, 0.230, 45),
        (0.312, 0.267, 48),
        (0.338, 0.319, 51),
    ),
    "anil+metamix": (
        (0.347, 0.292, 49),
        (0.301, 0.282, 47),
        (0.302, 0.258, 45),
        (0.348, 0.303, 51),
    ),
}
DRUG_METAMIX_MEAN = {
    m: tuple(round(sum(g[i] for g in groups) / 4, 3) for i in range(3))
    for m, groups in _DRUG_METAMIX_GROUPS.items()
}

# Pose on the papers' 65 rendered objects (NOT our renders of 50), MSE at (10 shots, 15 shots).
POSE = {
    "TRLearner": {
        "maml": (3.113, 2.496),
        "maml+metamix": (2.429, 1.987),
        "maml+trlearner": (2.334, 1.875),
        "metasgd": (2.811, 2.017),
        "metasgd+metamix": (2.388, 1.952),
        "metasgd+trlearner": (2.357, 1.893),
        "tnet": (2.841, 2.712),
        "tnet+metamix": (2.562, 2.410),
        "tnet+trlearner": (2.476, 2.398),
    },
    "MetaMix": {
        "maml": (3.845, 3.324),
        "maml+metamix": (3.312, 2.856),
        "anil": (5.424, 5.316),
        "anil+metamix": (5.207, 5.185),
        "metasgd": (3.813, 3.509),
        "metasgd+metamix": (3.440, 2.839),
        "tnet": (4.062, 3.632),
        "tnet+metamix": (3.837, 3.557),
    },
}
