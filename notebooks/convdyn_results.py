"""Load a convdyn results file (HDF5, schema version 1, docs/results-format.md) into numpy + dataclasses.

    import convdyn_results as cr
    res = cr.load(cr.results_path())               # $CONVDYN_RESULTS, else <repo>/results.h5 (`make demo`)
    lam = res.layers["area_conv.0"].eigenvalues    # complex128, best first (order given by `.which`)

Everything is read into memory and the file is closed before `load` returns. Files with another
`schema_version` raise `SchemaError`; anything else that is not a readable convdyn results file
(missing, not HDF5, truncated, no `schema_version` or `/layers`) raises `ResultsError`, always naming
the file. `SchemaError` is a subclass of `ResultsError`.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np

SUPPORTED = 1
"""The results schema version this loader reads (docs/results-format.md)."""

ROOT_ATTRS = ("schema_version", "convdyn_version", "checkpoint", "checkpoint_sha256", "architecture",
              "command_line", "created_utc")
LAYER_ATTRS = ("n", "channels", "height", "width", "kernel", "padding", "parametrisation", "method", "which",
               "k", "dtype", "device", "seconds", "tol", "matvecs", "restarts", "stop_reason", "all_converged")


class ResultsError(Exception):
    """The file is not a readable convdyn results file (the message names the file)."""


class SchemaError(ResultsError):
    """The file is a convdyn results file of a schema version this loader does not support."""


@dataclass
class LayerSpectrum:
    """One `/layers/<name>` group: the spectrum of one recurrent operator."""
    name: str
    eigenvalues: np.ndarray                       # complex128, (k,), in the order of `which`
    residuals: Optional[np.ndarray] = None        # float64, (k,); only with eigenvectors
    converged: Optional[np.ndarray] = None        # bool, (k,)
    eigenvectors: Optional[np.ndarray] = None     # complex, (k, C, H, W), unit norm
    n: Optional[int] = None
    channels: Optional[int] = None
    height: Optional[int] = None
    width: Optional[int] = None
    kernel: Optional[int] = None
    padding: Optional[str] = None
    parametrisation: Optional[str] = None
    method: Optional[str] = None
    which: Optional[str] = None
    k: Optional[int] = None
    dtype: Optional[str] = None
    device: Optional[str] = None
    seconds: Optional[float] = None
    tol: Optional[float] = None
    matvecs: Optional[int] = None
    restarts: Optional[int] = None
    stop_reason: Optional[str] = None
    all_converged: Optional[bool] = None
    attrs: Dict[str, Any] = field(default_factory=dict, repr=False)   # every attribute, normalised

    def __repr__(self):
        vec = "none" if self.eigenvectors is None else "x".join(map(str, self.eigenvectors.shape))
        return (f"LayerSpectrum({self.name!r}, n={self.n}, C,H,W={self.shape}, method={self.method!r}, "
                f"which={self.which!r}, k={len(self.eigenvalues)}, max Re={self.max_real:.6g}, "
                f"all_converged={self.all_converged}, eigenvectors={vec})")

    @property
    def shape(self):
        """The layer's state shape (C, H, W)."""
        return (self.channels, self.height, self.width)

    @property
    def has_vectors(self) -> bool:
        return self.eigenvectors is not None

    @property
    def complete(self) -> bool:
        """True when every eigenvalue of the operator is stored (k == n)."""
        return self.n is not None and len(self.eigenvalues) == self.n

    @property
    def converged_mask(self) -> np.ndarray:
        """Boolean mask of converged pairs (all True when the file has no `converged` dataset)."""
        if self.converged is None:
            return np.ones(len(self.eigenvalues), dtype=bool)
        return self.converged

    @property
    def max_real(self) -> float:
        """Largest real part among the stored eigenvalues (NaN when none are stored)."""
        return float(np.max(self.eigenvalues.real)) if len(self.eigenvalues) else float("nan")

    @property
    def margin(self) -> float:
        """Stability margin of the continuous-time dynamics, 1 - max Re(lambda) (> 0: stable)."""
        return 1.0 - self.max_real


