"""Fit myFM's Bayesian factorization machine as "SVD++ flipped" (the user,
the movie, the movies the user rated and the users who rated the movie, the
implicit groups weighted |N|^-1/2 and built from the training file alone) on
a train file and score a test file (MovieLens '::' format).

Usage: myfm_fit.py TRAIN TEST RUNS RANK SWEEPS BURN_IN
Prints one JSON object: fit_seconds (one per run), rmse and mae (last run).
"""
import json
import sys
import time

import numpy as np
import scipy.sparse as sps
import myfm
from myfm import RelationBlock


def load(path):
    rows = [line.split("::")[:3] for line in open(path, encoding="latin-1") if line.strip()]
    return [r[0] for r in rows], [r[1] for r in rows], np.array([float(r[2]) for r in rows])


def block(n_own, n_others, pairs):
    """Rows: one per own id; columns: own one-hot, then the others it meets."""
    held = [[] for _ in range(n_own)]
    for a, b in pairs:
        held[a].append(b)
    indptr, indices, data = [0], [], []
    for a in range(n_own):
        cols = sorted(set(held[a]))
        w = 1.0 / np.sqrt(len(cols)) if cols else 0.0
        indices.append(a)
        data.append(1.0)
        indices.extend(n_own + c for c in cols)
        data.extend([w] * len(cols))
        indptr.append(len(indices))
    # One more, empty row for ids the training file lacks.
    indptr.append(len(indices))
    return sps.csr_matrix((data, indices, indptr), shape=(n_own + 1, n_own + n_others))


def main():
    train, test = sys.argv[1], sys.argv[2]
    runs, rank, sweeps, burn_in = (int(a) for a in sys.argv[3:7])
    tu, ti, ty = load(train)
    su, si, sy = load(test)
    users = {u: k for k, u in enumerate(dict.fromkeys(tu))}
    items = {i: k for k, i in enumerate(dict.fromkeys(ti))}
    nu, ni = len(users), len(items)
    u_idx = np.array([users[u] for u in tu])
    i_idx = np.array([items[i] for i in ti])
    ub = block(nu, ni, zip(u_idx, i_idx))
    ib = block(ni, nu, zip(i_idx, u_idx))
    train_rel = [RelationBlock(u_idx, ub), RelationBlock(i_idx, ib)]
    su_idx = np.array([users.get(u, nu) for u in su])
    si_idx = np.array([items.get(i, ni) for i in si])
    test_rel = [RelationBlock(su_idx, ub), RelationBlock(si_idx, ib)]
    fits = []
    for run in range(runs):
        fm = myfm.MyFMRegressor(rank=rank, random_seed=run + 1)
        start = time.perf_counter()
        fm.fit(
            sps.csr_matrix((len(ty), 0)),
            ty,
            X_rel=train_rel,
            # One hyperprior group per kind of feature, as recd has: the
            # user, the movies they rated, the movie, the users who rated it.
            group_shapes=[nu, ni, ni, nu],
            n_iter=sweeps,
            n_kept_samples=sweeps - burn_in,
        )
        fits.append(time.perf_counter() - start)
    pred = np.clip(fm.predict(sps.csr_matrix((len(sy), 0)), X_rel=test_rel), 1.0, 5.0)
    err = pred - sy
    print(json.dumps({
        "fit_seconds": fits,
        "rmse": float(np.sqrt(np.mean(err ** 2))),
        "mae": float(np.mean(np.abs(err))),
    }))


if __name__ == "__main__":
    main()
