"""What every figure shares: colours, axes without pyplot, ellipses, and writing a PNG."""

from __future__ import annotations

import numpy as np

COLORS = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
]


MARKERS = "os^vD<>ph*XP"


def require_matplotlib():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ImportError(
            "gaussmix's figures need matplotlib: pip install 'gaussmix[plot]'"
        ) from None


def new_axes(ax, figsize=(6.4, 4.8), ncols=1):
    require_matplotlib()
    if ax is not None:
        return ax.figure, ax
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(1, ncols)
    return fig, axes


def color(k):
    return COLORS[k % len(COLORS)]


#: The colour of rows deemed noise (label -1), drawn apart from the clusters.
NOISE_COLOR = "#9a9a9a"


def palette(gm):
    """RGB colours of the columns of ``predict_proba``: one per component, grey for noise."""
    colors = [color(k) for k in range(gm.n_components)]
    if getattr(gm, "has_noise", False):
        colors.append(NOISE_COLOR)
    return np.array([hex_to_rgb(c) for c in colors])


def full_covariances(gm):
    """Each component's covariance as a (d, d) matrix, whatever the model."""
    from ..models import get_model, sklearn_names
    from ..structures import STRUCTURES

    K, d = gm.means_.shape
    if gm.covariance_type not in sklearn_names():
        return np.asarray(gm.covariances_)  # mclust codes: (K, d, d) already
    structure = STRUCTURES[get_model(gm.covariance_type)[0].structure]
    return structure.to_full(gm.covariances_, K, d)


def feature_names_of(gm, feature_names, d):
    if feature_names is not None:
        return list(feature_names)
    if hasattr(gm, "feature_names_in_"):
        return [str(f) for f in gm.feature_names_in_]
    return [f"x{j}" for j in range(d)]


def ellipse(ax, mean, cov, n_std, color, **kw):
    from matplotlib.patches import Ellipse

    vals, vecs = np.linalg.eigh(cov)
    angle = np.degrees(np.arctan2(vecs[1, -1], vecs[0, -1]))
    w, h = 2 * n_std * np.sqrt(np.maximum(vals[::-1], 0))
    ax.add_patch(Ellipse(mean, w, h, angle=angle, fill=False, color=color, **kw))


def point_colors(gm, X, soft):
    """RGB per row: its most probable component's colour, or (``soft``) the blend by responsibility."""
    resp = gm.predict_proba(X)
    colors = palette(gm)
    if soft:
        return np.clip(resp @ colors, 0, 1)
    return colors[resp.argmax(axis=1)]


def hex_to_rgb(h):
    return [int(h[i : i + 2], 16) / 255 for i in (1, 3, 5)]


def save_figure(fig, path, dpi=110):
    """Write a figure as PNG, atomically."""
    from ..io.atomic import atomic_write

    atomic_write(path, lambda fh: fig.savefig(fh, format="png", dpi=dpi))
    return path
