"""Pose regression, the other learners of TRLearner Table 4 / MetaMix Table 4: ANIL, MetaSGD and
T-Net, each alone, with MetaMix and with TRLearner, at 10 and 15 shots, 3 seeds, at the CPU budget
of grids/pose.py (64x64 renders, decoder width 16, meta-batch 5, 1000 outer steps). Results go
beside the MAML grid's:

    make sweep GRID=pose_learners   # runs/pose_learners; tables:
    python -m metareg.analysis.tables pose --root results/pose ...
"""

from experiments.grids.pose import pose_grid

EXPERIMENTS = tuple(
    f"{learner}{reg}"
    for learner in ("anil", "metasgd", "tnet")
    for reg in ("", "_metamix", "_trlearner")
)


def get_grid():
    return pose_grid(EXPERIMENTS)
