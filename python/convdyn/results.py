"""convdyn.results: load a convdyn results file (HDF5, schema versions 1 to 5, docs/results-format.md) into
numpy + dataclasses.

    import convdyn.results as cr
    res = cr.load(cr.results_path())               # $CONVDYN_RESULTS, else <repo>/results.h5 (`make demo`)
    lam = res.layers["area_conv.0"].eigenvalues    # complex128, best first (order given by `.which`)
    st = res.stability                              # None, or Stability (`convdyn stability --out/--append`)
    st.areas["area_conv.0"].margin, st.areas["area_conv.0"].inputs[1].spectral_radius
    run = res.run                                   # None, or Run (`convdyn run --out`): logits, predictions
    r0 = run.recorded["area_conv.0"].read(images=slice(0, 4))   # recorded activity, read on demand

Everything is read into memory and the file is closed before `load` returns, except the recorded activity
of `convdyn run --record` (possibly tens of GB), which `Recording.read` reads a slice at a time. Files with another
`schema_version` raise `SchemaError`; anything else that is not a readable convdyn results file
(missing, not HDF5, truncated, no `schema_version` or `/layers`) raises `ResultsError`, always naming
the file. `SchemaError` is a subclass of `ResultsError`.

Needs only numpy and h5py (h5py is imported when a file is read). The figures are in `convdyn.plot`.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

SUPPORTED = 5
"""The results schema version convdyn writes now (docs/results-format.md)."""
READABLE = (1, 2, 3, 4, 5)
"""The schema versions this loader reads: version 2 only added attributes (`message`) and a stop reason, version 3
the datasets `condition` and `error_bound`, version 4 pseudospectra and transient growth, version 5 `/run`."""

ROOT_ATTRS = ("schema_version", "convdyn_version", "checkpoint", "checkpoint_sha256", "architecture",
              "command_line", "created_utc")
LAYER_ATTRS = ("n", "channels", "height", "width", "kernel", "padding", "parametrisation", "method", "which",
               "k", "dtype", "device", "seconds", "tol", "matvecs", "restarts", "stop_reason", "all_converged")
LEVEL_ATTRS = ("verdict_global", "verdict_linear", "verdict_fixed_points")
"""The verdict by level (global certificate, linear regime, fixed points), written since convdyn 0.1 with #18;
None in files written before."""
STABILITY_ATTRS = ("verdict", "alpha", "inputs") + LEVEL_ATTRS
AREA_STABILITY_ATTRS = ("verdict", "reason", "n", "abscissa", "margin", "spectral_radius", "norm2", "norm2_residual",
                        "norm2_converged", "numerical_abscissa", "numerical_abscissa_residual",
                        "numerical_abscissa_converged", "norm_over_radius", "contraction", "transient_amplification",
                        "abscissa_error_bound") + LEVEL_ATTRS
ZOO_AREA_STABILITY_ATTRS = ("spectral_radius_error_bound",)
"""Written for the zoo's cell layers only (schema 4); None for CordsNet areas."""
FIXED_POINT_ATTRS = ("input", "reached", "status", "fixed_point_residual", "steps", "active_fraction", "verdict",
                     "masked_abscissa", "spectral_radius", "spectral_radius_error_bound")
TRANSIENT_ATTRS = ("peak", "peak_step", "peak_time", "peak_at_limit", "converged", "matvecs")
EIGEN_BLOCK_ATTRS = ("method", "which", "tol", "all_converged", "matvecs")
VERDICTS = ("STABLE", "UNSTABLE", "UNDECIDED")


class ResultsError(Exception):
    """The file is not a readable convdyn results file (the message names the file)."""


class SchemaError(ResultsError):
    """The file is a convdyn results file of a schema version this loader does not support."""


@dataclass
class Pseudospectrum:
    """`/layers/<name>/pseudospectrum` (schema 4, `convdyn pseudospectrum`): sigma_min(zI - W) on a grid, the
    eps-pseudospectral abscissae and the distance to instability."""
    re: np.ndarray                                # float64, (nx,): Re z of the grid columns
    im: np.ndarray                                # float64, (ny,): Im z of the grid rows
    sigma_min: np.ndarray                         # float64, (ny, nx): sigma_min((re[j] + i im[i]) I - W)
    eigenvalues: np.ndarray                       # complex128, (n,): every eigenvalue, by decreasing Re
    eps: np.ndarray                               # float64, (m,): levels of the abscissae
    abscissa: np.ndarray                          # float64, (m,): max Re z with sigma_min <= eps (a lower bound)
    abscissa_im: np.ndarray                       # float64, (m,): Im z of that point
    abscissa_at_right_edge: np.ndarray            # bool, (m,): the contour reaches the grid's right edge
    abscissa_from_eigenvalues: np.ndarray         # bool, (m,): max Re lambda + eps (grid too coarse for eps)
    threshold: Optional[float] = None             # the stability line Re z = threshold
    distance_to_instability: Optional[float] = None  # min over y of sigma_min((threshold + iy) I - W)
    distance_im: Optional[float] = None           # the y attaining it
    unstable: Optional[bool] = None               # an eigenvalue has Re >= threshold (distance 0)
    max_real: Optional[float] = None
    all_converged: Optional[bool] = None
    attrs: Dict[str, Any] = field(default_factory=dict, repr=False)

    def __repr__(self):
        return (f"Pseudospectrum({len(self.im)}x{len(self.re)} grid, n={len(self.eigenvalues)}, "
                f"distance_to_instability={self.distance_to_instability}, eps={list(self.eps)})")