@dataclass
class Results:
    """A whole results file."""
    path: str
    schema_version: int
    convdyn_version: Optional[str] = None
    checkpoint: Optional[str] = None
    checkpoint_sha256: Optional[str] = None
    architecture: Optional[str] = None
    command_line: Optional[str] = None
    created_utc: Optional[str] = None
    layers: Dict[str, LayerSpectrum] = field(default_factory=dict)
    # `/stability` (not specified yet): None, or {"attrs": {...}, "datasets": {name: array},
    # "groups": {name: <same structure>}}
    stability: Optional[Dict[str, Any]] = None
    attrs: Dict[str, Any] = field(default_factory=dict, repr=False)   # every root attribute, normalised

    def __repr__(self):
        return (f"Results({self.path!r}, schema {self.schema_version}, {self.architecture!r}, "
                f"layers={list(self.layers)}, stability={'yes' if self.stability is not None else 'no'})")


def results_path() -> str:
    """Results file the notebooks read: $CONVDYN_RESULTS, else the repository's results.h5 (`make demo`)."""
    env = os.environ.get("CONVDYN_RESULTS")
    if env:
        return env
    return str(Path(__file__).resolve().parent.parent / "results.h5")


def discrete_map(eigenvalues, alpha: float = 0.2) -> np.ndarray:
    """Eigenvalues mu = (1 - alpha) + alpha * lambda of the discrete-time CordsNet update."""
    return (1.0 - alpha) + alpha * np.asarray(eigenvalues)


