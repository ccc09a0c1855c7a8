"""Fit Surprise's SVD on a train file and score a test file (MovieLens '::'
or ML-100K's tab-separated format).

Usage: surprise_fit.py TRAIN TEST RUNS [n_factors n_epochs lr_all reg_all]
Prints one JSON object: fit_seconds (one per run), rmse and mae (last run).
"""
import json
import sys
import time

from surprise import SVD, Dataset, Reader, accuracy


def main():
    train, test, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    params = {}
    if len(sys.argv) > 4:
        f, e, lr, reg = sys.argv[4:8]
        params = dict(n_factors=int(f), n_epochs=int(e), lr_all=float(lr), reg_all=float(reg))
    # MovieLens 1M's '::' or ML-100K's tab, as the train file's first line has.
    sep = "::" if "::" in open(train, encoding="latin-1").readline() else "\t"
    reader = Reader(line_format="user item rating timestamp", sep=sep, rating_scale=(1, 5))
    trainset = Dataset.load_from_file(train, reader=reader).build_full_trainset()
    testset = Dataset.load_from_file(test, reader=reader).build_full_trainset().build_testset()
    fits = []
    for run in range(runs):
        algo = SVD(random_state=run, **params)
        start = time.perf_counter()
        algo.fit(trainset)
        fits.append(time.perf_counter() - start)
    predictions = algo.test(testset)
    print(json.dumps({
        "fit_seconds": fits,
        "rmse": accuracy.rmse(predictions, verbose=False),
        "mae": accuracy.mae(predictions, verbose=False),
    }))


if __name__ == "__main__":
    main()