@dataclass
class LayerSpectrum:
    """One `/layers/<name>` group: the spectrum of one recurrent operator."""
    name: str
    eigenvalues: np.ndarray                       # complex128, (k,), in the order of `which`
    residuals: Optional[np.ndarray] = None        # float64, (k,); only with eigenvectors
    converged: Optional[np.ndarray] = None        # bool, (k,)
    eigenvectors: Optional[np.ndarray] = None     # complex, (k, C, H, W), unit norm
    condition: Optional[np.ndarray] = None        # float64, (k,); with --condition (NaN: unmatched)
    error_bound: Optional[np.ndarray] = None      # float64, (k,); condition * residual
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
    pseudospectrum: Optional[Pseudospectrum] = None  # with `convdyn pseudospectrum`
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
class EigenBlock:
    """An eigenvalue subgroup of `/stability` (`linear`, `largest`, `masked`, `discrete`)."""
    name: str
    eigenvalues: np.ndarray                       # complex128, (k,), in the order of `which`
    residuals: Optional[np.ndarray] = None        # float64, (k,)
    method: Optional[str] = None
    which: Optional[str] = None
    tol: Optional[float] = None
    all_converged: Optional[bool] = None
    matvecs: Optional[int] = None
    attrs: Dict[str, Any] = field(default_factory=dict, repr=False)

    def __repr__(self):
        return (f"EigenBlock({self.name!r}, method={self.method!r}, which={self.which!r}, k={len(self.eigenvalues)}, "
                f"max Re={self.max_real:.6g}, max |.|={self.max_abs:.6g}, all_converged={self.all_converged})")

    @property
    def max_real(self) -> float:
        return float(np.max(self.eigenvalues.real)) if len(self.eigenvalues) else float("nan")

    @property
    def max_abs(self) -> float:
        return float(np.max(np.abs(self.eigenvalues))) if len(self.eigenvalues) else float("nan")


@dataclass
class FixedPointStability:
    """`/stability/<area>/inputs/<i>`: the area's fixed point for one input (i = 0: the zero input)."""
    index: int
    input: Optional[str] = None                   # "zero", "image 0", ...
    reached: bool = False                         # a fixed point was reached
    status: Optional[str] = None                  # converged, oscillating, diverging, max-steps
    fixed_point_residual: Optional[float] = None  # ||F(r) - r|| / max(1, ||r||)
    steps: Optional[int] = None
    active_fraction: Optional[float] = None       # fraction of the area's units with relu' = 1
    verdict: Optional[str] = None
    masked_abscissa: Optional[float] = None       # max Re lambda(D W); only when reached
    spectral_radius: Optional[float] = None       # of the discrete map (1 - alpha) I + alpha D W; only when reached
    spectral_radius_error_bound: Optional[float] = None  # its eigenvalue error bound (schema 3)
    masked: Optional[EigenBlock] = None           # eigenvalues of D W; only when reached
    discrete: Optional[EigenBlock] = None         # eigenvalues of the discrete map; only when reached
    attrs: Dict[str, Any] = field(default_factory=dict, repr=False)

    def __repr__(self):
        return (f"FixedPointStability({self.index}, {self.input!r}, reached={self.reached}, status={self.status!r}, "
                f"residual={self.fixed_point_residual}, rho(map)={self.spectral_radius}, verdict={self.verdict})")

    @property
    def discrete_margin(self) -> float:
        """1 - spectral radius of the discrete map at the fixed point (NaN when not reached)."""
        return float("nan") if self.spectral_radius is None else 1.0 - self.spectral_radius