def natural_key(name: str):
    """Sort key putting area_conv.10 after area_conv.9."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


# ---------------------------------------------------------------------------------------------------
def _normalise(value):
    """HDF5 attribute -> plain Python/numpy: bytes -> str, numpy scalars -> Python scalars."""
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, np.ndarray):
        if value.dtype.kind in ("S", "O", "U"):
            out = [_normalise(v) for v in value.ravel().tolist()]
            return out[0] if value.ndim == 0 else out
        return value.item() if value.ndim == 0 else value
    if isinstance(value, np.generic):
        return value.item()
    return value


def _read_dataset(ds) -> np.ndarray:
    data = ds[()]
    if isinstance(data, np.ndarray) and data.dtype.names:
        names = data.dtype.names
        if len(names) == 2 and set(names) == {"r", "i"}:        # compound {r, i} not mapped by h5py
            data = data["r"] + 1j * data["i"]
    elif isinstance(data, (bytes, np.bytes_)) or (isinstance(data, np.ndarray) and data.dtype.kind == "S"):
        data = _normalise(data)
    return data


def _read_group(group) -> Dict[str, Any]:
    import h5py
    out = {"attrs": {k: _normalise(v) for k, v in group.attrs.items()}, "datasets": {}, "groups": {}}
    for name in sorted(group.keys(), key=natural_key):
        obj = group.get(name)
        if isinstance(obj, h5py.Group):
            out["groups"][name] = _read_group(obj)
        elif isinstance(obj, h5py.Dataset):
            out["datasets"][name] = _read_dataset(obj)
    return out


def _coerce(name: str, value):
    if value is None:
        return None
    if name == "all_converged":
        return bool(value)
    if name in ("n", "channels", "height", "width", "kernel", "k", "matvecs", "restarts"):
        return int(value)
    if name in ("seconds", "tol"):
        return float(value)
    return value if isinstance(value, str) else str(value)


def _read_layer(path: str, name: str, group, vectors: bool) -> LayerSpectrum:
    import h5py
    if not isinstance(group, h5py.Group):
        raise ResultsError(f"{path}: /layers/{name} is not a group")
    if "eigenvalues" not in group:
        raise ResultsError(f"{path}: /layers/{name} has no 'eigenvalues' dataset")
    attrs = {k: _normalise(v) for k, v in group.attrs.items()}
    lam = np.asarray(_read_dataset(group["eigenvalues"])).astype(np.complex128).reshape(-1)
    residuals = converged = eigenvectors = None
    if "residuals" in group:
        residuals = np.asarray(_read_dataset(group["residuals"]), dtype=np.float64).reshape(-1)
    if "converged" in group:
        converged = np.asarray(_read_dataset(group["converged"])).reshape(-1).astype(bool)
    if vectors and "eigenvectors" in group:
        eigenvectors = np.asarray(_read_dataset(group["eigenvectors"]))
        if not np.iscomplexobj(eigenvectors):
            eigenvectors = eigenvectors.astype(np.complex128)
        if eigenvectors.ndim != 4:
            raise ResultsError(f"{path}: /layers/{name}/eigenvectors has shape {eigenvectors.shape}, "
                               "expected (k, C, H, W)")
    known = {a: _coerce(a, attrs.get(a)) for a in LAYER_ATTRS}
    return LayerSpectrum(name=name, eigenvalues=lam, residuals=residuals, converged=converged,
                         eigenvectors=eigenvectors, attrs=attrs, **known)


def load(path=None, vectors: bool = True) -> Results:
    """Read a results file (default: `results_path()`). `vectors=False` skips the eigenvectors."""
    path = str(results_path() if path is None else path)
    p = Path(path)
    if not p.exists():
        raise ResultsError(f"{path}: no such file; write one with `make demo` (results.h5) or `convdyn spectrum "
                           "CHECKPOINT --all --vectors --out FILE.h5`, and set CONVDYN_RESULTS to its path")
    if not p.is_file():
        raise ResultsError(f"{path}: not a regular file")
    try:
        import h5py
    except ImportError as e:            # pragma: no cover - environment problem
        raise ResultsError(f"{path}: h5py is not available in this Python ({e})") from e
    try:
        is_hdf5 = h5py.is_hdf5(path)
    except OSError as e:
        raise ResultsError(f"{path}: cannot be read ({e})") from e
    if not is_hdf5:
        raise ResultsError(f"{path}: not an HDF5 file (no HDF5 signature); is it a convdyn results file?")
    try:
        with h5py.File(path, "r") as f:
            root = {k: _normalise(v) for k, v in f.attrs.items()}
            if "schema_version" not in root:
                raise ResultsError(f"{path}: not a convdyn results file (no 'schema_version' root attribute)")
            found = root["schema_version"]
            try:
                version = int(found)
            except (TypeError, ValueError):
                raise SchemaError(f"{path}: results schema version {found!r} is not supported; this loader "
                                  f"reads schema version {SUPPORTED}") from None
            if version != SUPPORTED:
                raise SchemaError(f"{path}: results schema version {version} is not supported; this loader "
                                  f"(notebooks/convdyn_results.py) reads schema version {SUPPORTED}. "
                                  "Use the notebooks of the convdyn version that wrote it, or re-run convdyn to rewrite the file.")
            if "layers" not in f or not isinstance(f["layers"], h5py.Group):
                raise ResultsError(f"{path}: not a convdyn results file (no '/layers' group)")
            layers = {name: _read_layer(path, name, f["layers"][name], vectors)
                      for name in sorted(f["layers"].keys(), key=natural_key)}
            stability = _read_group(f["stability"]) if isinstance(f.get("stability"), h5py.Group) else None
    except ResultsError:
        raise
    except (OSError, KeyError, ValueError, TypeError, RuntimeError) as e:
        raise ResultsError(f"{path}: cannot be read as a convdyn results file ({type(e).__name__}: {e})") from e
    known = {a: (root.get(a) if a == "schema_version" or root.get(a) is None else str(root.get(a)))
             for a in ROOT_ATTRS}
    known["schema_version"] = version
    return Results(path=path, layers=layers, stability=stability, attrs=root, **known)
