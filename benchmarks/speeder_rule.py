"""Compare speeder rules on simulated pilots: how often honest people are flagged, how often speeders are caught.

docs/explanation/data-quality.md quotes its figures. Honest completion times are right-skewed: log-normal around a
600-s median with SD `--sigma` of log time (0.3 and 0.5: a spread of about 30 % and 50 %). A speeder completes in
`--speeder-seconds` (0.9 s: 45 pages clicked through) or at a share of the median. The rules, each with k = 3:

- all: mean - 3 SD of every completion, the judged one included (the old rule; it cannot fire below n = 11);
- loo: mean - 3 SD of the other completions (leave-one-out) on raw seconds;
- loo-log: the same on log seconds;
- mad-log: median - 3 x 1.4826 MAD of log seconds;
- qn-log: median - 3 Qn of log seconds (studyapp.quality's rule; Qn: statsmodels' qn_scale).

Run from the repository root: .venv/bin/python benchmarks/speeder_rule.py [--pilots 4000] [--n 10 30]
"""

import argparse
import math
import sys
from pathlib import Path

import numpy as np
from scipy.stats import median_abs_deviation
from statsmodels.robust.scale import qn_scale

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from studyapp.quality import Thresholds, speeder_cutoff  # noqa: E402


def flagged_all(times, k=3.0):
    return times < times.mean() - k * times.std(ddof=1)


def flagged_loo(times, k=3.0):
    n = len(times)
    others = [np.delete(times, i) for i in range(n)]
    return np.array([times[i] < o.mean() - k * o.std(ddof=1) for i, o in enumerate(others)])


def flagged_loo_log(times, k=3.0):
    return flagged_loo(np.log(times), k)


def flagged_mad_log(times, k=3.0):
    logs = np.log(times)
    return logs < np.median(logs) - k * median_abs_deviation(logs, scale="normal")


def flagged_qn_log(times, k=3.0):
    cutoff = speeder_cutoff(times, Thresholds(speeder_sd=k, speeder_min_completions=3))
    return times < cutoff if cutoff is not None else np.zeros(len(times), bool)


def check_qn_log(times):
    """The quality module's rule is the textbook formula (statsmodels' Qn)."""
    logs = np.log(times)
    expected = math.exp(np.median(logs) - 3 * qn_scale(logs))
    assert math.isclose(speeder_cutoff(times, Thresholds(speeder_min_completions=3)), expected, rel_tol=1e-12)


RULES = {"all": flagged_all, "loo": flagged_loo, "loo-log": flagged_loo_log, "mad-log": flagged_mad_log,
         "qn-log": flagged_qn_log}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pilots", type=int, default=4000)
    parser.add_argument("--n", type=int, nargs="+", default=[10, 30], help="completions per pilot")
    parser.add_argument("--sigma", type=float, nargs="+", default=[0.3, 0.5], help="SD of honest log times")
    parser.add_argument("--speeder-seconds", type=float, default=0.9)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    print(f"{args.pilots} pilots per row; share of pilots (%) where the rule flags ...")
    print(f"{'n':>3} {'sigma':>5} {'rule':>8} {'an honest one':>14} {'1 speeder':>10} {'2 speeders':>11} "
          f"{'at 25 % of median':>18}")
    for n in args.n:
        for sigma in args.sigma:
            counts = {rule: np.zeros(4) for rule in RULES}
            for _ in range(args.pilots):
                honest = 600 * np.exp(rng.normal(0, sigma, size=n))
                check_qn_log(honest)
                one = np.append(honest[:-1], args.speeder_seconds)
                two = np.append(honest[:-2], [args.speeder_seconds] * 2)
                slow = np.append(honest[:-1], 0.25 * 600)
                for rule, flagged in RULES.items():
                    counts[rule] += (flagged(honest).any(), flagged(one)[-1], flagged(two)[-2:].all(),
                                     flagged(slow)[-1])
            for rule, count in counts.items():
                honest, one, two, slow = 100 * count / args.pilots
                print(f"{n:>3} {sigma:>5} {rule:>8} {honest:>14.1f} {one:>10.1f} {two:>11.1f} {slow:>18.1f}")


if __name__ == "__main__":
    main()