@dataclass
class TransientGrowth:
    """`/stability/<area>/transient_growth` (schema 4): max_t ||M^t||_2 of the linear model's step
    M = (1 - alpha) I + alpha W over 0 <= t <= the root's transient_max_steps."""
    peak: Optional[float] = None                  # the largest ||M^t||_2 (1 at t = 0: no growth)
    peak_step: Optional[int] = None               # the t attaining it (time steps)
    peak_time: Optional[float] = None             # peak_step * alpha, in time constants
    peak_at_limit: Optional[bool] = None          # still growing at the limit: the true peak may be larger
    converged: Optional[bool] = None              # every norm solve converged
    matvecs: Optional[int] = None
    steps: Optional[np.ndarray] = None            # every t evaluated (int64)
    norms: Optional[np.ndarray] = None            # ||M^t||_2 there
    attrs: Dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class AreaStability:
    """`/stability/<area>`: verdict, certificates and per-input fixed points of one area."""
    name: str
    verdict: Optional[str] = None                 # STABLE, UNSTABLE, UNDECIDED
    reason: Optional[str] = None
    n: Optional[int] = None
    abscissa: Optional[float] = None              # max Re lambda(W)
    margin: Optional[float] = None                # 1 - abscissa
    abscissa_error_bound: Optional[float] = None  # the abscissa's eigenvalue error bound (schema 3)
    spectral_radius: Optional[float] = None       # max |lambda(W)|
    norm2: Optional[float] = None                 # ||W||_2
    norm2_residual: Optional[float] = None
    norm2_converged: Optional[bool] = None
    numerical_abscissa: Optional[float] = None    # omega(W) = lambda_max((W + W^T) / 2)
    numerical_abscissa_residual: Optional[float] = None
    numerical_abscissa_converged: Optional[bool] = None
    norm_over_radius: Optional[float] = None      # ||W||_2 / spectral radius
    contraction: Optional[bool] = None            # ||W||_2 < 1 (converged): globally stable for every input
    transient_amplification: Optional[bool] = None  # every Re lambda < 1 but omega(W) >= 1
    verdict_global: Optional[str] = None          # STABLE when ||W||_2 < 1, else UNDECIDED (no certificate)
    verdict_linear: Optional[str] = None          # the linear regime: max Re lambda(W) < 1 within its bound
    verdict_fixed_points: Optional[str] = None    # local stability at the analysed fixed points (the worst)
    spectral_radius_error_bound: Optional[float] = None  # zoo cell layers: rho(J)'s eigenvalue error bound (schema 4)
    transient_growth: Optional[TransientGrowth] = None   # None: not computed (or a linear regime that grows)
    linear: Optional[EigenBlock] = None           # rightmost eigenvalues of W
    largest: Optional[EigenBlock] = None          # largest-magnitude eigenvalues of W
    inputs: List[FixedPointStability] = field(default_factory=list)
    attrs: Dict[str, Any] = field(default_factory=dict, repr=False)

    def __repr__(self):
        return (f"AreaStability({self.name!r}, {self.verdict}, margin={self.margin}, rho={self.spectral_radius}, "
                f"norm2={self.norm2}, omega={self.numerical_abscissa}, inputs={len(self.inputs)} "
                f"({sum(fp.reached for fp in self.inputs)} reached))")


@dataclass
class Stability:
    """The `/stability` group written by `convdyn stability`."""
    verdict: Optional[str] = None                 # the model's: STABLE, UNSTABLE, UNDECIDED
    alpha: Optional[float] = None
    verdict_global: Optional[str] = None          # each level over the areas (see AreaStability)
    verdict_linear: Optional[str] = None
    verdict_fixed_points: Optional[str] = None
    transient_max_steps: Optional[int] = None     # the limit of each area's transient growth (0: not computed)
    inputs: List[str] = field(default_factory=list)   # the analysed inputs ("zero", "image 0", ...)
    areas: Dict[str, AreaStability] = field(default_factory=dict)
    attrs: Dict[str, Any] = field(default_factory=dict, repr=False)

    def __repr__(self):
        return (f"Stability({self.verdict}, alpha={self.alpha}, inputs={self.inputs}, "
                f"areas={ {k: a.verdict for k, a in self.areas.items()} })")


RUN_ATTRS = ("protocol", "images", "normalisation", "n_images", "steps", "classes", "seconds", "images_per_second",
             "accuracy", "correct")


@dataclass
class Recording:
    """One recorded layer of `convdyn run --record`: `/run/<name>`, float32 [N, T_l, C, H, W]; its index j along T_l
    is index first_step + j of the logits' T axis (CordsNet: 0; zoo conv_l: l, as the zoo's runner returns it).
    Not read by `load`: `read` reads the images and steps asked for."""
    path: str
    name: str
    shape: tuple
    first_step: int

    def read(self, images=slice(None), steps=slice(None)) -> np.ndarray:
        """The activity [images, steps, C, H, W] (numpy float32); `images`/`steps` are slices or index arrays."""
        import h5py
        with h5py.File(self.path, "r") as f:
            return np.asarray(f["run"][self.name][images, steps])


