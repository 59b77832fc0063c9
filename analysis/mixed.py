"""The primary test: a linear mixed model with crossed random effects for participant and image.

Every participant rates every image under every model, so participants and images are both samples,
crossed with each other. Treating images as a random factor too (Baayen, Davidson & Bates 2008; Judd,
Westfall & Kenny 2012) lets a model difference generalize to new participants rating new images.
statsmodels' MixedLM fits crossed effects as variance components of one group that holds every rating.
"""

import warnings

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf

from analysis.loading import STATEMENTS, InputError
from analysis.stats import holm, model_pairs

# Above this many participants the model is fitted on a seeded random subsample of them: the fit's cost
# grows faster than the data (measured, CPU seconds for both statements at 60 ratings per participant:
# 65 participants 1-1.6, 200 about 9, 1,000 about 65), and 200 participants pin the model differences well.
MAX_PARTICIPANTS = 200
FORMULA = "rating ~ model"  # on mixed_frame's columns; the cumulative link mixed model (analysis.ordinal) too
VARIANCE_COMPONENTS = {"participant": "0 + C(participant)", "image": "0 + C(image)"}
# Powell on the profiled REML likelihood (two variance ratios): statsmodels' default gradient optimizers
# (bfgs, then lbfgs, cg) took 1-40 s per statement at 65 participants x 60 ratings and, where a variance is
# near zero, stopped short of the optimum ("not converged"; in one seeded case a log-likelihood 6 lower);
# Powell reached the best likelihood of them all in under a second. ftol: the default 1e-4 leaves the
# variances off in the 4th digit.
FIT_OPTIONS = {"reml": True, "method": "powell", "ftol": 1e-10}
# Where both variances are near 0, Powell can step onto a point whose covariance statsmodels cannot invert
# (LinAlgError: seen on 6 participants x 3 images). Nelder-Mead on the same likelihood found the boundary optimum
# there (a log-likelihood 1.3 higher than the gradient optimizers'); statsmodels' own default chain comes last.
FALLBACK_FIT_OPTIONS = ({"reml": True, "method": "nm", "maxiter": 20000}, {"reml": True})
# Sparse random-effects designs from this many ratings on: 7x faster at 3,900 ratings, but their overhead
# makes small fits slower (600 ratings: 0.23 s sparse, 0.09 s dense).
SPARSE_FROM_RATINGS = 1000
CONFIDENCE = 0.95


def mixed_frame(ratings, models, statement):
    """One row per rating: `rating`, `model` (categories in `models` order, the first the reference), ids, group."""
    return pd.DataFrame({
        "rating": ratings[statement].to_numpy(np.float64),
        "model": pd.Categorical(ratings["model"].astype(str), categories=models),
        "participant": ratings["participant"].cat.remove_unused_categories(),
        "image": ratings["image"].cat.remove_unused_categories(),
        "group": np.ones(len(ratings)),
    })


def participant_subsample(ratings, max_participants, seed):
    """The ratings of at most `max_participants` participants, drawn with numpy default_rng(seed)."""
    names = ratings["participant"].cat.remove_unused_categories().cat.categories
    if len(names) <= max_participants:
        return ratings
    chosen = names[np.sort(np.random.default_rng(seed).choice(len(names), size=max_participants, replace=False))]
    return ratings[ratings["participant"].isin(chosen)]


def fit_mixed(ratings, models, statement):
    """MixedLM of `statement` ~ model + (1 | participant) + (1 | image), REML; (result, warning messages).

    `ratings`: those of `models` only.
    """
    return fit_crossed(FORMULA, mixed_frame(ratings, models, statement),
                       f"The mixed model could not be fitted to the {statement} ratings")


