# The reference fits for tests/analysis/test_clmm.py: R's ordinal::clmm (K = 5) and lme4::glmer (K = 2,
# Laplace, nAGQ = 1) on the seeded data sets that generate.py writes beside this file.
# Usage: Rscript reference.R DATA_FOLDER OUT.csv
# Writes one row per fit and parameter: fit, parameter, estimate, se. Parameters: the thresholds ("1|2", ...),
# the fixed effects in R's names ("modelA", "modelA:methodIG", "(Intercept)"), "participant_variance",
# "image_variance" and "log_likelihood"; "singular" is 1 where lme4 calls the fit singular (a variance at 0).
# glmer is run as its defaults do it (fit "..._glmer_default") and with the random effects' modes solved to
# convergence (tolPwrss 1e-12 instead of 1e-7) and bobyqa run to rhoend 1e-10: with its defaults glmer evaluates
# the Laplace log-likelihood at modes that are not converged, 1e-4 to 3e-4 below its value at the true modes, and
# stops up to 2e-3 (relative) away from the optimum of the function it means to maximise. clmm solves its modes
# to max|gradient| < 1e-4 and runs nlminb to a relative tolerance of 1e-10: its defaults are the reference.
suppressPackageStartupMessages({library(ordinal); library(lme4)})
args <- commandArgs(trailingOnly = TRUE)
folder <- args[1]
levels_of <- list(model = c("N", "A", "M2"), method = c("VG", "IG", "SG"), condition = c("none", "N_VG", "M2_VG"))

read_case <- function(name) {
  data <- read.csv(file.path(folder, name), stringsAsFactors = FALSE)
  for (column in intersect(names(levels_of), names(data))) data[[column]] <- factor(data[[column]], levels_of[[column]])
  data$participant <- factor(data$participant)
  data$image <- factor(data$image)
  data
}

rows <- list()
add <- function(fit, parameter, estimate, se = NA) {
  rows[[length(rows) + 1]] <<- data.frame(fit = fit, parameter = parameter, estimate = estimate, se = se)
}
random <- "+ (1 | participant) + (1 | image)"

fit_clmm <- function(fit, name, formula) {
  data <- read_case(name)
  data$rating <- factor(data$rating, ordered = TRUE)
  model <- clmm(as.formula(paste(formula, random)), data = data)
  se <- sqrt(diag(vcov(model)))
  for (parameter in names(coef(model))) add(fit, parameter, coef(model)[[parameter]], se[[parameter]])
  variances <- VarCorr(model)
  for (group in c("participant", "image")) add(fit, paste0(group, "_variance"), variances[[group]][1, 1])
  add(fit, "log_likelihood", as.numeric(logLik(model)))
}

EXACT <- glmerControl(optimizer = "bobyqa", tolPwrss = 1e-12, optCtrl = list(rhoend = 1e-10, maxfun = 1e5))

fit_glmer <- function(fit, name, formula, control = EXACT) {
  data <- read_case(name)
  model <- glmer(as.formula(paste(formula, random)), data = data, family = binomial, nAGQ = 1, control = control)
  estimates <- fixef(model)
  se <- sqrt(diag(as.matrix(vcov(model))))
  for (parameter in names(estimates)) add(fit, parameter, estimates[[parameter]], se[[parameter]])
  variances <- as.data.frame(VarCorr(model))
  for (group in c("participant", "image")) add(fit, paste0(group, "_variance"), variances$vcov[variances$grp == group])
  add(fit, "log_likelihood", as.numeric(logLik(model)))
  add(fit, "singular", as.numeric(isSingular(model)))
}

fit_clmm("crossed_clmm", "crossed.csv", "rating ~ model")
fit_glmer("crossed_glmer", "crossed.csv", "agree ~ model")
fit_clmm("near_zero_clmm", "near_zero.csv", "rating ~ model")
fit_glmer("near_zero_glmer", "near_zero.csv", "agree ~ model")
fit_clmm("incomplete_clmm", "incomplete.csv", "rating ~ model * method")
fit_glmer("incomplete_glmer", "incomplete.csv", "agree ~ model * method")
fit_glmer("tasks_glmer", "tasks.csv", "correct ~ condition")
fit_glmer("crossed_glmer_default", "crossed.csv", "agree ~ model", glmerControl())
fit_glmer("tasks_glmer_default", "tasks.csv", "correct ~ condition", glmerControl())
write.csv(do.call(rbind, rows), args[2], row.names = FALSE)