@dataclass
class Run:
    """The `/run` group written by `convdyn run --out` (schema 5)."""
    logits: np.ndarray                     # float64 [N, T, classes], at every image step
    predictions: np.ndarray                # int64 [N]: argmax of the last step's logits
    labels: Optional[np.ndarray] = None    # int64 [N] with --labels
    accuracy: Optional[float] = None
    protocol: Optional[str] = None
    steps: Optional[int] = None
    recorded: Dict[str, Recording] = field(default_factory=dict)
    attrs: Dict[str, Any] = field(default_factory=dict, repr=False)

    def __repr__(self):
        return (f"Run({self.logits.shape[0]} images, {self.steps} steps, accuracy={self.accuracy}, "
                f"recorded={list(self.recorded)})")


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
    stability: Optional[Stability] = None         # None when the file has no /stability group
    run: Optional[Run] = None                     # None when the file has no /run group (`convdyn run --out`)
    attrs: Dict[str, Any] = field(default_factory=dict, repr=False)   # every root attribute, normalised

    def __repr__(self):
        return (f"Results({self.path!r}, schema {self.schema_version}, {self.architecture!r}, "
                f"layers={list(self.layers)}, stability={'yes' if self.stability is not None else 'no'}, "
                f"run={'yes' if self.run is not None else 'no'})")


def _is_repository(d: Path) -> bool:
    """True for the root of a convdyn source tree (the folder `make demo` writes results.h5 into)."""
    return (d / "CMakeLists.txt").is_file() and (d / "notebooks").is_dir() and (d / "python" / "convdyn").is_dir()


def _repository_root() -> Optional[Path]:
    """The convdyn source tree holding the current folder, else the one holding this module (a build folder
    inside the source tree, e.g. build/python/convdyn/), else None."""
    for start in (Path.cwd(), Path(__file__).resolve().parent):
        for d in (start, *start.parents):
            if _is_repository(d):
                return d
    return None


def results_path() -> str:
    """Results file the notebooks read: $CONVDYN_RESULTS, else the repository's results.h5 (`make demo`;
    the repository is found from the current folder, then from this module's), else ./results.h5."""
    env = os.environ.get("CONVDYN_RESULTS")
    if env:
        return env
    root = _repository_root()
    return str((root if root is not None else Path.cwd()) / "results.h5")


def discrete_map(eigenvalues, alpha: float = 0.2) -> np.ndarray:
    """Eigenvalues mu = (1 - alpha) + alpha * lambda of the discrete-time CordsNet update."""
    return (1.0 - alpha) + alpha * np.asarray(eigenvalues)


def natural_key(name: str):
    """Sort key putting area_conv.10 after area_conv.9."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def _verdict(margins, conv, bound_ok):
    """margins: per stored pair (> 0 inside); bound_ok: the unstored eigenvalues are known to be inside."""
    if np.any((margins <= 0) & conv):
        return "UNSTABLE", True
    if np.any(margins <= 0):
        return "UNSTABLE", False            # only unconverged pairs are outside
    return "STABLE", bool(bound_ok and conv.all())


def spectral_margins(results: "Results", alpha: float = 0.2) -> List[Dict[str, Any]]:
    """Per layer, the stability margins the stored spectrum gives, and whether they are certified.

    One dict per layer (in file order) with: layer, n, which, k, complete; max_re, margin_w = 1 - max Re lambda,
    ver_w (STABLE/UNSTABLE), ok_w (certified); max_mu, margin_m = 1 - max |mu| of the discrete map
    mu = (1 - alpha) + alpha lambda, ver_m, ok_m. A verdict is certified when the stored eigenvalues decide it: a
    converged eigenvalue past the boundary proves instability; stability needs the relevant end of the spectrum
    (complete, a partial LR spectrum for Re lambda, or a partial LM spectrum whose smallest stored |lambda| bounds
    the rest inside) and every stored pair converged. The margin of an uncertified STABLE is an upper bound.
    """
    rows = []
    for L in results.layers.values():
        lam, conv = L.eigenvalues, L.converged_mask
        mu = discrete_map(lam, alpha)
        rmin = np.abs(lam).min() if len(lam) else np.inf    # LM partial: every unstored |lambda| <= rmin
        lm_partial = (L.which == "LM") and not L.complete
        v_w, ok_w = _verdict(1 - lam.real, conv, L.complete or L.which == "LR" or (lm_partial and rmin < 1))
        v_m, ok_m = _verdict(1 - np.abs(mu), conv, L.complete or (lm_partial and (1 - alpha) + alpha * rmin < 1))
        rows.append(dict(layer=L.name, n=L.n, which=L.which, k=len(lam), complete=L.complete,
                         max_re=lam.real.max(), margin_w=1 - lam.real.max(), ver_w=v_w, ok_w=ok_w,
                         max_mu=np.abs(mu).max(), margin_m=1 - np.abs(mu).max(), ver_m=v_m, ok_m=ok_m))
    return rows


@dataclass
class Eigenpair:
    """One stored eigenpair, its vector's phase fixed so that the largest entry is real and positive."""
    layer: LayerSpectrum
    index: int
    eigenvalue: complex
    vector: np.ndarray                            # complex128, (C, H, W), unit norm
    is_complex: bool                              # complex eigenvalue, or a vector that stays complex

    def __repr__(self):
        return (f"Eigenpair({self.layer.name!r}, #{self.index}, {self.label}, C,H,W={self.vector.shape}, "
                f"converged={self.converged})")

    @property
    def label(self) -> str:
        """'λ = a + bi' (complex) or 'λ = a' (real)."""
        lam = self.eigenvalue
        if self.is_complex:
            return f"λ = {lam.real:.6g} {'+' if lam.imag >= 0 else '−'} {abs(lam.imag):.6g}i"
        return f"λ = {lam.real:.6g}"

    @property
    def converged(self) -> bool:
        return bool(self.layer.converged_mask[self.index])

    @property
    def residual(self) -> Optional[float]:
        return None if self.layer.residuals is None else float(self.layer.residuals[self.index])

    @property
    def channel_energy(self) -> np.ndarray:
        """Sum over H, W of |v_c(h, w)|^2 per channel c (sums to 1: the vector has unit norm)."""
        return (np.abs(self.vector) ** 2).sum(axis=(1, 2))


