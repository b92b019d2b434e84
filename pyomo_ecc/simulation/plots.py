"""Pictures of an experiment log: output by unit, LMP by hour, carbon trades, profit per agent
over rounds (one figure with four panels)."""


def plot_experiment(log, path=None, day=None):
    """Draw the four panels for ``log`` (the output and LMP panels show ``day``, default the
    last round); save to ``path`` when given. Returns the matplotlib figure. Leaves the
    backend alone (call ``matplotlib.use("Agg")`` first for files only)."""
    import matplotlib.pyplot as plt

    rounds = sorted(set(log.profits.index.get_level_values("round")))
    day = rounds[-1] if day is None else day
    fig, ax = plt.subplots(2, 2, figsize=(13, 8.5))
    out = log.output["output"].xs(day, level="round").unstack("unit")
    out.plot.area(ax=ax[0, 0], linewidth=0)
    ax[0, 0].set(title=f"output by unit, round {day}", xlabel="hour", ylabel="MW")
    lmp = log.lmp["lmp"].xs(day, level="round").unstack("bus")
    lmp.plot(ax=ax[0, 1], drawstyle="steps-mid")
    ax[0, 1].axhline(1000.0, color="grey", linestyle=":", linewidth=1, label="price cap")
    ax[0, 1].set(title=f"LMP by hour, round {day}", xlabel="hour", ylabel="yuan/MWh")
    ax[0, 1].legend(title="bus")
    c = log.carbon
    ax[1, 0].plot(c.index, c["closing_price"], color="black", marker="o", label="closing price")
    tr = log.trades.reset_index()
    if len(tr):
        ax[1, 0].scatter(tr["round"], tr["price"], s=10 + 200 * tr["quantity"] / tr["quantity"].max(),
                         alpha=0.5, label="trades (size ~ tonnes)")
    ax[1, 0].set(title="carbon allowance trades", xlabel="round", ylabel="yuan/t")
    ax[1, 0].legend()
    prof = log.profits["profit"].unstack("unit") / 1e3
    prof.plot(ax=ax[1, 1], marker=".")
    ax[1, 1].set(title="profit per agent (eq. 22)", xlabel="round", ylabel="thousand yuan")
    agents = log.meta.get("agents", {}) if isinstance(log.meta, dict) else {}
    if agents:
        ax[1, 1].legend([f"{u} ({agents.get(u, '')})" for u in prof.columns], fontsize=8)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110, bbox_inches="tight")
    return fig
