"""The dataset registry: every name and spec kind `load_dataset` accepts, declared by its server.

Each module of `cnnjax/data/builders/` registers what it serves when it is imported (importing
`cnnjax.data` imports them all):

  - `"embedded"`: a name (`mnist5k`, `digits`) whose data ships inside an installed wheel; its
    builder prepares it into the data dir on first use;
  - `"local"`: a file format read from a directory the user names (`idx:<dir>`); its builder
    prepares that directory, and `raw_of` lists the tfds datasets whose raw files it reads (the
    suggestion when such a tfds dataset is not prepared);
  - `"tfds"`: a tfds name cnnjax knows the pixel statistics of (any other tfds name prepared in
    the data dir loads too, as `unlisted_tfds`).

`cnnjax.data.datasets` resolves a spec through `lookup`; `list_datasets()` and the "accepted are
..." messages are derived from `entries()`. Every spec also accepts `subset.SUBSET_OPTIONS`.

    register(Entry("mnist5k", "embedded", builder=Mnist5k, options={"size": int}, stats=...))
"""

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from cnnjax import choices
from cnnjax.data.sources import SQUARE_OPTIONS
from cnnjax.data.subset import SUBSET_OPTIONS

KINDS = ("embedded", "tfds", "local")
OPTION_TYPES = (bool, int, float, str)

Stats = tuple[tuple[float, ...], tuple[float, ...]]


@dataclasses.dataclass(frozen=True)
class Entry:
    """One dataset name or spec kind.

    Attributes:
      name: what the user types: `mnist5k`, `cifar10`, or a local kind's prefix `idx`.
      kind: one of `KINDS`.
      builder: embedded: `builder(data_dir=..., file_format=...)`; local:
        `builder(source=<dir>, root=<data dir>, file_format=..., **options)`; a tfds
        `DatasetBuilder` either way. None for tfds names (tfds has their builders).
      options: spec options (`?key=value`) beyond `SUBSET_OPTIONS`, name → type
        (bool, int, float or str).
      stats: per-channel (mean, std) of pixels in [0, 1]; None: the prepared data's metadata.
      raw_of: local kinds: the tfds names whose raw files this kind reads.
    """

    name: str
    kind: str
    builder: Callable[..., Any] | None = None
    options: Mapping[str, type] = dataclasses.field(default_factory=dict)
    stats: Stats | None = None
    raw_of: tuple[str, ...] = ()

    def __post_init__(self):
        choices.check("dataset entry kind", self.kind, KINDS)
        if (self.builder is None) != (self.kind == "tfds"):
            raise ValueError(
                f"dataset {self.name!r} of kind {self.kind!r}: embedded and local entries need "
                f"a builder, tfds entries take none (tfds has it)"
            )
        clash = sorted(set(self.options) & set(SUBSET_OPTIONS))
        if clash:
            raise ValueError(f"dataset {self.name!r}: options {clash} are every spec's already")
        for key, kind in self.options.items():
            choices.check(f"type of option {key!r}", kind, OPTION_TYPES)
        if self.raw_of and self.kind != "local":
            raise ValueError(f"dataset {self.name!r}: only local kinds read raw files (raw_of)")

    @property
    def form(self) -> str:
        """How the user writes it: `mnist5k`, or `idx:<dir>` for a local kind."""
        return f"{self.name}:<dir>" if self.kind == "local" else self.name

    @property
    def accepted_options(self) -> dict[str, type]:
        """Every option this entry's specs take: its own plus `SUBSET_OPTIONS`."""
        return {**self.options, **SUBSET_OPTIONS}


_ENTRIES: dict[str, Entry] = {}


def register(entry: Entry) -> Entry:
    """Adds `entry`; raises ValueError if its name is taken (names are unique across kinds)."""
    if not entry.name.replace("_", "").isalnum():
        raise ValueError(f"dataset name {entry.name!r} must be letters, digits and '_'")
    if entry.name in _ENTRIES:
        taken = _ENTRIES[entry.name]
        raise ValueError(
            f"dataset {entry.name!r} is already registered (a {taken.kind} entry, builder "
            f"{getattr(taken.builder, '__qualname__', None)}); choose another name"
        )
    _ENTRIES[entry.name] = entry
    return entry


def unregister(name: str) -> Entry:
    """Removes and returns the entry `name` (for tests and plug-ins replacing one)."""
    if name not in _ENTRIES:
        raise choices.unknown("dataset", name, sorted(_ENTRIES))
    return _ENTRIES.pop(name)


def entries(kind: str | None = None) -> list[Entry]:
    """Registered entries (of one `kind` if given), sorted by name."""
    if kind is not None:
        choices.check("dataset entry kind", kind, KINDS)
    return sorted((e for e in _ENTRIES.values() if kind in (None, e.kind)), key=lambda e: e.name)


def forms() -> list[str]:
    """What the user may type: embedded names, tfds names, then `kind:<dir>` forms."""
    return [e.form for kind in KINDS for e in entries(kind)]


def lookup(name: str) -> Entry | None:
    """The entry of `name`; a tfds name with a config (`imagenette/320px`) finds its base name's."""
    if name in _ENTRIES:
        return _ENTRIES[name]
    base = _ENTRIES.get(name.split("/")[0])
    return base if base is not None and base.kind == "tfds" else None


def raw_reader(tfds_name: str) -> Entry | None:
    """The local kind that reads the raw files of tfds dataset `tfds_name` (base name), if any."""
    base = tfds_name.split("/")[0]
    return next((e for e in entries("local") if base in e.raw_of), None)


def unlisted_tfds(name: str) -> Entry:
    """The entry of a tfds name nobody registered: tfds options, statistics from its metadata."""
    return Entry(name, "tfds", options=SQUARE_OPTIONS)
