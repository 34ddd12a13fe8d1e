# mclust's side of benchmarks/bench_small.py: Mclust(X, G = 1:9) on small data sets.
#
# Run from the repository root:  Rscript benchmarks/small/mclust_select.R
# Needs R and mclust (Debian: apt-get install r-base-core r-cran-mclust).
# Writes benchmarks/small/<name>.csv (the data exactly as mclust sees them,
# except wine.csv, which it reads),
# so that gaussmix fits the same numbers) and benchmarks/small/mclust.csv:
# per data set, the median elapsed seconds of `runs` calls of
# Mclust(X, G = 1:9) (all 14 models, mclust's default hierarchical start and
# tolerance, one thread), the chosen model, G and BIC, and the machine.

suppressPackageStartupMessages(library(mclust))

runs <- 5
data(diabetes, package = "mclust")
data(thyroid, package = "mclust")
data(wreath, package = "mclust")
sets <- list(
  iris = as.matrix(datasets::iris[, 1:4]),
  diabetes = as.matrix(diabetes[, -1]),
  faithful = as.matrix(datasets::faithful),
  thyroid = as.matrix(thyroid[, -1]),
  wreath = as.matrix(wreath),
  # mclust ships no wine data: the UCI wine recognition data (178 x 13),
  # as scikit-learn's load_wine gives them, written to wine.csv once.
  wine = as.matrix(read.csv(file.path("benchmarks/small", "wine.csv")))
)
out <- "benchmarks/small"
rows <- list()
for (name in names(sets)) {
  X <- sets[[name]]
  write.csv(X, file.path(out, paste0(name, ".csv")), row.names = FALSE)
  fit <- Mclust(X, G = 1:9, verbose = FALSE)  # warm-up, and the choice
  times <- replicate(runs, system.time(Mclust(X, G = 1:9, verbose = FALSE))[["elapsed"]])
  rows[[name]] <- data.frame(
    data = name, n = nrow(X), d = ncol(X), seconds = median(times),
    seconds_min = min(times), seconds_max = max(times), runs = runs,
    model = fit$modelName, G = fit$G, bic = fit$bic
  )
  cat(sprintf("%-9s %4d x %2d  %.3f s  %s,%d\n", name, nrow(X), ncol(X), median(times), fit$modelName, fit$G))
}
table <- do.call(rbind, rows)
table$mclust <- as.character(packageVersion("mclust"))
table$r <- paste(R.version$major, R.version$minor, sep = ".")
table$date <- as.character(Sys.Date())
write.csv(table, file.path(out, "mclust.csv"), row.names = FALSE)
