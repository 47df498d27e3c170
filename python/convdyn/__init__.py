"""convdyn from Python: certified eigenvalue spectra and stability of recurrent convolutional networks.

The same solvers as the ``convdyn`` command line, on the weights, arrays and tensors a notebook already holds,
in scipy's vocabulary::

    import convdyn
    A = convdyn.conv_operator(weight, size=(56, 56))       # or any object with .shape and .matvec
    r = convdyn.eigs(A, k=6, which="LR", tol=1e-10)         # raises convdyn.NotConverged if a pair did not
    r.values, r.residuals, r.converged                      # converge (the partial result is its .result)

    model = convdyn.load("model.pth")                       # CordsNet .pth or ConvRNN zoo TF checkpoint
    spec = convdyn.spectrum(model, k=10)                    # every recurrent operator, as `convdyn spectrum --all`
    stab = convdyn.stability(model, inputs="images.npy")    # as `convdyn stability`
    spec.to_hdf5("results.h5"); stab.to_hdf5("results.h5", append=True)

Submodules: ``convdyn.results`` reads results files, ``convdyn.plot`` draws them (needs matplotlib).

Solves run with the GIL released; Ctrl-C (KeyboardInterrupt) stops them between operator applications.
Errors: bad arguments raise ValueError (naming the argument), unknown operator names KeyError, unreadable
files OSError; an unconverged solve raises NotConverged unless ``allow_unconverged=True``.
"""
import os
import sys
import time
from collections import namedtuple

import numpy as np

from . import _core
from . import results  # noqa: F401  (convdyn.results: the results-file reader)

__version__ = _core.__version__
__all__ = ["conv_operator", "eigs", "load", "spectrum", "stability", "Operator", "EigResult", "Model",
           "OperatorInfo", "Spectrum", "Stability", "NotConverged", "METHODS", "results", "plot"]

#: Method names accepted by ``eigs`` and ``spectrum``.
METHODS = tuple(_core.method_names)
_WHICH = ("LM", "LR", "SR", "SM", "LI")


def __getattr__(name):
    # convdyn.plot imports matplotlib only when first used.
    if name == "plot":
        import importlib
        return importlib.import_module(".plot", __name__)
    raise AttributeError(f"module 'convdyn' has no attribute {name!r}")


class NotConverged(RuntimeError):
    """Some requested eigenpair did not meet the tolerance. ``.result`` holds the partial result (an
    EigResult, or the Spectrum of a ``spectrum`` call), as scipy's ArpackNoConvergence holds its eigenvalues."""

    def __init__(self, message, result):
        super().__init__(message)
        self.result = result


# ---- arguments ---------------------------------------------------------------------------------------------

