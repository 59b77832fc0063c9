"""Cumulative link mixed models with crossed random intercepts for participant and image, fitted by Laplace.

The model, in `ordinal::clmm`'s convention (Christensen 2019), for an answer Y_i in K ordered categories:

    logit P(Y_i <= j) = theta_j - eta_i,    eta_i = x_i'beta + sd_p u_p(i) + sd_m u_m(i),    u ~ N(0, 1),

j = 1 .. K-1, with x_i the fixed-effect row without its intercept (the thresholds theta take its place). A
positive beta makes higher answers more likely; exp(beta) is the odds ratio of a higher answer, the same at every
threshold. K = 2 is the logistic GLMM of `lme4::glmer(y ~ x + (1|participant) + (1|image), binomial)`:
P(Y = 2) = logistic(eta - theta_1), so glmer's intercept is -theta_1 and its other coefficients are beta.

Both R functions (glmer with nAGQ = 1) maximise the Laplace approximation of the marginal log-likelihood,

    L(theta, beta, sd) = sum_i log p(y_i | u^) - |u^|^2 / 2 - log det(H) / 2,    H = I + S Z'WZ S,

where u^ is the mode of the random effects given the parameters, S = diag(sd), Z the 0/1 indicator matrix of
participant and image, and W the observed information of each answer about its eta (for the logit link of a
binary answer that equals the Fisher information glmer uses). This module maximises the same function, so its
numbers are R's to the optimisers' precision (tests/analysis/test_clmm.py runs R on the data in
tests/analysis/r_reference). Why each numerical choice (docs/explanation/ordinal-and-binary-mixed-models.md):

- Random-effect modes: Newton's method on the concave inner problem, step halving when a step does not gain,
  warm-started from the previous evaluation's modes; stopped when no mode moves by more than INNER_TOLERANCE
  (on the N(0, 1) scale of u). H is two diagonal blocks (participants, images) and their cross block, so it is
  solved through the Schur complement on the smaller factor: a dense Cholesky of (images x images), the rest
  diagonal. That is exact and costs O(n + P M^2 + M^3) per Newton step (P participants, M images, M <= P), below
  any general sparse factorisation (which would fill the same M x M block). Sparse matrices carry the
  observations-to-groups sums (the indicator matrices Z'), where they pay off: n nonzeros instead of n (P + M).
  BLAS runs on one thread during a fit: its matrices (M x M, P x M) are too small for threads to pay, and on a
  busy machine OpenBLAS's waiting threads cost more than they give (measured at 250 participants x 60 images on
  the shared 2-core machine: 11.2 CPU s and 45 s wall with its threads, 4.8 and 19 s on one).
- The gradient of L is exact (implicit differentiation of u^; third derivatives of log p), not differenced.
- Parameters: thresholds as the first one and the logs of the gaps (any values give ordered thresholds), so the
  optimiser needs no constraint; the random effects as standard deviations, not variances or log-SDs. L is even
  in each SD (u and -u are alike), smooth through 0, so the SD runs over the whole real line and its absolute
  value is reported: a variance whose estimate is 0 is reached exactly, with no bound for the optimiser to stick
  to and no log-SD running to minus infinity. (glmer bounds the same SD at 0; clmm too.)
- Start values: thresholds and fixed effects from the pooled cumulative logit (both SDs 0, a concave problem),
  the SDs at START_SD = 1 logit (glmer's start, theta = 1; the order of the SDs seen in rating studies). Not at
  0: there the gradient in an SD is exactly 0 whatever the data.
- Optimiser: BFGS on -L/n with the exact gradient, then Newton steps on a Hessian differenced from the exact
  gradient (central, step HESSIAN_STEP), which BFGS's approximate curvature cannot give: they polish the optimum
  to machine precision and give the Hessian the standard errors come from.
- Converged means, at the reported point: a Newton step would gain less than DECREMENT_TOLERANCE in L (the
  predicted gain g'(-H)^-1 g / 2, free of the data's scale), -H is positive definite, and the information on
  the thresholds and fixed effects (all on the logit scale) per observation exceeds MIN_INFORMATION in every
  direction (else estimates drift away, as under separation: one answer given to every rating of a model; the
  log-likelihood then still rises, ever more slowly, and R's fitters report huge estimates and SEs). A fit that
  fails any of these has `converged` False and a `message` that says which; its tables hold no numbers.
- A variance at 0: an SD under ZERO_SD after the Newton steps, where L falls on either side (negative curvature),
  is set to exactly 0 and reported "at zero"; the standard errors then come from the Hessian of the other
  parameters (the cross terms with that SD are 0 by symmetry), as clmm leaves an SD below 1e-3 out of its Hessian.
- Standard errors: the inverse of -H at the optimum over thresholds, fixed effects and SDs; Wald z, p and
  intervals from the normal distribution, as clmm's and glmer's summaries give them.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd
import patsy
from scipy import linalg, optimize, sparse, special, stats
from threadpoolctl import threadpool_limits

GROUPS = ("participant", "image")
CONFIDENCE = 0.95
START_SD = 1.0
INNER_TOLERANCE = 1e-10
INNER_MAX_ITERATIONS = 100
INNER_MAX_HALVINGS = 40
ROUNDOFF = 1e-13
DECREMENT_TOLERANCE = 1e-8
MIN_INFORMATION = 1e-8
HESSIAN_STEP = 1e-4
NEWTON_STEPS = 20
BFGS_MAX_ITERATIONS = 500
ZERO_SD = 1e-5


class FitError(ValueError):
    """Data the model cannot be fitted to as asked (a column missing, a formula without an intercept)."""


class _Answers:
    """log p(y_i | eta_i) of every answer and its derivatives, computed to the order asked (0, 2, then 3).

    With a = theta_y - eta (the answer's upper threshold) and b = theta_{y-1} - eta (its lower one),
    p = F(a) - F(b), F logistic. Order 2: s = dlog p/deta, W = -d2log p/deta2, the threshold scores la, lb and
    the threshold derivatives of s (sa, sb); third(): dW/deta and the threshold derivatives of W (wa, wb). At the
    top answer a = +inf and every a-term is 0, at the bottom every b-term: no case needs its own code."""

    def __init__(self, theta_ext, codes, eta, order):
        a = theta_ext[codes + 1] - eta
        b = theta_ext[codes] - eta
        Fa, Fb, Fca, Fcb = special.expit(a), special.expit(b), special.expit(-a), special.expit(-b)
        with np.errstate(divide="ignore", invalid="ignore"):
            G = np.where(b > 0, Fcb - Fca, Fa - Fb)  # the difference of the two small tails: no cancellation
            self.loglik = np.log(G)
            if order == 0:
                return
            self.fa, self.fb = Fa * Fca, Fb * Fcb
            self.ra, self.rb = self.fa / G, -self.fb / G
            self.raa, self.rbb = self.fa * (Fca - Fa) / G, -self.fb * (Fcb - Fb) / G
        self.G = G
        ra, rb = self.ra, self.rb
        laa, lbb, lab = self.raa - ra ** 2, self.rbb - rb ** 2, -ra * rb
        self.s = -(ra + rb)
        self.W = np.maximum(-(laa + 2 * lab + lbb), 0)  # >= 0 (p is log-concave in eta); clip rounding
        self.sa, self.sb = -(laa + lab), -(lab + lbb)

    def third(self):
        ra, rb, raa, rbb = self.ra, self.rb, self.raa, self.rbb
        with np.errstate(divide="ignore", invalid="ignore"):
            raaa, rbbb = self.fa * (1 - 6 * self.fa) / self.G, -self.fb * (1 - 6 * self.fb) / self.G
        laaa = raaa - 3 * ra * raa + 2 * ra ** 3
        lbbb = rbbb - 3 * rb * rbb + 2 * rb ** 3
        laab = -raa * rb + 2 * ra ** 2 * rb
        labb = -ra * rbb + 2 * ra * rb ** 2
        self.wa, self.wb = -(laaa + 2 * laab + labb), -(laab + 2 * labb + lbbb)
        self.dW = -(self.wa + self.wb)


class _Factor:
    """H = [[diag(D0), C], [C', diag(D1)]] (factor 0 the larger), solved through the Schur complement on factor 1.

    Keeps the information sums it was built from: per group of each factor (W0, W1) and per pair (Wpair)."""

    def __init__(self, W0, W1, Wpair, sd0, sd1):
        self.W0, self.W1, self.Wpair = W0, W1, Wpair
        self.D0 = 1 + sd0 ** 2 * W0
        self.C = sd0 * sd1 * Wpair
        schur = np.diag(1 + sd1 ** 2 * W1) - self.C.T @ (self.C / self.D0[:, None])
        self.cholesky = linalg.cho_factor(schur, lower=True)
        self.logdet = float(np.log(self.D0).sum() + 2 * np.log(np.diag(self.cholesky[0])).sum())

    def solve(self, r0, r1):
        D0 = self.D0 if r0.ndim == 1 else self.D0[:, None]
        x1 = linalg.cho_solve(self.cholesky, r1 - self.C.T @ (r0 / D0))
        return (r0 - self.C @ x1) / D0, x1

    def inverse_parts(self):
        """diag of H^-1 in both blocks and H^-1's cross block (factor 0 x factor 1)."""
        schur_inverse = linalg.cho_solve(self.cholesky, np.eye(self.C.shape[1]))
        E = self.C @ schur_inverse
        diag0 = 1 / self.D0 + (E * self.C).sum(axis=1) / self.D0 ** 2
        return diag0, np.diag(schur_inverse).copy(), -E / self.D0[:, None]


class _Laplace:
    """The Laplace log-likelihood and its exact gradient, in the natural parameters (thresholds, beta, SDs)."""

    def __init__(self, codes, X, participant, image, n_participants, n_images, n_thresholds):
        self.codes, self.X, self.K1 = codes, X, n_thresholds
        self.n, self.p = X.shape
        groups = [(participant, n_participants), (image, n_images)]
        self.swap = n_images > n_participants  # factor 0 (eliminated, diagonal) is the larger one
        if self.swap:
            groups.reverse()
        (self.g0, self.n0), (self.g1, self.n1) = groups
        self.pair = self.g0 * self.n1 + self.g1
        # answers by group and category (threshold sums without an n x thresholds matrix)
        self.by_category0 = self.g0 * (n_thresholds + 1) + codes
        self.by_category1 = self.g1 * (n_thresholds + 1) + codes
        rows = np.arange(self.n)
        self.Z0T = sparse.csr_matrix((np.ones(self.n), (self.g0, rows)), shape=(self.n0, self.n))
        self.Z1T = sparse.csr_matrix((np.ones(self.n), (self.g1, rows)), shape=(self.n1, self.n))
        self.u = np.zeros(self.n0 + self.n1)
        self.evaluations = 0

    def split(self, phi):
        theta, beta, sd = phi[:self.K1], phi[self.K1:self.K1 + self.p], phi[self.K1 + self.p:]
        return theta, beta, (sd[::-1] if self.swap else sd)

    def _factor(self, W, sd0, sd1):
        return _Factor(np.bincount(self.g0, W, self.n0), np.bincount(self.g1, W, self.n1),
                       np.bincount(self.pair, W, self.n0 * self.n1).reshape(self.n0, self.n1), sd0, sd1)

    def _threshold_sums(self, upper, lower, index=None, groups=1):
        """Per threshold j (and group): the sum of `upper` over answers whose upper threshold is j, plus the sum
        of `lower` over answers whose lower threshold is j."""
        K = self.K1 + 1
        index = self.codes if index is None else index
        up = np.bincount(index, upper, groups * K).reshape(groups, K)
        down = np.bincount(index, lower, groups * K).reshape(groups, K)
        return up[:, :-1] + down[:, 1:]

    def _modes(self, theta_ext, fixed, sd0, sd1):
        """Newton on h(u) = sum log p - |u|^2/2 from the last modes; (u, answers at u, factor of H at u)."""
        def at(u):
            eta = fixed + sd0 * u[:self.n0][self.g0] + sd1 * u[self.n0:][self.g1]
            answers = _Answers(theta_ext, self.codes, eta, 2)
            return answers, answers.loglik.sum() - 0.5 * u @ u

        u = self.u.copy()
        answers, h = at(u)
        for _ in range(INNER_MAX_ITERATIONS):
            if not np.isfinite(h):
                return None
            gradient = np.concatenate([sd0 * np.bincount(self.g0, answers.s, self.n0) - u[:self.n0],
                                       sd1 * np.bincount(self.g1, answers.s, self.n1) - u[self.n0:]])
            try:
                factor = self._factor(answers.W, sd0, sd1)
            except linalg.LinAlgError:
                return None
            step = np.concatenate(factor.solve(gradient[:self.n0], gradient[self.n0:]))
            if np.abs(step).max() < INNER_TOLERANCE:
                return u, answers, factor
            for _ in range(INNER_MAX_HALVINGS):
                trial_answers, trial_h = at(u + step)
                if trial_h >= h - ROUNDOFF * abs(h):  # near the mode a gain is below h's rounding
                    break
                step = step / 2
            else:
                return None
            u, answers, h = u + step, trial_answers, trial_h
        return None

    def value(self, phi, gradient=False):
        """L at phi (minus infinity where the thresholds are not increasing or the modes fail), and its gradient."""
        self.evaluations += 1
        theta, beta, (sd0, sd1) = self.split(phi)
        failed = (-np.inf, np.full(len(phi), np.nan)) if gradient else -np.inf
        if np.any(np.diff(theta) <= 0) or not np.all(np.isfinite(phi)):
            return failed
        theta_ext = np.concatenate([[-np.inf], theta, [np.inf]])
        found = self._modes(theta_ext, self.X @ beta, sd0, sd1)
        if found is None:
            return failed
        u, answers, factor = found
        self.u = u
        value = float(answers.loglik.sum() - 0.5 * u @ u - 0.5 * factor.logdet)
        if not gradient:
            return value
        answers.third()
        return value, self._gradient(u, answers, factor, sd0, sd1)

    def _gradient(self, u, t, factor, sd0, sd1):
        """dL/dphi: the envelope theorem for h, and d log det H through W's dependence on eta and on u^ (implicit
        differentiation of the modes' equations), all as sums per group so no n x parameters matrix is formed."""
        K1, p, g0, g1, n0, n1 = self.K1, self.p, self.g0, self.g1, self.n0, self.n1
        U0, U1 = u[:n0], u[n0:]
        W = t.W
        diag0, diag1, cross = factor.inverse_parts()
        leverage = sd0 ** 2 * diag0[g0] + sd1 ** 2 * diag1[g1] + 2 * sd0 * sd1 * cross.ravel()[self.pair]
        S0, S1 = np.bincount(g0, t.s, n0), np.bincount(g1, t.s, n1)
        WX = W[:, None] * self.X

        # dg/dphi of the modes' equations g(u) = S Z's - u = 0, per group of each factor: thresholds, beta, SDs
        rhs0 = np.hstack([sd0 * self._threshold_sums(t.sa, t.sb, self.by_category0, n0), -sd0 * (self.Z0T @ WX),
                          (S0 - sd0 * factor.W0 * U0)[:, None], (-sd0 * factor.Wpair @ U1)[:, None]])
        rhs1 = np.hstack([sd1 * self._threshold_sums(t.sa, t.sb, self.by_category1, n1), -sd1 * (self.Z1T @ WX),
                          (-sd1 * factor.Wpair.T @ U0)[:, None], (S1 - sd1 * factor.W1 * U1)[:, None]])
        x0, x1 = factor.solve(rhs0, rhs1)  # du^/dphi

        v = leverage * t.dW
        V0, V1 = np.bincount(g0, v, n0), np.bincount(g1, v, n1)
        direct = np.concatenate([np.zeros(K1), self.X.T @ v, [V0 @ U0, V1 @ U1]])
        logdet = direct + sd0 * V0 @ x0 + sd1 * V1 @ x1
        logdet[:K1] += self._threshold_sums(leverage * t.wa, leverage * t.wb)[0]
        pair_cross = (factor.Wpair * cross).sum()
        logdet[K1 + p] += 2 * (sd0 * factor.W0 @ diag0 + sd1 * pair_cross)
        logdet[K1 + p + 1] += 2 * (sd1 * factor.W1 @ diag1 + sd0 * pair_cross)
        explicit = np.concatenate([self._threshold_sums(t.ra, t.rb)[0], self.X.T @ t.s, [S0 @ U0, S1 @ U1]])
        grad = explicit - 0.5 * logdet
        if self.swap:
            grad[K1 + p:] = grad[K1 + p:][::-1]
        return grad


def _thresholds_from(alpha):
    return np.cumsum(np.concatenate([alpha[:1], np.exp(alpha[1:])]))


def _alpha_from(theta):
    return np.concatenate([theta[:1], np.log(np.diff(theta))])


@dataclass
class MixedFit:
    """A fitted cumulative link mixed model. `converged` False: the numbers are the last iterate, for diagnosis
    only; the tables (fixed_effects, threshold_table, contrast) then hold NaN, so nothing reads as a result."""

    formula: str
    categories: list
    terms: list
    thresholds: np.ndarray
    coefficients: np.ndarray
    sds: dict
    covariance: np.ndarray | None
    log_likelihood: float
    converged: bool
    message: str
    n_observations: int
    n_participants: int
    n_images: int
    at_zero: tuple = ()
    evaluations: int = 0

    @property
    def variances(self):
        return {name: float(sd ** 2) for name, sd in self.sds.items()}

    def _estimate(self, weights, confidence):
        """A linear combination of (thresholds, coefficients) with its Wald SE, z, p and interval."""
        keys = ("estimate", "se", "z", "p", "ci_low", "ci_high")
        if not self.converged:
            return dict.fromkeys(keys, np.nan)
        estimate = float(weights @ np.concatenate([self.thresholds, self.coefficients]))
        se = float(np.sqrt(weights @ self.covariance @ weights))
        z = estimate / se
        half = stats.norm.ppf(0.5 + confidence / 2) * se
        return dict(zip(keys, (estimate, se, z, float(2 * stats.norm.sf(abs(z))), estimate - half, estimate + half)))

    def contrast(self, weights, confidence=CONFIDENCE):
        """sum(weights * coefficients) (weights over `terms`): log odds ratio of a higher answer, tested."""
        full = np.concatenate([np.zeros(len(self.thresholds)), np.asarray(weights, dtype=float)])
        return self._estimate(full, confidence)

    def fixed_effects(self, confidence=CONFIDENCE):
        """One row per coefficient (term, estimate, se, z, p, ci_low, ci_high); with two categories first the
        intercept as glmer gives it (-theta_1)."""
        rows = []
        if len(self.categories) == 2:
            rows.append({"term": "Intercept", **self._estimate(np.r_[-1.0, np.zeros(len(self.terms))], confidence)})
        for i, term in enumerate(self.terms):
            rows.append({"term": term, **self.contrast(np.eye(len(self.terms))[i], confidence)})
        return pd.DataFrame(rows, columns=["term", "estimate", "se", "z", "p", "ci_low", "ci_high"])

    def threshold_table(self):
        """One row per threshold `j|j+1` (between answers j and j+1): estimate and SE (clmm's coefficients)."""
        rows = []
        k = len(self.thresholds)
        for j in range(k):
            row = self._estimate(np.eye(k + len(self.terms))[j], CONFIDENCE)
            rows.append({"threshold": f"{self.categories[j]}|{self.categories[j + 1]}",
                         "estimate": row["estimate"], "se": row["se"]})
        return pd.DataFrame(rows, columns=["threshold", "estimate", "se"])


def _design(formula, data):
    """(response name, response values, fixed-effect matrix without the intercept, its column names)."""
    if "~" not in formula:
        raise FitError(f"The formula {formula!r} has no '~': give 'response ~ terms'.")
    response, right = (part.strip() for part in formula.split("~", 1))
    missing = [c for c in (response, *GROUPS) if c not in data.columns]
    if missing:
        raise FitError(f"The data have no column {', '.join(missing)} (formula {formula!r}; the random effects "
                       f"are {' and '.join(GROUPS)}).")
    if data[response].isna().any() or data[list(GROUPS)].isna().any(axis=None):
        raise FitError(f"The {response}, participant or image column has missing values; drop those rows first.")
    X = patsy.dmatrix(right, data, return_type="dataframe", NA_action="raise")
    if "Intercept" not in X.columns:
        raise FitError(f"The formula {formula!r} has no intercept: the thresholds take its place, so keep it.")
    X = X.drop(columns="Intercept")
    return response, data[response].to_numpy(), X.to_numpy(np.float64), list(X.columns)


def fit_cumulative_mixed(formula, data, categories=None):
    """Fit `formula` ('rating ~ model', as statsmodels' formulas read it) + (1|participant) + (1|image) to `data`.

    The response's categories are `categories` (in order) or its sorted distinct values. Returns a MixedFit;
    data the model cannot be fitted to as asked raise FitError, a fit that does not converge says so in the
    result."""
    response, values, X, terms = _design(formula, data)
    categories = list(categories) if categories is not None else sorted(pd.unique(values).tolist())
    # whole-number answers read as floats (1.0) are named as the answers they are (1), in thresholds too
    categories = [int(c) if isinstance(c, float) and c.is_integer() else c for c in categories]
    codes = pd.Categorical(values, categories=categories).codes.astype(np.int64)
    if (codes < 0).any():
        raise FitError(f"{response} has values outside {categories}.")
    participant = pd.Categorical(data["participant"]).remove_unused_categories()
    image = pd.Categorical(data["image"]).remove_unused_categories()
    common = {"formula": formula, "categories": categories, "terms": terms, "n_observations": len(values),
              "n_participants": len(participant.categories), "n_images": len(image.categories)}

    def failed(message, thresholds=(), coefficients=None, sds=(np.nan, np.nan), log_likelihood=np.nan, **more):
        return MixedFit(thresholds=np.asarray(thresholds, dtype=float),
                        coefficients=np.full(len(terms), np.nan) if coefficients is None else coefficients,
                        sds=dict(zip(GROUPS, map(float, np.abs(sds)))), covariance=None,
                        log_likelihood=log_likelihood, converged=False, message=message, **common, **more)

    used = np.unique(codes)
    if len(used) < len(categories):
        unused = [str(categories[i]) for i in range(len(categories)) if i not in set(used)]
        return failed(f"not fitted: no answer is {', '.join(unused)} (every category needs answers)")
    if len(categories) < 2:
        return failed("not fitted: every answer is the same")
    full = np.column_stack([np.ones(len(X)), X])
    if np.linalg.matrix_rank(full) < full.shape[1]:
        return failed("not fitted: the fixed effects are not all estimable from these data (a term has no answers, "
                      "or terms repeat each other)")
    laplace = _Laplace(codes, X, participant.codes.astype(np.int64), image.codes.astype(np.int64),
                       len(participant.categories), len(image.categories), len(categories) - 1)
    with threadpool_limits(limits=1, user_api="blas"):
        return _optimise(laplace, common, failed)


def _objective(laplace, to_phi):
    """-L/n and its gradient over psi: the first threshold and the logs of the gaps, beta [, the SDs]."""
    n, K1 = laplace.n, laplace.K1

    def objective(psi):
        phi = to_phi(psi)
        value, grad = laplace.value(phi, gradient=True)
        if not np.isfinite(value):
            return np.inf, np.zeros_like(psi)
        theta_grad = grad[:K1]
        alpha = psi[:K1]
        chain = np.concatenate([[theta_grad.sum()], np.exp(alpha[1:]) * np.cumsum(theta_grad[::-1])[::-1][1:]])
        full = np.concatenate([chain, grad[K1:]])
        return -value / n, -full[:len(psi)] / n

    return objective


def _optimise(laplace, common, failed):
    K1, p = laplace.K1, laplace.p
    n_par = K1 + p + 2
    counts = np.bincount(laplace.codes, minlength=K1 + 1)
    theta0 = special.logit(np.cumsum(counts)[:-1] / laplace.n)  # the proportions answering j or lower

    def phi_of(psi, sd=None):
        theta = _thresholds_from(psi[:K1])
        rest = psi[K1:] if sd is None else np.concatenate([psi[K1:], sd])
        return np.concatenate([theta, rest])

    # The pooled model (both SDs 0, so u^ = 0): thresholds and fixed effects on the right scale to start from.
    pooled = _objective(laplace, lambda psi: phi_of(psi, np.zeros(2)))
    start = optimize.minimize(pooled, np.concatenate([_alpha_from(theta0), np.zeros(p)]), jac=True, method="BFGS",
                              options={"maxiter": BFGS_MAX_ITERATIONS, "gtol": 1e-9})
    psi0 = np.concatenate([start.x, [START_SD, START_SD]])
    laplace.u[:] = 0
    result = optimize.minimize(_objective(laplace, phi_of), psi0, jac=True, method="BFGS",
                               options={"maxiter": BFGS_MAX_ITERATIONS, "gtol": 1e-9})
    phi = phi_of(result.x)
    value, grad = laplace.value(phi, gradient=True)
    if not np.isfinite(value):
        return failed("did not converge: the likelihood could not be evaluated at the optimiser's last point "
                      f"({result.message})", evaluations=laplace.evaluations)

    free = np.ones(n_par, dtype=bool)
    message = "did not converge: Newton steps did not reach the optimum"
    converged = False
    for _ in range(NEWTON_STEPS):
        hessian = _hessian(laplace, phi)
        # An SD at (numerically) zero where L falls both ways: the variance's estimate is 0; fix it there.
        for k in range(K1 + p, n_par):
            if free[k] and abs(phi[k]) < ZERO_SD and hessian[k, k] < 0:
                free[k] = False
                phi[k] = 0.0
        if not free.all():
            value, grad = laplace.value(phi, gradient=True)
        information = -hessian[np.ix_(free, free)]
        try:
            cholesky = linalg.cho_factor(information)
        except linalg.LinAlgError:
            message = "did not converge: the log-likelihood is not concave at the optimiser's last point"
            break
        step = linalg.cho_solve(cholesky, grad[free])
        decrement = float(grad[free] @ step)
        if decrement < DECREMENT_TOLERANCE:
            drifting = _drifting(-hessian[:K1 + p, :K1 + p] / laplace.n)
            if drifting is not None:
                names = np.array(_parameter_names(common, K1))[:K1 + p][drifting]
                message = ("did not converge: the data carry almost no information on " + " and ".join(names)
                           + " (estimates drifting away, as when every answer under one condition is the same)")
                break
            converged = True
            break
        for _ in range(30):
            trial = phi.copy()
            trial[free] += step
            trial_value, trial_grad = laplace.value(trial, gradient=True)
            if trial_value >= value:
                break
            step = step / 2
        else:
            message = "did not converge: no Newton step gains (the optimum is flat or the gradient inexact)"
            break
        phi, value, grad = trial, trial_value, trial_grad

    theta, beta, sd = phi[:K1], phi[K1:K1 + p], np.abs(phi[K1 + p:])
    if not converged:
        return failed(message, thresholds=theta, coefficients=beta, sds=sd, log_likelihood=value,
                      evaluations=laplace.evaluations)
    covariance = np.full((n_par, n_par), np.nan)
    covariance[np.ix_(free, free)] = linalg.cho_solve(cholesky, np.eye(int(free.sum())))
    at_zero = tuple(GROUPS[k - K1 - p] for k in range(K1 + p, n_par) if not free[k])
    return MixedFit(thresholds=theta, coefficients=beta, sds=dict(zip(GROUPS, map(float, sd))),
                    covariance=covariance[:K1 + p, :K1 + p], log_likelihood=value, converged=True,
                    message="converged" + (f"; the {' and '.join(at_zero)} variance is estimated at 0"
                                           if at_zero else ""),
                    at_zero=at_zero, evaluations=laplace.evaluations, **common)


def _drifting(information):
    """None, or which thresholds and fixed effects move along a direction the data hardly inform (the eigenvector
    of the smallest eigenvalue, when that is under MIN_INFORMATION per observation): separation."""
    values, vectors = np.linalg.eigh(information)
    if values[0] >= MIN_INFORMATION:
        return None
    weights = np.abs(vectors[:, 0])
    return weights >= 0.5 * weights.max()


def _parameter_names(common, K1):
    categories = common["categories"]
    thresholds = (["Intercept"] if K1 == 1 else  # a binary model's threshold is its intercept (negated)
                  [f"threshold {categories[j]}|{categories[j + 1]}" for j in range(K1)])
    return thresholds + list(common["terms"]) + [f"{g} SD" for g in GROUPS]


def _hessian(laplace, phi):
    """d2L/dphi2 by central differences of the exact gradient, symmetrised."""
    n_par = len(phi)
    hessian = np.empty((n_par, n_par))
    modes = laplace.u.copy()
    for k in range(n_par):
        h = HESSIAN_STEP * max(1.0, abs(phi[k]))
        columns = []
        for sign in (1, -1):
            shifted = phi.copy()
            shifted[k] += sign * h
            laplace.u = modes.copy()
            columns.append(laplace.value(shifted, gradient=True)[1])
        hessian[:, k] = (columns[0] - columns[1]) / (2 * h)
    laplace.u = modes
    return (hessian + hessian.T) / 2


def fit_binary_mixed(frame, formula="correct ~ condition"):
    """The logistic GLMM `formula` + (1|participant) + (1|image), as glmer(..., family = binomial, nAGQ = 1).

    `frame`: one row per answer, with the response (0/1 or False/True), the formula's columns, `participant`
    and `image`. fixed_effects() gives glmer's coefficients, the intercept first (log odds of a 1)."""
    response = formula.split("~", 1)[0].strip()
    if response not in frame.columns:
        raise FitError(f"The data have no column {response} (formula {formula!r}).")
    values = frame[response]
    if values.isna().any():
        raise FitError(f"{response} has missing values; drop those rows first.")
    if values.dtype == bool:
        values = values.astype(np.int64)
    if not values.isin([0, 1]).all():
        raise FitError(f"{response} must be 0/1 or False/True; found {sorted(set(values.dropna()) - {0, 1})[:5]}.")
    return fit_cumulative_mixed(formula, frame.assign(**{response: values}), categories=[0, 1])
