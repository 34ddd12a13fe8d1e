"""The exceptions and warnings that gaussmix raises beyond NumPy's and scikit-learn's."""


class DegenerateCovarianceError(ValueError):
    """A covariance is not positive definite, so the Gaussian density is undefined."""


class DegenerateComponentWarning(UserWarning):
    """A component collapsed or emptied during EM; the fit handled it as documented."""


__all__ = ["DegenerateCovarianceError", "DegenerateComponentWarning"]