def eigenpair(layer: LayerSpectrum, index: int = 0) -> Eigenpair:
    """Eigenpair `index` of a layer read with its eigenvectors (ResultsError without them, IndexError when out of
    range). Any e^{iφ} v is an eigenvector too: the phase is fixed so that the largest entry is real > 0."""
    if not layer.has_vectors:
        raise ResultsError(f"layer {layer.name} has no eigenvectors (write them with `convdyn spectrum --vectors`)")
    if not 0 <= index < len(layer.eigenvalues):
        raise IndexError(f"INDEX = {index} but {layer.name} stores {len(layer.eigenvalues)} eigenpairs")
    lam = complex(layer.eigenvalues[index])
    v = layer.eigenvectors[index].astype(np.complex128)               # [C, H, W]
    v = v * np.exp(-1j * np.angle(v.flat[np.argmax(np.abs(v))]))      # largest entry real > 0
    is_complex = bool(abs(lam.imag) > 1e-12 * max(1.0, abs(lam)) or np.abs(v.imag).max() > 1e-8 * np.abs(v).max())
    return Eigenpair(layer=layer, index=index, eigenvalue=lam, vector=v, is_complex=is_complex)


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


def _layer_groups(path: str, layers, prefix: str = ""):
    """(name, group) of every operator under /layers. Names with '/' are nested groups (a ConvRNN cell's
    linear parts, e.g. 'conv4/gates/r/h' next to the cell's own 'conv4'): a group is an operator when it
    holds 'eigenvalues'; its other subgroups are searched too."""
    import h5py
    out = []
    for key in layers.keys():
        item = layers[key]
        name = prefix + key
        if not isinstance(item, h5py.Group):
            if not prefix:
                out.append((name, item))  # _read_layer reports it
            continue
        if "eigenvalues" in item or not any(isinstance(item[k], h5py.Group) for k in item.keys()):
            out.append((name, item))
        out.extend(_layer_groups(path, {k: item[k] for k in item.keys()
                                        if isinstance(item[k], h5py.Group) and k not in ("eigenvectors", "pseudospectrum")},
                                        name + "/"))
    return out


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
    extra = {key: np.asarray(_read_dataset(group[key]), dtype=np.float64).reshape(-1)
             for key in ("condition", "error_bound") if key in group}
    if vectors and "eigenvectors" in group:
        eigenvectors = np.asarray(_read_dataset(group["eigenvectors"]))
        if not np.iscomplexobj(eigenvectors):
            eigenvectors = eigenvectors.astype(np.complex128)
        if eigenvectors.ndim != 4:
            raise ResultsError(f"{path}: /layers/{name}/eigenvectors has shape {eigenvectors.shape}, "
                               "expected (k, C, H, W)")
    known = {a: _coerce(a, attrs.get(a)) for a in LAYER_ATTRS}
    pseudo = _read_pseudospectrum(path, f"/layers/{name}/pseudospectrum", group["pseudospectrum"]) \
        if "pseudospectrum" in group else None
    return LayerSpectrum(name=name, eigenvalues=lam, residuals=residuals, converged=converged,
                         eigenvectors=eigenvectors, attrs=attrs, pseudospectrum=pseudo, **extra, **known)


