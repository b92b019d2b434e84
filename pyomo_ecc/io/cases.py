"""The case library: human-editable TOML case files and :func:`load_case`.

A case file (see ``case_library/README.md`` for the full format)::

    [case]
    title = "Two-bus example"
    model = "market"          # builder in pyomo_ecc.models
    periods = 1               # or a list of labels
    dt = 1.0                  # hours, one number or one per period
    power_unit = "MW"
    currency = "$"

    [[producer]]              # options of pyomo_ecc.Producer, plus its name
    name = "G1"
    bus = "A"
    p_max = 100
    b = 20.0

    [[consumer]]              # options of pyomo_ecc.Consumer
    [[load]]                  # options of pyomo_ecc.FixedLoad

``load_case(name)`` accepts a name from the manifest (``pyomo-ecc cases`` lists them) or a
path to a ``.toml`` file. A malformed file raises :class:`~pyomo_ecc.errors.InputError` naming
the file, the section and the key.
"""
import importlib
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import pandas as pd

from pyomo_ecc.errors import InputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

#: top-level tables a case may have, besides [case]; each entry is a list of participants
PARTICIPANT_SECTIONS = ("producer", "consumer", "load")

#: model name (a case file's ``model`` key) -> builder taking a :class:`Case`; the reference
#: models of :mod:`pyomo_ecc.models` register themselves here (a case is data: the readers do
#: not import the models that build it)
MODELS = {}
#: other top-level tables a model builder may read (each builder validates its own)
OTHER_SECTIONS = ("case", "network", "data", "policy", "bus", "line", "prosumer", "storage",
                  "flexible_load", "order", "sam", "experiment")
CASE_KEYS = {"name", "title", "source", "description", "model", "periods", "dt",
             "power_unit", "currency"}


def _library():
    return resources.files("pyomo_ecc.case_library")


def _read_toml(path, text):
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"case file '{path}': not valid TOML: {e}") from None


def manifest():
    """The manifest as a dict ``{name: {file, title, source, ...}}``."""
    lib = _library()
    data = _read_toml("manifest.toml", lib.joinpath("manifest.toml").read_text(encoding="utf-8"))
    return data.get("cases", {})


def list_cases():
    """The case library as a DataFrame indexed ``case`` with title, model and source."""
    rows = [(name, e.get("title", ""), e.get("model", "market"), e.get("source", ""))
            for name, e in manifest().items()]
    return pd.DataFrame(rows, columns=["case", "title", "model", "source"]).set_index("case")


@dataclass
class Case:
    """A parsed case: ``name``, ``path``, the ``[case]`` table as ``meta`` and the raw ``data``."""

    name: str
    path: str
    meta: dict
    data: dict = field(repr=False)

    def participants(self, section):
        """The entries of ``[[section]]`` as a list of (name, options) pairs."""
        out = []
        for k, entry in enumerate(self.data.get(section, [])):
            if not isinstance(entry, dict):
                raise InputError(f"case '{self.name}': [[{section}]] entry {k} is not a table")
            opts = dict(entry)
            name = opts.pop("name", None)
            if not isinstance(name, str) or not name.isidentifier():
                raise InputError(f"case '{self.name}': [[{section}]] entry {k} needs a 'name' that is a "
                                 f"valid identifier, got {name!r}")
            out.append((name, opts))
        return out

    @property
    def model_name(self):
        return self.meta.get("model", "market")

    def build(self, model=None):
        """Build the case's default model (or ``model``, a name in :data:`MODELS`)."""
        name = model or self.model_name
        if name not in MODELS:
            # the reference models register themselves when their package is first imported
            importlib.import_module("pyomo_ecc.models")
        if name not in MODELS:
            raise InputError(f"case '{self.name}': unknown model {name!r}; models are {sorted(MODELS)}")
        return MODELS[name](self)


def _validate(name, path, data):
    unknown = [k for k in data if k not in PARTICIPANT_SECTIONS + OTHER_SECTIONS]
    if unknown:
        raise InputError(f"case file '{path}': unknown section(s) {unknown}; allowed are "
                         f"{sorted(PARTICIPANT_SECTIONS + OTHER_SECTIONS)}")
    meta = data.get("case")
    if not isinstance(meta, dict):
        raise InputError(f"case file '{path}': missing the [case] table")
    bad = [k for k in meta if k not in CASE_KEYS]
    if bad:
        raise InputError(f"case file '{path}': unknown key(s) {bad} in [case]; allowed are {sorted(CASE_KEYS)}")
    seen = {}
    for section in PARTICIPANT_SECTIONS:
        entries = data.get(section, [])
        if not isinstance(entries, list):
            raise InputError(f"case file '{path}': '{section}' must be an array of tables [[{section}]]")
        for entry in entries:
            n = entry.get("name") if isinstance(entry, dict) else None
            if n in seen:
                raise InputError(f"case file '{path}': duplicate participant name {n!r} "
                                 f"([[{seen[n]}]] and [[{section}]])")
            seen[n] = section


def load_case(name):
    """Load a case by manifest name or by path to a ``.toml`` file; see the module doc."""
    p = Path(str(name))
    if p.suffix == ".toml" and not p.is_file() and str(name) not in manifest():
        raise InputError(f"case file '{name}' does not exist")
    if p.suffix == ".toml" and p.is_file():
        path, text, key = str(p), p.read_text(encoding="utf-8"), p.stem
    else:
        cases = manifest()
        if name not in cases:
            import difflib
            close = difflib.get_close_matches(str(name), list(cases), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise InputError(f"unknown case {name!r}{hint} The case library has {sorted(cases)} "
                             f"(or give a path to a .toml file)")
        entry = cases[name]
        path = entry["file"]
        text = _library().joinpath(path).read_text(encoding="utf-8")
        key = name
    data = _read_toml(path, text)
    _validate(key, path, data)
    return Case(name=key, path=path, meta=data["case"], data=data)
