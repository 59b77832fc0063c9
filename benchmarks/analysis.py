"""Time `manage.py analyze` on simulated exports of 65, 1,000 and 100,000 participants x 60 ratings.

Goals: 100,000 participants (6 million ratings) in under 60 s on the 2-core machine (issue 4); the mixed
model, both statements, in under 10 s at 65 participants x 20 images x 3 models (issue 13); the cumulative link
mixed model (analysis.clmm via ordinal.mixed_ordinal_models, both statements) in under 10 s at 65 participants x
60 ratings and under 60 s at 1,000 participants, all of them (issue 28; --clmm-only).
Run from the repository root; on a shared machine: nice -n 10 .venv/bin/python benchmarks/analysis.py
The CSVs are written first with numpy (not timed); each analyze run is a fresh process, timed end to end
(wall clock, and the CPU seconds it used: on a machine busy with other work the wall time grows, the CPU
time hardly does). The mixed models (analysis.mixed.mixed_models and ordinal.mixed_ordinal_models, both
statements, on the loaded ratings; a subsample of 200 participants above that, as the report fits them) are timed
again on their own in this process.
--image-sd gives the images random offsets too (default 0: every image alike, a variance at its boundary).
--keep DIR keeps the CSVs there and reuses them on the next run.
--clmm-only times only the cumulative link mixed model (no analyze run, no linear mixed model): with
--participants and --images, how its cost grows with participants and with images. Its columns: the fit's wall
and CPU seconds for both statements, and the likelihood evaluations of the two fits (each a Newton solve of the
random-effect modes; the gradient's cost is about twice a value's).
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
sys.path.insert(0, str(ROOT))

from analysis.loading import read_export  # noqa: E402
from analysis.mixed import MAX_PARTICIPANTS, mixed_models  # noqa: E402
from analysis.ordinal import mixed_ordinal_models  # noqa: E402
from analysis.simulation import simulate_export  # noqa: E402
from studyapp.schema import CHOICES_FILE, PARTICIPANTS_FILE, RATINGS_FILE  # noqa: E402

EFFECTS = {"N": 0.0, "A": 0.3, "M2": 0.6}
CHOICE_WEIGHTS = {"N": 1.0, "A": 2.0, "M2": 4.0}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, nargs="+", default=[65, 1_000, 100_000])
    parser.add_argument("--images", type=int, default=20, help="images per participant (x 3 models)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--image-sd", type=float, default=0.0, help="SD of the images' latent offsets (default 0)")
    parser.add_argument("--keep", type=Path, help="folder to keep (and reuse) the simulated CSVs in")
    parser.add_argument("--clmm-only", action="store_true", help="time only the cumulative link mixed model")
    args = parser.parse_args()
    print(f"load average at start: {load()}; {os.cpu_count()} CPUs; nice {os.nice(0)}")
    if args.clmm_only:
        print(f"{'participants':>12} {'images':>7} {'ratings':>10} {'clmm s':>7} {'CPU s':>6} {'evaluations':>12} "
              f"{'converged':>10}")
    else:
        print(f"{'participants':>12} {'ratings':>10} {'choices':>9} {'write CSV s':>12} {'analyze s':>10} "
              f"{'CPU s':>7} {'mixed s':>8} {'CPU s':>6} {'clmm s':>7} {'CPU s':>6}")
    with tempfile.TemporaryDirectory(prefix="analysis-bench-") as scratch:
        for count in args.participants:
            folder = (args.keep or Path(scratch)) / f"{count}x{args.images}-seed{args.seed}-image-sd{args.image_sd}"
            start = time.perf_counter()
            paths = [folder / "export" / name for name in (RATINGS_FILE, CHOICES_FILE, PARTICIPANTS_FILE)]
            if not all(path.exists() for path in paths):
                paths = simulate_export(folder / "export", count, images=args.images, effects=EFFECTS,
                                        choice_weights=CHOICE_WEIGHTS, seed=args.seed, image_sd=args.image_sd)
            written = time.perf_counter() - start
            ratings = read_export(*paths).ratings
            cap = count if args.clmm_only else MAX_PARTICIPANTS  # every participant, or as the report fits it
            clmm, clmm_cpu, fits = timed(lambda: mixed_ordinal_models(ratings, list(EFFECTS), max_participants=cap))
            if args.clmm_only:
                evaluations = "+".join(str(n) for n in fits[0].drop_duplicates("statement")["evaluations"])
                print(f"{count:>12,} {args.images:>7,} {count * args.images * 3:>10,} {clmm:>7.1f} {clmm_cpu:>6.1f} "
                      f"{evaluations:>12} {str(fits[0]['converged'].all()):>10}", flush=True)
                continue
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run([sys.executable, "manage.py", "analyze", "--ratings", paths[0], "--choices", paths[1],
                            "--participants", paths[2], "--out", Path(scratch) / f"report-{count}"],
                           cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
            elapsed = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
            mixed, mixed_cpu, _ = timed(lambda: mixed_models(ratings, list(EFFECTS), seed=args.seed))
            print(f"{count:>12,} {count * args.images * 3:>10,} {count * args.images:>9,} "
                  f"{written:>12.1f} {elapsed:>10.1f} {cpu:>7.1f} {mixed:>8.1f} {mixed_cpu:>6.1f} "
                  f"{clmm:>7.1f} {clmm_cpu:>6.1f}", flush=True)
    print(f"load average at end: {load()}")


def load():
    """The 1, 5 and 15 minute load averages: on a shared machine, a wall time is only as good as this."""
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def timed(work):
    """(wall seconds, CPU seconds of this process, the result) of work()."""
    start, cpu_start = time.perf_counter(), time.process_time()
    result = work()
    return time.perf_counter() - start, time.process_time() - cpu_start, result


if __name__ == "__main__":
    main()