def fit_crossed(formula, data, failure):
    """MixedLM of `formula` with crossed participant and image effects (data from mixed_frame's layout), REML;
    (result, warning messages). Where an optimizer meets a singular matrix, the next of FALLBACK_FIT_OPTIONS is
    tried and the messages say so; `failure` starts the error when none fits."""
    model = smf.mixedlm(formula, data, groups="group", re_formula="0", vc_formula=VARIANCE_COMPONENTS,
                        use_sparse=len(data) >= SPARSE_FROM_RATINGS)
    notes = []
    for options in (FIT_OPTIONS, *FALLBACK_FIT_OPTIONS):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result = model.fit(**options)
            except np.linalg.LinAlgError as error:
                notes.append(f"optimizer {options.get('method', 'default')} failed ({error})")
                continue
        messages = sorted({str(w.message) for w in caught})
        if notes:
            messages.append("; ".join(notes) + f"; fitted with optimizer {options.get('method', 'default')}")
        return result, messages
    raise InputError(f"{failure}: {'; '.join(notes)}. Analyse with --no-mixed.")


def variance_components(result):
    """Participant, image and residual variance of a fitted model."""
    components = dict(zip(result.model.exog_vc.names, result.vcomp))
    return {"participant_variance": float(components["participant"]), "image_variance": float(components["image"]),
            "residual_variance": float(result.scale)}


def pair_weights(names, first, second, models):
    """Weights on fixed effects named `names` (FORMULA's treatment coding, models[0] the reference) giving
    `second`'s effect minus `first`'s, and the term it is: e.g. 'model[T.M2] - model[T.A]'."""
    weights = np.zeros(len(names))
    for model, sign in ((second, 1.0), (first, -1.0)):
        if model != models[0]:
            weights[names.index(f"model[T.{model}]")] = sign
    return weights, " - ".join(f"model[T.{m}]" for m in (second, first) if m != models[0])


def contrast(result, first, second, models):
    """Mean rating of `second` minus `first`, tested from the fitted covariance of the fixed effects."""
    weights, term = pair_weights(list(result.fe_params.index), first, second, models)
    test = result.t_test(weights[None, :])
    low, high = test.conf_int(alpha=1 - CONFIDENCE)[0]
    return {"term": term, "estimate": float(test.effect[0]), "se": float(test.sd[0, 0]),
            "z": float(test.tvalue[0, 0]), "p": float(test.pvalue), "ci_low": float(low), "ci_high": float(high)}


def sample_columns(ratings, fitted, seed):
    """What a crossed model was fitted on: all ratings, or the seeded participant subsample `fitted` of them."""
    subsampled = len(fitted) < len(ratings)
    return {"n_ratings": len(ratings), "n_participants": ratings["participant"].nunique(),
            "n_images": ratings["image"].nunique(), "n_ratings_fitted": len(fitted),
            "n_participants_fitted": fitted["participant"].nunique(), "subsampled": subsampled,
            "seed": seed if subsampled else None}


def mixed_models(ratings, models, max_participants=MAX_PARTICIPANTS, seed=0):
    """Every model pair per statement (Holm over the pairs), with the fit's variance components and convergence.

    Pairs with the reference (models[0]) are the model's fixed effects; the others are contrasts of them.
    """
    ratings = ratings[ratings["model"].isin(models)]
    fitted = participant_subsample(ratings, max_participants, seed)
    sample = sample_columns(ratings, fitted, seed)
    rows = []
    for statement in STATEMENTS:
        result, messages = fit_mixed(fitted, models, statement)
        fit = {**variance_components(result), "log_likelihood": float(result.llf),
               "converged": bool(result.converged), "fit_warnings": "; ".join(messages), **sample}
        family = [{"statement": statement, "model_a": first, "model_b": second, "reference": models[0],
                   **contrast(result, first, second, models)} for first, second in model_pairs(models)]
        for row, adjusted in zip(family, holm([r["p"] for r in family])):
            rows.append({**row, "p_holm": float(adjusted), "confidence": CONFIDENCE, **fit})
    return pd.DataFrame(rows)