def _read_pseudospectrum(path: str, where: str, group) -> Pseudospectrum:
    import h5py
    if not isinstance(group, h5py.Group):
        raise ResultsError(f"{path}: {where} is not a group")
    data = {}
    for key in ("re", "im", "sigma_min", "eigenvalues", "eps", "abscissa", "abscissa_im", "abscissa_at_right_edge",
                "abscissa_from_eigenvalues"):
        if key not in group:
            raise ResultsError(f"{path}: {where} has no '{key}' dataset")
        data[key] = np.asarray(_read_dataset(group[key]))
    data["eigenvalues"] = data["eigenvalues"].astype(np.complex128).reshape(-1)
    for key in ("re", "im", "eps", "abscissa", "abscissa_im"):
        data[key] = data[key].astype(np.float64).reshape(-1)
    for key in ("abscissa_at_right_edge", "abscissa_from_eigenvalues"):
        data[key] = data[key].reshape(-1) != 0
    data["sigma_min"] = data["sigma_min"].astype(np.float64)
    if data["sigma_min"].shape != (len(data["im"]), len(data["re"])):
        raise ResultsError(f"{path}: {where}/sigma_min has shape {data['sigma_min'].shape}, expected "
                           f"({len(data['im'])}, {len(data['re'])}) from 'im' and 're'")
    if not all(len(data[k]) == len(data["eps"]) for k in ("abscissa", "abscissa_im", "abscissa_at_right_edge",
                                                            "abscissa_from_eigenvalues")):
        raise ResultsError(f"{path}: {where}: the abscissa datasets differ in length from 'eps'")
    attrs = {k: _normalise(v) for k, v in group.attrs.items()}
    try:
        known = dict(threshold=attrs.get("threshold"), distance_to_instability=attrs.get("distance_to_instability"),
                     distance_im=attrs.get("distance_im"), max_real=attrs.get("max_real"))
        known = {k: None if v is None else float(v) for k, v in known.items()}
        for k in ("unstable", "all_converged"):
            known[k] = None if attrs.get(k) is None else bool(int(attrs[k]))
    except (TypeError, ValueError):
        raise ResultsError(f"{path}: {where}: an attribute is not a number") from None
    return Pseudospectrum(attrs=attrs, **data, **known)


_BOOL = {"all_converged", "norm2_converged", "numerical_abscissa_converged", "contraction",
         "transient_amplification", "reached", "peak_at_limit", "converged"}
_INT = {"n", "steps", "matvecs", "peak_step", "transient_max_steps"}
_FLOAT = {"alpha", "tol", "abscissa", "margin", "spectral_radius", "norm2", "norm2_residual", "numerical_abscissa",
          "numerical_abscissa_residual", "norm_over_radius", "fixed_point_residual", "active_fraction",
          "masked_abscissa", "abscissa_error_bound", "spectral_radius_error_bound", "peak", "peak_time"}


def _coerce_stability(path: str, where: str, name: str, value):
    if value is None:
        return None
    try:
        if name in _BOOL:
            return bool(int(value))
        if name in _INT:
            return int(value)
        if name in _FLOAT:
            return float(value)
    except (TypeError, ValueError):
        raise ResultsError(f"{path}: {where} attribute {name!r} = {value!r} is not a number") from None
    return value if isinstance(value, str) else str(value)


def _stability_attrs(path: str, where: str, group, names):
    attrs = {k: _normalise(v) for k, v in group.attrs.items()}
    return attrs, {a: _coerce_stability(path, where, a, attrs.get(a)) for a in names}


def _read_block(path: str, where: str, group, name: str) -> Optional[EigenBlock]:
    import h5py
    obj = group.get(name)
    if obj is None:
        return None
    where = f"{where}/{name}"
    if not isinstance(obj, h5py.Group):
        raise ResultsError(f"{path}: {where} is not a group")
    if "eigenvalues" not in obj:
        raise ResultsError(f"{path}: {where} has no 'eigenvalues' dataset")
    attrs, known = _stability_attrs(path, where, obj, EIGEN_BLOCK_ATTRS)
    lam = np.asarray(_read_dataset(obj["eigenvalues"])).astype(np.complex128).reshape(-1)
    residuals = None
    if "residuals" in obj:
        residuals = np.asarray(_read_dataset(obj["residuals"]), dtype=np.float64).reshape(-1)
    return EigenBlock(name=name, eigenvalues=lam, residuals=residuals, attrs=attrs, **known)


def _read_fixed_point(path: str, where: str, index: int, group) -> FixedPointStability:
    attrs, known = _stability_attrs(path, where, group, FIXED_POINT_ATTRS)
    known["reached"] = bool(known["reached"])
    return FixedPointStability(index=index, masked=_read_block(path, where, group, "masked"),
                               discrete=_read_block(path, where, group, "discrete"), attrs=attrs, **known)


def _read_area_stability(path: str, name: str, group) -> AreaStability:
    import h5py
    where = f"/stability/{name}"
    if not isinstance(group, h5py.Group):
        raise ResultsError(f"{path}: {where} is not a group")
    attrs, known = _stability_attrs(path, where, group, AREA_STABILITY_ATTRS + ZOO_AREA_STABILITY_ATTRS)
    inputs = []
    if "inputs" in group:
        ig = group["inputs"]
        if not isinstance(ig, h5py.Group):
            raise ResultsError(f"{path}: {where}/inputs is not a group")
        for key in sorted(ig.keys(), key=natural_key):
            if not key.isdigit() or not isinstance(ig[key], h5py.Group):
                raise ResultsError(f"{path}: {where}/inputs/{key}: expected groups named 0, 1, 2, ...")
            inputs.append(_read_fixed_point(path, f"{where}/inputs/{key}", int(key), ig[key]))
    transient = None
    if "transient_growth" in group:
        tg = group["transient_growth"]
        if not isinstance(tg, h5py.Group):
            raise ResultsError(f"{path}: {where}/transient_growth is not a group")
        t_attrs, t_known = _stability_attrs(path, f"{where}/transient_growth", tg, TRANSIENT_ATTRS)
        series = {}
        for key in ("steps", "norms"):
            if key not in tg:
                raise ResultsError(f"{path}: {where}/transient_growth has no '{key}' dataset")
            series[key] = np.asarray(_read_dataset(tg[key]), dtype=np.float64).reshape(-1)
        if series["steps"].shape != series["norms"].shape:
            raise ResultsError(f"{path}: {where}/transient_growth: 'steps' and 'norms' differ in length")
        transient = TransientGrowth(steps=series["steps"].astype(np.int64), norms=series["norms"], attrs=t_attrs,
                                    **t_known)
    return AreaStability(name=name, linear=_read_block(path, where, group, "linear"),
                         largest=_read_block(path, where, group, "largest"), inputs=inputs, attrs=attrs,
                         transient_growth=transient, **known)


