import time
from dataclasses import asdict
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from analysis import power
from analysis.loading import STATEMENTS, InputError, read_ratings
from analysis.stats import DEFAULT_ZERO_METHOD, ZERO_METHODS
from saliency.files import publish_folder

DESIGN_FLAGS = {"means": "--means", "sd": "--sd", "participant_sd": "--participant-sd", "image_sd": "--image-sd",
                "images": "--images"}
# Flags of a model x method plan, each meaningful only with --methods.
FACTORIAL_FLAGS = {"method_effects": "--method-effects", "cell_means": "--cell-means",
                   "views_per_image": "--views-per-image"}
# A plan of a task block (questions with a right answer, conditions between participants): its own flags, the
# first four required.
TASK_FLAGS = {"task_accuracy": "--task-accuracy", "task_pages": "--task-pages",
              "task_participant_sd": "--task-participant-sd", "task_image_sd": "--task-image-sd",
              "task_images": "--task-images"}
# Flags of a rating plan, which a task plan refuses (plan the ratings in a run of their own).
RATING_FLAGS = DESIGN_FLAGS | FACTORIAL_FLAGS | {"methods": "--methods", "from_export": "--from-export",
                                                 "zero_method": "--zero-method"}


class Command(BaseCommand):
    help = ("Power by simulation: simulate whole studies of a design (given as flags, or estimated from a pilot's "
            "ratings.csv), run analyze's tests on each, and write power.csv, power.json, power.png and "
            "answers.txt into --out.")

    def add_arguments(self, parser):
        parser.add_argument("--means", help="mean rating per model, the first the mixed model's reference, "
                                            "e.g. N=2.08,A=2.99,M2=3.33")
        parser.add_argument("--sd", type=float, help="SD of a rating around its participant's and image's mean")
        parser.add_argument("--participant-sd", type=float, help="SD of the participants' random intercepts")
        parser.add_argument("--image-sd", type=float, help="SD of the images' random intercepts")
        parser.add_argument("--images", type=int, help="images per participant, each rated under every model")
        parser.add_argument("--methods", nargs="+", metavar="METHOD",
                            help="a model x method plan: the explanation methods (at least two; the first the "
                                 "reference), e.g. VG IG SG; effects by --means with --method-effects, or "
                                 "--cell-means")
        parser.add_argument("--method-effects",
                            help="with --methods and --means: each method's shift of every model's mean rating, "
                                 "e.g. VG=0,IG=0.2,SG=0.4")
        parser.add_argument("--cell-means",
                            help="with --methods: the mean rating of every model x method cell, e.g. "
                                 "N:VG=2.1,N:IG=2.3,... (MODEL×METHOD also reads)")
        parser.add_argument("--views-per-image", type=int,
                            help="with --methods: how many cells each participant sees an image under (the "
                                 "study's views_per_image; default every cell)")
        parser.add_argument("--from-export", metavar="RATINGS_CSV",
                            help="a pilot's ratings.csv (export_responses): estimate the means and SDs from it; "
                                 "design flags given too override its estimates")
        parser.add_argument("--statement", choices=STATEMENTS, default=STATEMENTS[0],
                            help=f"the pilot's statement to estimate from (default {STATEMENTS[0]})")
        parser.add_argument("--task-accuracy",
                            help="a plan of a task block (distinction, simulation or verification questions): the "
                                 "chance that a typical participant answers a typical image right, per condition "
                                 "between participants, e.g. none=0.55,N×VG=0.7 (a control of each of several "
                                 "models: N×none=0.55,N×VG=0.7,A×none=0.55,A×VG=0.65); reports the power of the "
                                 "utility test of each explanation condition against its model's control")
        parser.add_argument("--task-pages", type=int, help="with --task-accuracy: scored pages per participant")
        parser.add_argument("--task-participant-sd", type=float,
                            help="with --task-accuracy: SD of the participants' random intercepts (logit scale)")
        parser.add_argument("--task-image-sd", type=float,
                            help="with --task-accuracy: SD of the images' random intercepts (logit scale)")
        parser.add_argument("--task-images", type=int,
                            help="with --task-accuracy: the images each participant's pages are drawn from "
                                 "(default: --task-pages, every participant sees the same images)")
        parser.add_argument("--participants", type=int, nargs="+", required=True, metavar="N",
                            help="sample sizes to simulate, e.g. 10 20 30 40 65 (a task plan: all conditions' "
                                 "participants together, assigned in turn)")
        parser.add_argument("--simulations", type=int, default=500, help="studies per sample size (default 500)")
        parser.add_argument("--alpha", type=float, default=0.05, help="significance level (default 0.05)")
        parser.add_argument("--zero-method", choices=ZERO_METHODS,
                            help=f"as analyze's --zero-method (default {DEFAULT_ZERO_METHOD})")
        parser.add_argument("--mixed", action="store_true",
                            help="also the mixed model (about 0.1-0.5 s per simulated study and sample size); "
                                 "a model x method plan always fits it; a task plan: the report's condition model, the "
                                 "logistic GLMM (about 0.1 s per simulated study of 800 answers)")
        parser.add_argument("--seed", type=int, default=0, help="seed of the simulations (default 0)")
        parser.add_argument("--jobs", type=int, default=power.default_jobs(),
                            help="worker processes (default: the CPUs this process may use); "
                                 "the numbers do not depend on it")
        parser.add_argument("--out", required=True, help="folder for the results (created; written all at once)")

    def handle(self, *args, **options):
        out = Path(options["out"])
        if out.exists() and not out.is_dir():
            raise CommandError(f"--out {out} exists and is not a folder.")
        sizes = sorted(set(options["participants"]))
        problems = []
        if sizes[0] < 2:
            problems.append(f"--participants: every sample size must be at least 2, got {sizes[0]}.")
        if options["simulations"] < 1:
            problems.append(f"--simulations must be at least 1, got {options['simulations']}.")
        if not 0 < options["alpha"] < 1:
            problems.append(f"--alpha must be between 0 and 1, not {options['alpha']}.")
        if options["jobs"] < 1:
            problems.append(f"--jobs must be at least 1, got {options['jobs']}.")
        problems += self.factorial_problems(options)
        problems += self.task_problems(options)
        missing = [flag for name, flag in DESIGN_FLAGS.items() if options[name] is None
                   and not (name == "means" and options["methods"] and options["cell_means"])]
        if missing and not options["from_export"] and not options["task_accuracy"]:
            problems.append(f"Missing {', '.join(missing)}: give the design, e.g. --means N=2.08,A=2.99,M2=3.33 "
                            "--sd 0.8 --participant-sd 0.5 --image-sd 0.3 --images 20, or estimate it from a "
                            "pilot with --from-export ratings.csv.")
        if problems:
            raise CommandError("Nothing was written.\n" + "\n".join(problems))
        zero_method = options["zero_method"] or DEFAULT_ZERO_METHOD
        try:
            design, source = (self.task_design(options, sizes) if options["task_accuracy"]
                              else self.factorial_design(options) if options["methods"] else self.design(options))
            started = time.perf_counter()
            decided = power.simulate_power(design, sizes, options["simulations"], options["alpha"], options["seed"],
                                           zero_method, options["mixed"], options["jobs"], progress=True)
            elapsed = time.perf_counter() - started
            table = power.power_table(decided, design)
            plan = power.summary(design, table, sizes, options["simulations"], options["alpha"], options["seed"],
                                 zero_method, options["mixed"], source)
            publish_folder(out, lambda folder: power.write_outputs(folder, table, plan), ".plan_study-")
        except InputError as error:
            raise CommandError(f"Nothing was written.\n{error}") from error
        except OSError as error:
            raise CommandError(f"Cannot write the results to {out}: {error}. Nothing was written.") from error
        self.stdout.write(f"Simulated {options['simulations']} studies at each of {', '.join(map(str, sizes))} "
                          f"participants in {elapsed:.1f} s; power in {out}/power.csv")
        self.stdout.write("\n".join(plan["answers"]))

    @staticmethod
    def task_problems(options):
        """Flag combinations a task plan cannot mean: task flags without --task-accuracy, rating flags with it, and
        its required flags missing."""
        if not options["task_accuracy"]:
            return [f"{flag} needs --task-accuracy (a plan of a task block)." for name, flag in TASK_FLAGS.items()
                    if options[name] is not None]
        problems = []
        rating = [flag for name, flag in RATING_FLAGS.items() if options[name] is not None]
        if rating:
            problems.append(f"{', '.join(rating)}: a plan of a task block (--task-accuracy) takes no rating flags; "
                            "plan the ratings in a run of their own.")
        missing = [flag for name, flag in list(TASK_FLAGS.items())[1:4] if options[name] is None]
        if missing:
            problems.append(f"Missing {', '.join(missing)}: give the task block, e.g. --task-accuracy "
                            "none=0.55,N×VG=0.7 --task-pages 20 --task-participant-sd 0.5 --task-image-sd 0.5.")
        return problems

    @staticmethod
    def task_design(options, sizes):
        """The TaskDesign to simulate (checked by power.TaskDesign); every sample size must give each condition,
        assigned in turn, two participants."""
        accuracy = power.parse_means(options["task_accuracy"], "--task-accuracy", "condition")
        design = power.TaskDesign(accuracy, options["task_pages"], options["task_participant_sd"],
                                  options["task_image_sd"], options["task_images"])
        if sizes[0] < 2 * len(accuracy):
            raise InputError(f"--participants: {sizes[0]} participants give some of the {len(accuracy)} conditions "
                             f"fewer than 2 (participants are assigned to the conditions in turn); simulate at least "
                             f"{2 * len(accuracy)}.")
        return design, {"from": "flags"}

    @staticmethod
    def factorial_problems(options):
        """Flag combinations a plan cannot mean: model x method flags without --methods, and one-factor-only
        flags with it."""
        if not options["methods"]:
            return [f"{flag} needs --methods (a model x method plan)." for name, flag in FACTORIAL_FLAGS.items()
                    if options[name] is not None]
        problems = []
        if options["zero_method"]:
            problems.append("--zero-method: a model x method plan runs no Wilcoxon test (its tests: the two-factor "
                            "mixed model and Friedman per factor).")
        return problems

    def factorial_design(self, options):
        """The FactorialDesign to simulate (checked by power.factorial_design) and where it came from: the flags,
        or a pilot's export with flags overriding (the effect flags replace all of the pilot's cell means)."""
        spreads = {name: options[name] for name in ("sd", "participant_sd", "image_sd", "images",
                                                     "views_per_image")}
        effects = (("means", "--means", "model"), ("method_effects", "--method-effects", "method"),
                   ("cell_means", "--cell-means", "cell"))
        given = {name: None if options[name] is None else power.parse_means(options[name], flag, what)
                 for name, flag, what in effects}
        if not options["from_export"]:
            return power.factorial_design(options["methods"], **given, **spreads), {"from": "flags"}
        ratings = read_ratings(options["from_export"])
        pilot, fit = power.factorial_design_from_ratings(ratings, options["statement"], options["methods"],
                                                         options["views_per_image"], seed=options["seed"])
        spreads = {name: value for name, value in asdict(pilot).items() if name != "cell_means"} | {
            name: value for name, value in spreads.items() if value is not None}
        cell_means = pilot.cell_means
        if any(value is not None for value in given.values()):
            cell_means = power.factorial_design(options["methods"], **given, **spreads).cell_means
        return power.FactorialDesign(cell_means, **spreads), self.pilot_source(
            options, ratings, pilot, fit, DESIGN_FLAGS | FACTORIAL_FLAGS)

    def design(self, options):
        """The Design to simulate and where it came from: the flags, or a pilot's export with flags overriding."""
        given = {name: options[name] for name in DESIGN_FLAGS if options[name] is not None}
        if "means" in given:
            given["means"] = power.parse_means(given["means"])
        if not options["from_export"]:
            return power.Design(**given), {"from": "flags"}
        ratings = read_ratings(options["from_export"])
        pilot, fit = power.design_from_ratings(ratings, options["statement"], list(given.get("means", {})) or None,
                                               seed=options["seed"])
        return power.Design(**{**asdict(pilot), **given}), self.pilot_source(options, ratings, pilot, fit,
                                                                             DESIGN_FLAGS)

    def pilot_source(self, options, ratings, pilot, fit, flags):
        """Where a design estimated from a pilot came from (power.json), and a warning when its fit did not
        converge."""
        if not fit["converged"]:
            self.stderr.write("Warning: the pilot's mixed model did not converge; its estimates may be off.")
        return {"from": "export", "ratings": options["from_export"], "statement": options["statement"],
                "pilot_participants": ratings["participant"].nunique(), "pilot_estimates": asdict(pilot),
                "pilot_fit": fit, "overridden_by_flags": [flag for name, flag in flags.items()
                                                          if options[name] is not None]}
