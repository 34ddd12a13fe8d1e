# How many EM iterations mclust's Mclust(X, G = 1:9) runs in each cell, for
# benchmarks/small/compare_iterations.py: the work that bench_small.py times.
#
# Run from the repository root:  Rscript benchmarks/small/mclust_iterations.R
# Needs R and mclust (Debian: apt-get install r-base-core r-cran-mclust).
# For each data set written by mclust_select.R, each model of
# mclust.options("emModelNames") and G = 1..9, runs what mclustBIC runs: the
# hierarchical start (hc on mclust.options("hcUse")), then me() from its
# G-group partition (G = 1: the one-component fit, one step). Writes
# benchmarks/small/mclust_iterations.csv: data, G, model, iterations, loglik
# (NA where mclust's fit fails).

suppressPackageStartupMessages(library(mclust))

out <- "benchmarks/small"
rows <- list()
for (name in c("iris", "diabetes", "faithful", "thyroid", "wreath", "wine")) {
  X <- as.matrix(read.csv(file.path(out, paste0(name, ".csv"))))
  pairs <- hc(X, modelName = "VVV", use = mclust.options("hcUse"))
  for (G in 1:9) {
    z <- unmap(hclass(pairs, G))
    for (model in mclust.options("emModelNames")) {
      if (G == 1) {
        fit <- tryCatch(mvn(model, X), error = function(e) NULL)
        iterations <- 1
      } else {
        fit <- tryCatch(me(data = X, modelName = model, z = z), error = function(e) NULL)
        iterations <- if (is.null(fit)) NA else attr(fit, "info")[[1]]
      }
      loglik <- if (is.null(fit) || is.null(fit$loglik)) NA else fit$loglik
      rows[[length(rows) + 1]] <- data.frame(data = name, G = G, model = model,
                                             iterations = iterations, loglik = loglik)
    }
  }
  cat(name, "done\n")
}
write.csv(do.call(rbind, rows), file.path(out, "mclust_iterations.csv"), row.names = FALSE)
