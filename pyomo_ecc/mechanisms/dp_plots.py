"""Pictures of the differentially private market (needs the ``plot`` extra: matplotlib).

Each function takes frames made by :mod:`pyomo_ecc.models.dp_seed000` (or any frame of the
same layout), draws on a new or given axes and returns the axes; the backend is left alone.

* :func:`welfare_distribution`: the mechanism's welfare distribution, one curve per epsilon
  (finite mode: exact probabilities of the candidates as weights);
* :func:`payments_by_epsilon`: payments by participant, one group of bars per epsilon;
* :func:`emissions_vs_renewables`: released outcomes, emissions against renewable output;
* :func:`emission_histogram`: the mechanism's emission distribution at one epsilon.
"""
import numpy as np


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt
        _, ax = plt.subplots(figsize=(6.4, 4.2))
    return ax


def welfare_distribution(values, weights_by_eps, ax=None, bins=60, unit=""):
    """Histogram densities of ``values`` (welfare of each outcome) weighted by
    ``weights_by_eps`` ``{epsilon: probabilities}``, one step curve per epsilon."""
    ax = _axes(ax)
    edges = np.histogram_bin_edges(values, bins=bins)
    for eps, w in weights_by_eps.items():
        h, _ = np.histogram(values, bins=edges, weights=w, density=True)
        ax.stairs(h, edges, label=f"ε = {eps:g}")
    ax.set_xlabel(f"social welfare {unit}".strip())
    ax.set_ylabel("probability density")
    ax.set_title("Welfare distribution of the exponential mechanism")
    ax.legend()
    return ax


def payments_by_epsilon(frame, ax=None, unit=""):
    """Bars of ``frame`` (index participant, one column per epsilon label)."""
    ax = _axes(ax)
    k = frame.shape[1]
    x = np.arange(frame.shape[0])
    w = 0.8 / max(k, 1)
    for j, col in enumerate(frame.columns):
        ax.bar(x + (j - (k - 1) / 2) * w, frame[col].to_numpy(), width=w, label=str(col))
    ax.set_xticks(x, [str(i) for i in frame.index])
    ax.axhline(0.0, color="black", lw=0.6)
    ax.set_ylabel(f"payment {unit} (negative: receives)".strip())
    ax.set_title("Payments by participant")
    ax.legend()
    return ax


def emissions_vs_renewables(emissions, renewables, ax=None):
    """Scatter of released outcomes: emissions (tCO2) against renewable output (MWh)."""
    ax = _axes(ax)
    ax.scatter(renewables, emissions, s=6, alpha=0.4)
    if len(emissions) > 2 and np.ptp(renewables) > 0:
        b, a = np.polyfit(renewables, emissions, 1)
        xs = np.linspace(np.min(renewables), np.max(renewables), 2)
        ax.plot(xs, a + b * xs, color="C3", label=f"least squares, slope {b:.3g} t/MWh")
        ax.legend()
    ax.set_xlabel("renewable output (MWh)")
    ax.set_ylabel("emissions (tCO2)")
    ax.set_title("Emissions against renewable output")
    return ax


def emission_histogram(emissions, weights=None, ax=None, bins=40, title=""):
    """Histogram (frequencies; with ``weights``: probabilities) of emissions, with its mean
    and standard deviation in the legend."""
    ax = _axes(ax)
    e = np.asarray(emissions, float)
    w = np.full(e.size, 1.0 / e.size) if weights is None else np.asarray(weights, float)
    mu = float(w @ e)
    sd = float(np.sqrt(w @ (e - mu) ** 2))
    ax.hist(e, bins=bins, weights=w, label=f"mean {mu:.2f} t, sd {sd:.2f} t")
    ax.set_xlabel("emissions (tCO2)")
    ax.set_ylabel("probability")
    ax.set_title(title or "Emission distribution")
    ax.legend()
    return ax