def _read_stability(path: str, group) -> Stability:
    import h5py
    attrs, known = _stability_attrs(path, "/stability", group,
                                    ("verdict", "alpha", "transient_max_steps") + LEVEL_ATTRS)
    raw = attrs.get("inputs")
    if raw is None:
        inputs = []
    elif isinstance(raw, str):
        inputs = [s for s in raw.split(";")] if raw else []
    else:
        inputs = [str(s) for s in raw]
    areas = {name: _read_area_stability(path, name, group[name])
             for name in sorted(group.keys(), key=natural_key) if isinstance(group[name], h5py.Group)}
    return Stability(inputs=inputs, areas=areas, attrs=attrs, **known)


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
            if _normalise(f.attrs.get("kind")) == "sweep":
                raise ResultsError(f"{path}: a merged sweep file (`convdyn sweep merge`); read it with "
                                   "convdyn.results.load_sweep")
            return _read_results(path, f, vectors)
    except ResultsError:
        raise
    except (OSError, KeyError, ValueError, TypeError, RuntimeError) as e:
        raise ResultsError(f"{path}: cannot be read as a convdyn results file ({type(e).__name__}: {e})") from e


def _check_file(path: str):
    p = Path(path)
    if not p.exists():
        raise ResultsError(f"{path}: no such file")
    if not p.is_file():
        raise ResultsError(f"{path}: not a regular file")
    import h5py
    try:
        if not h5py.is_hdf5(path):
            raise ResultsError(f"{path}: not an HDF5 file (no HDF5 signature)")
    except OSError as e:
        raise ResultsError(f"{path}: cannot be read ({e})") from e


def _read_results(path: str, node, vectors: bool, where: str = "") -> Results:
    """One results file's contents from `node`: the file's root, or a sweep item's group (`where` names it)."""
    import h5py
    at = f"{path}{':' + where if where else ''}"
    root = {k: _normalise(v) for k, v in node.attrs.items()}
    if "schema_version" not in root:
        raise ResultsError(f"{at}: not a convdyn results file (no 'schema_version' root attribute)")
    found = root["schema_version"]
    try:
        version = int(found)
    except (TypeError, ValueError):
        raise SchemaError(f"{at}: results schema version {found!r} is not supported; this loader "
                          f"reads schema versions {', '.join(map(str, READABLE))}") from None
    if version not in READABLE:
        raise SchemaError(f"{at}: results schema version {version} is not supported; this loader "
                          f"(convdyn.results) reads schema versions "
                          f"{', '.join(map(str, READABLE))}. "
                          "Use the notebooks of the convdyn version that wrote it, or re-run convdyn to rewrite the file.")
    if "layers" not in node or not isinstance(node["layers"], h5py.Group):
        raise ResultsError(f"{at}: not a convdyn results file (no '/layers' group)")
    layers = {name: _read_layer(at, name, group, vectors)
              for name, group in sorted(_layer_groups(at, node["layers"]), key=lambda x: natural_key(x[0]))}
    if "stability" not in node:
        stability = None
    elif not isinstance(node["stability"], h5py.Group):
        raise ResultsError(f"{at}: /stability is not a group")
    else:
        stability = _read_stability(at, node["stability"])
    run = None
    if "run" in node:
        if not isinstance(node["run"], h5py.Group):
            raise ResultsError(f"{at}: /run is not a group")
        run = _read_run(path, at, node["run"])
    known = {a: (root.get(a) if a == "schema_version" or root.get(a) is None else str(root.get(a)))
             for a in ROOT_ATTRS}
    known["schema_version"] = version
    return Results(path=path, layers=layers, stability=stability, run=run, attrs=root, **known)


