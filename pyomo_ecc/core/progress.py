"""Progress bars: tqdm when it is installed (the ``progress`` extra), silent otherwise."""
try:
    from tqdm.auto import tqdm  # noqa: F401
except ImportError:  # pragma: no cover - tqdm is optional
    def tqdm(iterable=None, **kwargs):
        """Stand-in for ``tqdm.tqdm`` when tqdm is not installed: the iterable itself."""
        return iterable