def _as_float64(x, name, ndim=None):
    """`x` (numpy array, torch tensor, anything with __array__ or __dlpack__, nested sequence) as a float64 numpy
    array, without a copy when it already is one; ValueError naming `name` for a bad dtype, rank or a NaN/Inf."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch.Tensor: autograd graph and device are not ours
        x = x.detach().cpu()
    if not hasattr(x, "__array__") and hasattr(x, "__dlpack__"):
        x = np.from_dlpack(x)
    try:
        a = np.asarray(x)
    except Exception as e:  # noqa: BLE001 - any conversion failure is the caller's argument
        raise ValueError(f"{name}: not convertible to an array ({e})") from None
    if a.dtype.kind not in "fiu":
        raise ValueError(f"{name}: expected real numbers, got dtype {a.dtype}")
    if ndim is not None and a.ndim not in (ndim if isinstance(ndim, tuple) else (ndim,)):
        raise ValueError(f"{name}: expected a {ndim}-D array, got shape {a.shape}")
    a = a.astype(np.float64, copy=False)
    if not np.isfinite(a).all():
        raise ValueError(f"{name}: contains NaN or Inf")
    return a


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"{name}={value!r}: expected one of {', '.join(map(repr, choices))}")
    return value


def _check_int(name, value, low, high=2**63 - 1):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise ValueError(f"{name}={value!r}: expected an integer in [{low}, {high}]")
    return int(value)


def _solve_options(k, which, tol, method, ncv, maxiter, vectors, verify, seed, condition=False, max_dense_n=6000):
    _check_choice("method", method, METHODS)
    _check_choice("which", which, _WHICH)
    k = _check_int("k", k, 0 if method == "dense" else 1)
    if not isinstance(tol, (int, float, np.floating)) or not 0 < tol < 1:
        raise ValueError(f"tol={tol!r}: expected a number in (0, 1)")
    return dict(method=method, k=k, which=which, tol=float(tol), ncv=_check_int("ncv", ncv or 0, 0),
                maxiter=_check_int("maxiter", 1000 if maxiter is None else maxiter, 0, 2**31 - 1),
                vectors=bool(vectors), verify=bool(verify), seed=_check_int("seed", seed, 0, 2**64 - 1),
                max_dense_n=_check_int("max_dense_n", max_dense_n, 1), condition=bool(condition))


# ---- progress ----------------------------------------------------------------------------------------------

class _Progress:
    """A tqdm bar of converged pairs per restart when tqdm is installed, else a plain line on stderr every
    second. Called from the solver (with the GIL) once per Krylov–Schur restart."""

    def __init__(self, enabled, what):
        self.enabled, self.what, self.bars, self.last = enabled, what, {}, 0.0
        try:
            import tqdm  # noqa: F401
            self.tqdm = tqdm.tqdm
        except ImportError:
            self.tqdm = None

    def __call__(self, label, restart, converged, k, worst, matvecs):
        if not self.enabled:
            return
        desc = f"{self.what} {label}".strip()
        if self.tqdm is not None:
            bar = self.bars.get(label)
            if bar is None:
                bar = self.bars[label] = self.tqdm(total=k, desc=desc, unit="pair", leave=True)
            bar.n = min(converged, k)
            bar.set_postfix(restart=restart, matvecs=matvecs, estimate=f"{worst:.1e}", refresh=False)
            bar.refresh()
        elif time.monotonic() - self.last >= 1.0:
            self.last = time.monotonic()
            print(f"{desc}: restart {restart}, {converged}/{k} converged, worst estimate {worst:.1e}, "
                  f"{matvecs} matvecs", file=sys.stderr, flush=True)

    def line(self, text):
        if self.enabled:
            print(text, file=sys.stderr, flush=True)

    def close(self):
        for bar in self.bars.values():
            bar.close()


# ---- operators ---------------------------------------------------------------------------------------------

class Operator:
    """A convdyn matrix-free operator (a conv layer, or a model's Jacobian): n x n, real.

    Attributes: ``shape`` (n, n), ``dtype`` (numpy dtype of its arithmetic), ``n``, ``name`` (the model's
    operator name, or ""). ``matvec(x)``/``rmatvec(x)`` apply A / A^T to a vector (n,) or (n, 1),
    ``matmat(X)`` to the columns of X (n, k); results are float64 numpy arrays. ``to_dense()`` materialises
    the matrix, ``aslinearoperator()`` gives a scipy LinearOperator.
    """

    def __init__(self, core, info=None, fixed_point=None):
        self._op = core
        self.info = info or {}
        #: the zoo Jacobians: the fixed point they are taken at (converged, status, steps, residual)
        self.fixed_point = fixed_point or None

    @property
    def n(self):
        return self._op.n

    @property
    def shape(self):
        return (self._op.n, self._op.n)

    @property
    def dtype(self):
        return np.dtype(self._op.dtype)

    @property
    def name(self):
        return self._op.name

    def __repr__(self):
        return f"<convdyn.Operator {self._op.describe()}, n={self.n}, {self._op.dtype}>"

    def _apply(self, x, transpose, name):
        a = _as_float64(x, name)
        n = self.n
        if a.shape == (n,) or a.shape == (n, 1):
            return self._op.apply(a.reshape(n), transpose).reshape(a.shape)
        if a.ndim == 2 and a.shape[0] == n:
            return self._op.apply(np.ascontiguousarray(a.T), transpose).T
        raise ValueError(f"{name}: expected shape ({n},), ({n}, 1) or ({n}, k), got {a.shape}")

    def matvec(self, x):
        """A @ x for x of shape (n,) or (n, 1) (same shape back, float64)."""
        return self._apply(x, False, "x")

    def rmatvec(self, x):
        """A.T @ x for x of shape (n,) or (n, 1)."""
        if not self._op.has_transpose:
            raise ValueError(f"{self!r} has no transpose")
        return self._apply(x, True, "x")

    def matmat(self, X):
        """A @ X for X of shape (n, k), applied as one block."""
        return self._apply(X, False, "X")

    def __matmul__(self, x):
        return self._apply(x, False, "x")

    def to_dense(self, max_n=20000):
        """The n x n matrix (float64), built column block by column block; ValueError when n > max_n."""
        return self._op.to_dense(_check_int("max_n", max_n, 1))

    def aslinearoperator(self):
        """This operator as a ``scipy.sparse.linalg.LinearOperator`` (needs scipy)."""
        try:
            from scipy.sparse.linalg import LinearOperator
        except ImportError as e:
            raise ImportError("aslinearoperator() needs scipy (Debian: python3-scipy)") from e
        return LinearOperator(self.shape, matvec=self.matvec, rmatvec=self.rmatvec if self._op.has_transpose else None,
                              matmat=self.matmat, dtype=np.float64)


def conv_operator(weight, size, padding="zero", dtype="float64"):
    """The multi-channel 'same' convolution y = conv(W, x) on an H x W grid as an Operator (n = C*H*W).

    Parameters
    ----------
    weight : array (C, C, k, k), k odd
        numpy array of any real dtype or a torch tensor (as ``torch.nn.Conv2d.weight``: out, in, kH, kW).
    size : (H, W)
        the grid the recurrent state lives on.
    padding : "zero" (as the models) or "circular" (periodic boundary)
    dtype : "float64" (default, for eigenvalues) or "float32" (operator arithmetic)

    The vector layout is PyTorch's: x.reshape(C, H, W) is the state, so ``A.matvec(x)`` equals
    ``torch.nn.functional.conv2d(x.reshape(1, C, H, W), W, padding=k // 2).reshape(-1)``.
    """
    w = _as_float64(weight, "weight", ndim=4)
    if w.shape[0] != w.shape[1] or w.shape[2] != w.shape[3] or w.shape[2] % 2 == 0:
        raise ValueError(f"weight: expected shape (C, C, k, k) with k odd, got {w.shape}")
    try:
        H, W = (int(s) for s in size)
    except (TypeError, ValueError):
        raise ValueError(f"size={size!r}: expected (H, W)") from None
    if H < 1 or W < 1:
        raise ValueError(f"size={size!r}: expected H, W >= 1")
    _check_choice("padding", padding, ("zero", "circular"))
    _check_choice("dtype", dtype, ("float64", "float32"))
    return Operator(_core.conv_operator(np.ascontiguousarray(w), H, W, padding, dtype))


# ---- eigs --------------------------------------------------------------------------------------------------

class EigResult:
    """What ``eigs`` returns: the eigenpairs in `which` order (best first) and how they were obtained.

    values (complex128, k), residuals (||A v - lambda v|| with ||v|| = 1, from the operator; for "dense" only
    with the eigenvectors, else empty), converged (bool per pair: residual <= tol * max(1, |lambda|)),
    vectors (complex128 (n, k) with ``return_eigenvectors=True``, else None), matvecs, restarts, seconds, stop_reason
    ("converged", "max-restarts", "breakdown", "direct" for dense, "numerical-failure"), method, which, tol,
    message (what failed), search_rounds / search_found / search_complete (``verify=True``), condition and
    error_bound (``condition=True``: per pair kappa(lambda) = ||x|| ||y|| / |y^H x| and kappa * residual, the
    first-order bound on |lambda - lambda_exact|; NaN where no left eigenvector matched; else None).
    """

    def __init__(self, d):
        self.values = np.asarray(d["values"], dtype=np.complex128)
        self.residuals = np.asarray(d["residuals"], dtype=np.float64)
        self.converged = np.asarray(d["converged"], dtype=bool).reshape(-1)
        self.vectors = None if d["vectors"] is None else np.asarray(d["vectors"], dtype=np.complex128)
        self.condition = None if d["condition"] is None else np.asarray(d["condition"], dtype=np.float64)
        self.error_bound = None if d["error_bound"] is None else np.asarray(d["error_bound"], dtype=np.float64)
        for key in ("method", "which", "tol", "matvecs", "restarts", "seconds", "stop_reason", "message",
                    "search_rounds", "search_found", "search_complete"):
            setattr(self, key, d[key])

    @property
    def all_converged(self):
        """Every returned pair converged and the method did not fail."""
        return (self.stop_reason != "numerical-failure" and self.converged.size == self.values.size
                and bool(self.converged.all()))

    def __len__(self):
        return self.values.size

    def __repr__(self):
        return (f"<convdyn.EigResult {self.method} which={self.which}: {self.values.size} values, "
                f"{int(self.converged.sum())} converged (tol {self.tol:.0e}), {self.matvecs} matvecs, "
                f"{self.restarts} restarts, {self.seconds:.3f} s, {self.stop_reason}>")


def _unconverged_message(r, what):
    bad = r.values.size - int(r.converged.sum())
    msg = f"{what}: {bad} of {r.values.size} eigenpairs did not converge to tol {r.tol:.1e} ({r.stop_reason})"
    if r.message:
        msg += f": {r.message}"
    return msg + "; the partial result is this exception's .result (or pass allow_unconverged=True)"


def eigs(A, k=6, which="LR", tol=1e-10, method="krylov-schur", ncv=None, maxiter=None, return_eigenvectors=False,
         verify=False, seed=0, allow_unconverged=False, progress=False, condition=False):
    """k eigenvalues (and optionally eigenvectors) of a real square operator A, with certified residuals.

    Parameters
    ----------
    A : convdyn.Operator, scipy LinearOperator, 2-D numpy array, or any object with ``.shape`` (n, n) and
        ``.matvec(x)``; a Python matvec is called back from C++ with a float64 vector of length n and may
        return a numpy array or a torch tensor (e.g. a Jacobian-vector product from torch autograd).
    k : number of eigenvalues (dense: 0 = all).
    which : "LR" largest real part (decides stability; default), "LM" largest magnitude, "SR", "SM", "LI".
    tol : pair i is converged when ||A v - lambda v|| <= tol * max(1, |lambda|) with ||v|| = 1.
    method : "krylov-schur" (default: restarted Arnoldi, matrix-free, certified), "dense" (full
        eigendecomposition of the materialised matrix, n <= 6000), "spectra", "arpack" (second opinions),
        "arnoldi-qr" (the published CordsNet method: no convergence test, its residuals show its error).
    ncv : subspace size (None: the method's default).
    maxiter : restarts allowed (None: 1000), as scipy's maxiter counts ARPACK's outer iterations.
    return_eigenvectors : also return the eigenvectors in ``.vectors`` (n, k), unit norm. Unlike scipy, the
        result is always an EigResult, never a tuple.
    verify : krylov-schur only: after convergence, search for eigenvalues the restarts may have skipped.
    seed : seed of the random start vector; the same seed gives the same bits as the CLI's ``--seed``.
    allow_unconverged : return an unconverged result instead of raising NotConverged.
    progress : a tqdm bar (or plain lines when tqdm is missing) for Krylov–Schur solves.
    condition : also each eigenvalue's condition number and error bound (``.condition``, ``.error_bound``),
        from left eigenvectors by the same method on A^T (about twice the cost; A needs ``rmatvec``: convdyn
        operators have it, a Python operator passes ``rmatvec`` when it has one).

    Returns
    -------
    EigResult with ``.values`` (complex128), ``.residuals``, ``.converged``, ``.vectors``, ``.matvecs``,
    ``.restarts``, ``.seconds``, ``.stop_reason``.

    Raises
    ------
    NotConverged (carrying the partial EigResult as ``.result``), ValueError for bad arguments or a matvec
    returning the wrong shape or NaN, TypeError when A is not an operator, KeyboardInterrupt on Ctrl-C.

    Example: the five lines that replace ``scipy.sparse.linalg.eigs(L, k=6, which="LR")``::

        r = convdyn.eigs(L, k=6, which="LR")      # L: a scipy LinearOperator, or convdyn.conv_operator(...)
        r.values                                   # complex128, rightmost first
        r.residuals, r.converged                   # the certificate scipy does not give
    """
    opts = _solve_options(k, which, tol, method, ncv, maxiter, return_eigenvectors, verify, seed, condition)
    bar = _Progress(progress, "eigs")
    try:
        if isinstance(A, Operator):
            d = A._op.eigs(opts, bar)
        else:
            n, matvec, rmatvec = _callback_operator(A)
            d = _core.eigs_callback(n, matvec, rmatvec, f"{type(A).__name__} operator", opts, bar)
    finally:
        bar.close()
    r = EigResult(d)
    if not r.all_converged and not allow_unconverged:
        raise NotConverged(_unconverged_message(r, "eigs"), r)
    return r


def _callback_operator(A):
    if isinstance(A, np.ndarray):
        M = _as_float64(A, "A", ndim=2)
        shape, fn, rfn = M.shape, M.dot, M.T.dot
    else:
        shape = getattr(A, "shape", None)
        fn = getattr(A, "matvec", None)
        rfn = getattr(A, "rmatvec", None)
        if shape is None or not callable(fn):
            raise TypeError(f"A: expected a convdyn.Operator, a scipy LinearOperator, a 2-D array or an object with "
                            f".shape and .matvec(x); got {type(A).__name__}")
    try:
        rows, cols = (int(s) for s in shape)
    except (TypeError, ValueError):
        raise ValueError(f"A.shape={shape!r}: expected (n, n)") from None
    if rows != cols or rows < 1:
        raise ValueError(f"A.shape={shape!r}: expected a square operator (n, n)")
    n = rows

    def checked(f, what):
        def call(v):
            y = _as_float64(f(v), f"{what}(x)")
            if y.shape == (n, 1):
                y = y.reshape(n)
            if y.shape != (n,):
                raise ValueError(f"{what}(x): returned shape {y.shape}, expected ({n},)")
            return np.ascontiguousarray(y)
        return call

    name = type(A).__name__
    rmatvec = checked(rfn, f"{name}.rmatvec") if callable(rfn) else None
    return n, checked(fn, f"{name}.matvec"), rmatvec


# ---- models ------------------------------------------------------------------------------------------------

#: One operator of a model: name, n = C*H*W, shape (C, H, W) of its input, kernel size, whether it is
#: square (has a spectrum), what it is (role) and the cell layer / area it belongs to.
OperatorInfo = namedtuple("OperatorInfo", "name n shape kernel square role layer")


def _path(p, name):
    if not isinstance(p, (str, os.PathLike)):
        raise ValueError(f"{name}: expected a path, got {type(p).__name__}")
    return os.fspath(p)


class Model:
    """A loaded checkpoint (``convdyn.load``): ``architecture``, ``kind`` ("cordsnet", "convrnn" or "kernels"),
    ``path``, ``sha256``, ``operators`` (list of OperatorInfo; ``names`` their names) and ``operator(name)``."""

    def __init__(self, core, dtype="float64"):
        self._m = core
        self._dtype = dtype  # of a zoo model's cells
        self.operators = [OperatorInfo(d["name"], d["n"], (d["channels"], d["height"], d["width"]), d["kernel"],
                                       d["square"], d["role"], d["layer"]) for d in core.operators()]

    path = property(lambda self: self._m.path)
    architecture = property(lambda self: self._m.architecture)
    kind = property(lambda self: self._m.kind)
    sha256 = property(lambda self: self._m.sha256)

    @property
    def names(self):
        return [o.name for o in self.operators]

    def _check_name(self, name):
        if name not in self.names:
            raise KeyError(f"{self.path}: no operator {name!r}; it has: {', '.join(self.names) or '(none)'}")
        return name

    def operator(self, name, dtype="float64", padding="zero", drive=None):
        """The operator `name` (see ``.operators``) as an Operator: a CordsNet area's recurrent conv, or a zoo
        cell's state Jacobian at its fixed point under `drive` (None: x = 0; a path or array [Cin, H, W]) or
        one of its linear parts. KeyError for an unknown name."""
        self._check_name(name)
        _check_choice("dtype", dtype, ("float64", "float32"))
        _check_choice("padding", padding, ("zero", "circular"))
        _check_zoo_args(self, dtype, drive)
        op, info, fp = self._m.operator(name, dtype, padding, _drive(drive))
        return Operator(op, info, fp)

    def __repr__(self):
        return f"<convdyn.Model {self.path}: {self.architecture}, {len(self.operators)} operator(s)>"


def load(path, key=None, size=None, kernels=None, dtype="float64"):
    """Loads a checkpoint, recognised by content: a CordsNet PyTorch ``.pth`` (torch.save zip), or a ConvRNN
    model-zoo TensorFlow 1 checkpoint (prefix or .index file). Never runs pickled code.

    key : where the state dict sits in a training checkpoint (default: the top level, else the usual keys).
    size : (H, W) of every zoo cell layer, or of the `kernels` of an unrecognised checkpoint.
    kernels : tensor names of square conv kernels to analyse when the architecture is not recognised.
    dtype : of a zoo model's cells ("float64" or "float32").
    Raises OSError for a missing or unreadable file, ValueError for a malformed one.
    """
    path = _path(path, "path")
    sz = []
    if size is not None:
        try:
            sz = [int(s) for s in size]
        except (TypeError, ValueError):
            raise ValueError(f"size={size!r}: expected (H, W)") from None
        if len(sz) != 2 or min(sz) < 1:
            raise ValueError(f"size={size!r}: expected (H, W) with H, W >= 1")
    if isinstance(kernels, str):
        kernels = [kernels]
    _check_choice("dtype", dtype, ("float64", "float32"))
    return Model(_core.load(path, key or "", sz, list(kernels or []), dtype), dtype)


def _check_zoo_args(model, dtype, drive):
    """A drive only for zoo models; a zoo model's operators in the dtype its cells were loaded in."""
    if model.kind != "convrnn":
        if drive is not None:
            raise ValueError("drive: applies to ConvRNN zoo models only")
    elif dtype != model._dtype:
        raise ValueError(f"dtype={dtype!r}: the cells of {model.path} were loaded in {model._dtype}; "
                         f"use convdyn.load(..., dtype={dtype!r})")


def _model(model):
    if isinstance(model, Model):
        return model
    if isinstance(model, (str, os.PathLike)):
        return load(model)
    raise ValueError(f"model: expected a convdyn.Model or a checkpoint path, got {type(model).__name__}")


def _drive(drive):
    if drive is None or isinstance(drive, (str, os.PathLike)):
        return None if drive is None else os.fspath(drive)
    d = _as_float64(drive, "drive", ndim=(3, 4))
    if d.ndim == 3:
        d = d[None]
    if d.shape[0] != 1:
        raise ValueError(f"drive: expected [Cin, H, W] or [1, Cin, H, W], got {d.shape}")
    return np.ascontiguousarray(d)


def _call_repr(fn, model, **kw):
    args = ", ".join(f"{k}={v!r}" for k, v in kw.items())
    return f"python: convdyn.{fn}({model.path!r}, {args})"


LayerResult = namedtuple("LayerResult", "info result fixed_point")
LayerResult.__doc__ = ("One operator's spectrum: info (dict: name, n, channels, height, width, kernel, padding, "
                       "parametrisation, dtype, device), result (EigResult), fixed_point (zoo Jacobians: dict, "
                       "else None)")


class Spectrum:
    """What ``spectrum`` returns: ``layers`` (dict name -> LayerResult(info, result, fixed_point)), ``model``;
    ``to_hdf5(path)`` writes them as ``convdyn spectrum --out`` does (docs/results-format.md)."""

    def __init__(self, model, run, command):
        self.model, self._run, self._command = model, run, command
        self.layers = {info["name"]: LayerResult(info, EigResult(res), fp or None) for info, res, fp in run.layers()}

    @property
    def all_converged(self):
        return all(L.result.all_converged for L in self.layers.values())

    def __getitem__(self, name):
        return self.layers[name]

    def to_hdf5(self, path, force=False, append=False):
        """Writes /layers/<name> to `path` (atomically: no half-written file on error). OSError when the file
        exists (unless `force`), or, with `append`, when it belongs to another checkpoint or has the layer."""
        self._run.write(_path(path, "path"), bool(force), bool(append), self._command)

    def __repr__(self):
        return f"<convdyn.Spectrum {self.model.path}: {', '.join(self.layers)}>"


def spectrum(model, layers=None, k=10, which="LR", tol=1e-10, method="krylov-schur", ncv=None, maxiter=None,
             return_eigenvectors=False, verify=False, seed=0, dtype="float64", padding="zero", drive=None,
             allow_unconverged=False, progress=False, condition=False):
    """The spectra of a model's recurrent operators, as ``convdyn spectrum --all`` (or ``--layer``) computes them:
    same options, same seed, same bits.

    model : a convdyn.Model (``convdyn.load``) or a checkpoint path.
    layers : operator names (None: every square operator of the model; see ``model.names``).
    k, which, tol, method, ncv, maxiter, return_eigenvectors, verify, seed : as in ``eigs`` (here k = 10 and
        which = "LR" by default, as the CLI).
    dtype, padding : of the conv operators ("float64"/"float32", "zero"/"circular").
    drive : zoo models: the cell layer's input x (path or array [Cin, H, W]); None: x = 0.
    allow_unconverged : return instead of raising NotConverged (whose .result is this Spectrum).
    progress : a bar per operator (tqdm) or plain lines.
    condition : also condition numbers and error bounds, as ``convdyn spectrum --condition``.

    Returns a Spectrum: ``.layers[name].result`` is each operator's EigResult; ``.to_hdf5(path)``.
    """
    model = _model(model)
    names = [o.name for o in model.operators if o.square] if layers is None else (
        [layers] if isinstance(layers, str) else list(layers))
    for name in names:
        model._check_name(name)
    if not names:
        raise ValueError(f"{model.path}: no square operators to analyse (pass layers=, or load(kernels=, size=))")
    opts = _solve_options(k, which, tol, method, ncv, maxiter, return_eigenvectors, verify, seed, condition)
    _check_choice("dtype", dtype, ("float64", "float32"))
    _check_choice("padding", padding, ("zero", "circular"))
    _check_zoo_args(model, dtype, drive)
    bar = _Progress(progress, "spectrum")
    try:
        run = _core.spectrum(model._m, names, opts, dtype, padding, _drive(drive), bar)
    finally:
        bar.close()
    command = _call_repr("spectrum", model, layers=names, k=k, which=which, tol=tol, method=method, ncv=ncv,
                         maxiter=maxiter, return_eigenvectors=return_eigenvectors, verify=verify, seed=seed,
                         dtype=dtype, padding=padding, condition=condition)
    out = Spectrum(model, run, command)
    if not out.all_converged and not allow_unconverged:
        bad = [n for n, L in out.layers.items() if not L.result.all_converged]
        raise NotConverged(f"spectrum: {len(bad)} operator(s) did not converge ({', '.join(bad)}); the partial "
                           f"Spectrum is this exception's .result (or pass allow_unconverged=True)", out)
    return out


class Stability:
    """What ``stability`` returns: ``verdict`` ("STABLE", "UNSTABLE", "UNDECIDED"), ``report`` (a dict with
    every number ``convdyn stability`` prints: per area (CordsNet, ``report["areas"]``) or cell layer (zoo,
    ``report["layers"]``) the verdict, reason, margins, spectral radius, ||W||_2 and the fixed points, with
    EigResults for the solves), ``areas`` (dict name -> that area's dict) and ``to_hdf5(path)``. CordsNet
    reports also give the verdict by level, for the model (``levels``) and per area (``areas[name]["levels"]``):
    ``{"global": ..., "linear": ..., "fixed_points": ...}``: the global certificate ||W||_2 < 1 (STABLE or
    UNDECIDED), the linear regime, and local stability at the analysed fixed points."""

    def __init__(self, model, run, command):
        self.model, self._run, self._command = model, run, command
        self.report = run.to_dict()
        self.verdict = self.report["verdict"]
        self.levels = self.report.get("levels")
        parts = self.report.get("areas", self.report.get("layers", []))
        for part in parts:
            for key in ("linear", "largest"):
                if key in part:
                    part[key] = EigResult(part[key])
            for fp in part.get("fixed_points", []):
                fp["masked"], fp["discrete"] = EigResult(fp["masked"]), EigResult(fp["discrete"])
        self.areas = {p["name"]: p for p in parts}

    @property
    def stable(self):
        return self.verdict == "STABLE"

    def to_hdf5(self, path, force=False, append=False):
        """Writes /stability to `path` as ``convdyn stability --out`` does (``append=True``: add it to the file
        of a ``Spectrum.to_hdf5`` of the same checkpoint)."""
        self._run.write(_path(path, "path"), bool(force), bool(append), self._command)

    def __repr__(self):
        parts = ", ".join(f"{n} {a['verdict']}" for n, a in self.areas.items())
        return f"<convdyn.Stability {self.model.path}: {self.verdict} ({parts})>"


def _images(inputs, limit):
    if inputs is None or isinstance(inputs, (str, os.PathLike)):
        return None if inputs is None else os.fspath(inputs)
    raw = inputs.detach().cpu() if hasattr(inputs, "detach") else inputs
    a = np.asarray(raw)
    divisor = 255.0 if a.dtype == np.uint8 else 1.0  # as the CLI reads uint8 image files (same rounding)
    a = _as_float64(a, "inputs", ndim=4)[:limit] / divisor
    if a.shape[0] == 0:
        raise ValueError("inputs: no images")
    return np.ascontiguousarray(a)


def stability(model, inputs=None, limit=8, alpha=0.2, tol=1e-10, k=6, maxiter=1000, max_steps=20000,
              fixed_point_tol=1e-10, dtype="float64", drive=None, progress=False, transient_steps=512):
    """Is the model stable, where, and by what margin? The analysis of ``convdyn stability``, same numbers.

    model : a convdyn.Model or a checkpoint path (CordsNet or ConvRNN zoo).
    inputs : CordsNet: None (the zero input only; it is always analysed), an image file (.npy / HDF5
        [N, C, H, W], MNIST IDX; uint8 divided by 255) or an array [N, C, H, W] (uint8 divided by 255, floats as
        given). At most `limit` images are used.
    alpha : dt / T of the discrete dynamics (0.2 in the release).
    tol, k, maxiter : eigen-residual tolerance, eigenvalues per solve, restarts allowed.
    max_steps, fixed_point_tol : the fixed-point search.
    dtype : of the operators ("float64" or "float32").
    drive : zoo models with one cell layer: its input x (path or array [Cin, H, W]); None: x = 0.
    progress : the CLI's progress lines on stderr.
    transient_steps : CordsNet: the transient growth max ||M^t||_2 of the linear model's step
        M = (1 - alpha) I + alpha W over t up to this many steps (0: skip); areas whose linear regime grows are
        unbounded and skipped.

    Returns a Stability (``.verdict``, ``.areas``, ``.report``, ``.to_hdf5``). An UNSTABLE or UNDECIDED verdict
    is an answer, not an exception. Ctrl-C is honoured between solves and at every restart (not inside a
    fixed-point search).
    """
    model = _model(model)
    limit = _check_int("limit", limit, 1)
    for name, v in (("alpha", alpha), ("fixed_point_tol", fixed_point_tol)):
        if not isinstance(v, (int, float, np.floating)) or not v > 0:
            raise ValueError(f"{name}={v!r}: expected a number > 0")
    if not isinstance(tol, (int, float, np.floating)) or not 0 < tol < 1:
        raise ValueError(f"tol={tol!r}: expected a number in (0, 1)")
    _check_choice("dtype", dtype, ("float64", "float32"))
    if model.kind == "convrnn" and inputs is not None:
        raise ValueError("inputs: a ConvRNN zoo model is analysed under a constant drive (drive=), not images")
    _check_zoo_args(model, dtype, drive)
    opts = dict(alpha=float(alpha), tol=float(tol), k=_check_int("k", k, 1),
                maxiter=_check_int("maxiter", maxiter, 0, 2**31 - 1), max_steps=_check_int("max_steps", max_steps, 1),
                fixed_point_tol=float(fixed_point_tol), dtype=dtype,
                transient_steps=_check_int("transient_steps", transient_steps, 0))
    bar = _Progress(progress, "stability")
    run = _core.stability(model._m, _images(inputs, limit), limit, opts, _drive(drive),
                          bar.line if progress else None)
    command = _call_repr("stability", model, inputs=inputs if inputs is None or isinstance(inputs, (str, os.PathLike))
                         else "<array>", limit=limit, alpha=alpha, tol=tol, k=k, maxiter=maxiter, max_steps=max_steps,
                         fixed_point_tol=fixed_point_tol, dtype=dtype, transient_steps=transient_steps)
    return Stability(model, run, command)
