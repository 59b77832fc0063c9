"""Time `manage.py plan_study` on the issue's design: 500 simulations x 5 sample sizes.

Goal (issue 13): 500 simulations x 10, 20, 30, 40, 65 participants, without the mixed model, in under
60 s on the 2-core machine. Run from the repository root: .venv/bin/python benchmarks/plan_study.py
[--simulations 500] [--jobs 2] [--mixed]. Each run is a fresh process, timed end to end: wall clock,
and the CPU seconds it and its worker processes used (on a machine busy with other work the wall time
grows, the CPU time hardly does). With --mixed it also fits the mixed model in every simulated study;
the last column is the CPU time per simulated study and sample size.
"""

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DESIGN = ["--means", "N=2.08,A=2.99,M2=3.33", "--sd", "0.8", "--participant-sd", "0.5", "--image-sd", "0.3",
          "--images", "20", "--alpha", "0.05", "--seed", "0"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--simulations", type=int, default=500)
    parser.add_argument("--participants", type=int, nargs="+", default=[10, 20, 30, 40, 65])
    parser.add_argument("--jobs", type=int, nargs="+", default=[2, 1], help="worker processes, one run each")
    parser.add_argument("--mixed", action="store_true", help="also the mixed model")
    args = parser.parse_args()
    print(f"load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"{'jobs':>4} {'simulations':>11} {'sizes':>5} {'mixed':>5} {'wall s':>7} {'CPU s':>7} {'CPU ms/study':>12}")
    with tempfile.TemporaryDirectory(prefix="plan-study-bench-") as scratch:
        for jobs in args.jobs:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run([sys.executable, "manage.py", "plan_study", *DESIGN, "--participants",
                            *map(str, args.participants), "--simulations", str(args.simulations), "--jobs", str(jobs),
                            *(["--mixed"] if args.mixed else []), "--out", str(Path(scratch) / f"plan-{jobs}")],
                           cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
            elapsed = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
            studies = args.simulations * len(args.participants)
            print(f"{jobs:>4} {args.simulations:>11} {len(args.participants):>5} {'yes' if args.mixed else 'no':>5} "
                  f"{elapsed:>7.1f} {cpu:>7.1f} {1000 * cpu / studies:>12.1f}", flush=True)


if __name__ == "__main__":
    main()