def _read_run(path: str, at: str, group) -> Run:
    attrs = {k: _normalise(v) for k, v in group.attrs.items()}
    for name in ("logits", "predictions"):
        if name not in group:
            raise ResultsError(f"{at}: /run has no '{name}' dataset")
    logits = np.asarray(group["logits"][()], dtype=np.float64)
    predictions = np.asarray(group["predictions"][()], dtype=np.int64)
    if logits.ndim != 3 or predictions.shape != (logits.shape[0],):
        raise ResultsError(f"{at}: /run/logits {logits.shape} and /run/predictions {predictions.shape} do not match")
    labels = np.asarray(group["labels"][()], dtype=np.int64) if "labels" in group else None
    names = [n for n in str(attrs.get("recorded") or "").split(",") if n]
    recorded = {}
    for n in names:
        if n not in group:
            raise ResultsError(f"{at}: /run lists recorded layer '{n}' but has no dataset /run/{n}")
        ds = group[n]
        recorded[n] = Recording(path=path, name=n, shape=tuple(ds.shape),
                                first_step=int(_normalise(ds.attrs.get("first_step", 0))))
    acc = attrs.get("accuracy")
    steps = attrs.get("steps")
    return Run(logits=logits, predictions=predictions, labels=labels, accuracy=None if acc is None else float(acc),
               protocol=None if attrs.get("protocol") is None else str(attrs["protocol"]),
               steps=None if steps is None else int(steps), recorded=recorded, attrs=attrs)


# --- merged sweep files (`convdyn sweep merge`) ---------------------------------------------------------------

INDEX_COLUMNS = ("index", "id", "checkpoint", "sha256", "command", "layer", "options", "status", "error", "seconds",
                 "load_seconds", "write_seconds", "matvecs", "all_converged", "task")
"""The columns of /sweep/index, one row per plan item (docs/results-format.md, "Merged sweep files")."""


@dataclass
class SweepItem:
    """One row of /sweep/index, with the item's results (None for a failed or missing item)."""
    id: str
    index: int
    checkpoint: str
    sha256: str
    command: str
    layer: str
    options: str
    status: str                     # ok | unconverged | failed | missing
    error: str
    seconds: float
    load_seconds: float
    write_seconds: float
    matvecs: int
    all_converged: bool
    task: int
    results: Optional[Results] = field(default=None, repr=False)


@dataclass
class Sweep:
    """A merged sweep file: the index and every item's results."""
    path: str
    plan_id: str
    items: List[SweepItem]
    attrs: Dict[str, Any] = field(default_factory=dict, repr=False)

    def __repr__(self):
        counts = {}
        for it in self.items:
            counts[it.status] = counts.get(it.status, 0) + 1
        return f"Sweep({self.path!r}, plan {self.plan_id}, {len(self.items)} items: {counts})"

    def item(self, item_id: str) -> SweepItem:
        for it in self.items:
            if it.id == item_id:
                return it
        raise KeyError(f"{self.path}: no item {item_id!r}")

    def dataframe(self):
        """The index as a pandas DataFrame (strings decoded; needs pandas)."""
        import pandas as pd
        return pd.DataFrame([{c: getattr(it, c) for c in INDEX_COLUMNS} for it in self.items], columns=INDEX_COLUMNS)


def load_sweep(path, vectors: bool = False) -> Sweep:
    """Read a merged sweep file: /sweep/index and each item's results (`vectors=True` also reads eigenvectors)."""
    path = str(path)
    _check_file(path)
    import h5py
    try:
        with h5py.File(path, "r") as f:
            if _normalise(f.attrs.get("kind")) != "sweep" or "sweep/index" not in f:
                raise ResultsError(f"{path}: not a merged sweep file (no kind='sweep' or /sweep/index); "
                                   "a single results file is read with convdyn.results.load")
            rows = f["sweep/index"][()]
            missing = [c for c in INDEX_COLUMNS if c not in (rows.dtype.names or ())]
            if missing:
                raise ResultsError(f"{path}: /sweep/index lacks the columns {missing}")
            items = []
            for r in rows:
                v = {c: _normalise(r[c]) for c in INDEX_COLUMNS}
                group = f["items"].get(v["id"]) if "items" in f else None
                res = None
                if group is not None and v["status"] in ("ok", "unconverged"):
                    res = _read_results(path, group, vectors, where=f"/items/{v['id']}")
                items.append(SweepItem(id=v["id"], index=int(v["index"]), checkpoint=v["checkpoint"],
                                       sha256=v["sha256"], command=v["command"], layer=v["layer"],
                                       options=v["options"], status=v["status"], error=v["error"],
                                       seconds=float(v["seconds"]), load_seconds=float(v["load_seconds"]),
                                       write_seconds=float(v["write_seconds"]), matvecs=int(v["matvecs"]),
                                       all_converged=bool(v["all_converged"]), task=int(v["task"]), results=res))
            attrs = {k: _normalise(val) for k, val in f.attrs.items()}
    except ResultsError:
        raise
    except (OSError, KeyError, ValueError, TypeError, RuntimeError) as e:
        raise ResultsError(f"{path}: cannot be read as a merged sweep file ({type(e).__name__}: {e})") from e
    return Sweep(path=path, plan_id=str(attrs.get("plan_id")), items=items, attrs=attrs)
