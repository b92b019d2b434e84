"""Progress bars: tqdm when it is installed (the ``progress`` extra) and asked for, imported on
first use (importing pyomo_ecc needs only the core requirements)."""


def tqdm(it, **kw):
    """tqdm's progress bar over ``it`` when tqdm is installed and not ``disable``-d; else ``it``."""
    if kw.get("disable"):
        return it
    try:
        from tqdm.auto import tqdm as bar
    except ImportError:  # pragma: no cover - tqdm is optional
        return it
    return bar(it, **kw)
