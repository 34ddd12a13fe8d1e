"""The exceptions and warnings that gaussmix raises beyond NumPy's and scikit-learn's."""


#: scikit-learn's words for a covariance that cannot be inverted; gaussmix's
#: messages begin with them, then say which component and what to do.
ILL_DEFINED = (
    "Fitting the mixture model failed because some components have ill-defined empirical "
    "covariance (for instance caused by singleton or collapsed samples). Try to decrease the "
    "number of components, increase reg_covar, or scale the input data."
)


class DegenerateCovarianceError(ValueError):
    """A covariance is not positive definite, so the Gaussian density is undefined."""


class DegenerateComponentWarning(UserWarning):
    """A component collapsed or emptied during EM; the fit handled it as documented."""


class MissingValuesWarning(UserWarning):
    """The missing values leave part of the model unidentified (a pair of features never
    observed together), or the start had to fill them in."""


__all__ = ["DegenerateCovarianceError", "DegenerateComponentWarning", "MissingValuesWarning", "ILL_DEFINED"]


class UnavailableMethodError(AttributeError, ValueError):
    """A method these settings do not offer (``partial_fit`` with a prior or a noise component).

    An ``AttributeError``, so that ``hasattr`` is False as scikit-learn's
    ``available_if`` has it; a ``ValueError`` too, for a bad setting.
    """
