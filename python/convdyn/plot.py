"""convdyn.plot: the notebooks' figures over a convdyn results file (docs/results-format.md).

    import convdyn.results as cr
    from convdyn import plot
    res = cr.load("results.h5")
    fig = plot.eigenvalues(res, alpha=0.2)            # one panel per layer, with the stability boundaries
    plot.save(fig, "figures", "spectra_eigenvalues.png")
    plot.eigenvalues("results.h5", layer="area_conv.0", ax=my_ax)   # one layer into an existing Axes

Every figure function takes a `convdyn.results.Results` or the path of a results file (str or PathLike), draws
into `ax` (single-Axes figures) or `fig` (multi-panel figures) when given, else into a new pyplot figure, and
returns the matplotlib Figure. A figure that needs data the file lacks (residuals without `--vectors`,
`/stability` without `convdyn stability --append`) raises `ValueError` (`convdyn.results.ResultsError` for
missing eigenvectors), with what to run in the message.

matplotlib is imported by the functions, not by `import convdyn.plot`.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np

from . import results as _results

__all__ = ["VERDICT_COLOURS", "save", "panel_grid", "eigenvalues", "discrete_map", "residuals", "margins",
           "verdicts", "certificates", "fixed_points", "fixed_point_residuals", "eigenvector_maps",
           "channel_energy"]

VERDICT_COLOURS = {"STABLE": "tab:green", "UNSTABLE": "tab:red", "UNDECIDED": "tab:orange"}
"""Colour of each verdict in the stability figures."""
_MARKERS = ["o", "s", "^", "D", "v", "P", "<", ">", "h", "*", "X", "p"]
_THETA = np.linspace(0, 2 * np.pi, 400)

ResultsLike = Union["_results.Results", str, os.PathLike]


def _plt():
    import matplotlib.pyplot as plt
    return plt


def _load(results, vectors: bool = False) -> "_results.Results":
    """A Results as is; a path is loaded (with eigenvectors only when `vectors`)."""
    if isinstance(results, _results.Results):
        return results
    if isinstance(results, (str, os.PathLike)):
        return _results.load(results, vectors=vectors)
    raise TypeError(f"expected a convdyn.results.Results or a results file path, not {type(results).__name__}")


def _checkpoint_name(res) -> str:
    return Path(str(res.checkpoint)).name


def _layers(res, layer) -> list:
    """All layers (layer None), one (a name) or several (a sequence of names), in file order."""
    if layer is None:
        return list(res.layers.values())
    names = [layer] if isinstance(layer, str) else list(layer)
    for name in names:
        if name not in res.layers:
            raise KeyError(f"layer {name!r} is not in {res.path}; its layers are {list(res.layers)}")
    return [res.layers[name] for name in names]


def _stability(res):
    if res.stability is None:
        raise ValueError(f"No /stability group in {res.path}: add one with\n"
                         "    convdyn stability CHECKPOINT --inputs IMAGES.npy --out RESULTS.h5 --append")
    return res.stability


def _axes(ax, figsize):
    """(fig, ax, own): a new figure and Axes, or the given Axes and its figure (own = False)."""
    if ax is not None:
        return ax.figure, ax, False
    fig, ax = _plt().subplots(figsize=figsize)
    return fig, ax, True


def save(fig, folder: Union[str, os.PathLike], name: str, dpi: int = 110) -> Path:
    """Save `fig` as `folder/name` (PNG at `dpi`, tight bounding box; the folder is created) and return the path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path


def panel_grid(count: int, size: float = 4.2, max_cols: int = 3, fig=None):
    """A grid of square panels, one per item, in a new figure (or in `fig`); unused panels hidden.

    Returns (fig, [Axes] * count)."""
    ncols = max(1, min(max_cols, int(np.ceil(np.sqrt(count)))))
    nrows = max(1, int(np.ceil(count / ncols)))
    if fig is None:
        fig, axes = _plt().subplots(nrows, ncols, figsize=(size * ncols, (size + 0.7) * nrows + 0.8), squeeze=False)
    else:
        axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax in axes.flat[count:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:count])


def _panels(res, layer, ax, fig):
    Ls = _layers(res, layer)
    if not Ls:
        raise ValueError(f"{res.path}: no layers to plot")
    if ax is not None:
        if len(Ls) != 1:
            raise ValueError("ax= draws one layer: pass layer='<name>' (or fig= for several)")
        return ax.figure, [ax], Ls, False
    fig, axes = panel_grid(len(Ls), fig=fig)
    return fig, axes, Ls, True


def _plot_eigs(ax, z, conv):
    ax.scatter(z[conv].real, z[conv].imag, s=22 if len(z) <= 60 else 10, color="C0", zorder=3)
    ax.scatter(z[~conv].real, z[~conv].imag, s=45, marker="x", color="red", linewidths=1.5, zorder=4)


def _square_limits(ax, xs, ys, pad=0.08):
    """Square, equal-aspect limits around the given coordinates."""
    xs, ys = np.asarray(xs, float), np.asarray(ys, float)
    cx, cy = (xs.min() + xs.max()) / 2, (ys.min() + ys.max()) / 2
    half = max(xs.max() - xs.min(), ys.max() - ys.min(), 1e-9) / 2 * (1 + pad)
    ax.set_xlim(cx - half, cx + half)
    ax.set_ylim(cy - half, cy + half)
    ax.set_aspect("equal", adjustable="box")


def _layer_title(L):
    full = "all" if L.complete else f"k={len(L.eigenvalues)}"
    return f"{L.name}  (C={L.channels}, {L.height}x{L.width}, n={L.n})\n{L.method}, which={L.which}, {full}"


def _marker_handles(what="eigenvalue"):
    from matplotlib.lines import Line2D
    return [Line2D([], [], ls="", marker="o", color="C0", label=f"{what} (converged)"),
            Line2D([], [], ls="", marker="x", color="red", markeredgewidth=1.5, label=f"{what} (not converged)")]


# --- spectra ---------------------------------------------------------------------------------------------------
def eigenvalues(results: ResultsLike, alpha: float = 0.2, layer: Union[str, Sequence[str], None] = None,
                ax=None, fig=None):
    """Eigenvalues λ of each recurrent operator W in the complex plane, one panel per layer.

    Drawn with the stability boundary of the continuous-time dynamics Re λ = 1, the unit circle |λ| = 1 and the
    boundary of the discrete-time update |(1 − α) + α λ| = 1 (a circle of radius 1/α centred at 1 − 1/α).
    Converged pairs are dots, unconverged ones red crosses.

    results: Results or results-file path. alpha: the update's α. layer: a name, several names or None (all).
    ax: draw one layer (`layer` must name it) into this Axes. fig: lay the panels out in this figure.
    Returns the Figure (notebooks/spectra.ipynb saves it as spectra_eigenvalues.png).
    """
    from matplotlib.lines import Line2D
    res = _load(results)
    fig, axes, Ls, own = _panels(res, layer, ax, fig)
    c, r = 1 - 1 / alpha, 1 / alpha          # |(1 - a) + a lambda| = 1  <=>  |lambda - c| = r
    for a, L in zip(axes, Ls):
        z, conv = L.eigenvalues, L.converged_mask
        _plot_eigs(a, z, conv)
        # limits from the data, the unit circle and the point lambda = 1; the discrete-map circle is clipped
        _square_limits(a, np.r_[z.real, -1.05, 1.05], np.r_[z.imag, -1.05, 1.05])
        a.axvline(1.0, color="crimson", ls="--", lw=1.2)
        a.plot(np.cos(_THETA), np.sin(_THETA), color="0.55", ls=":", lw=1.0)
        a.plot(c + r * np.cos(_THETA), r * np.sin(_THETA), color="darkorange", ls="-.", lw=1.0)
        a.axhline(0, color="0.85", lw=0.6, zorder=0)
        a.set_xlabel("Re λ")
        a.set_ylabel("Im λ")
        a.set_title(_layer_title(L), fontsize=9)
    handles = _marker_handles() + [
        Line2D([], [], color="crimson", ls="--", label="stability boundary Re λ = 1"),
        Line2D([], [], color="0.55", ls=":", label="unit circle |λ| = 1"),
        Line2D([], [], color="darkorange", ls="-.", label=f"discrete map |(1-α)+αλ| = 1, α = {alpha:g}"),
    ]
    if own:
        fig.suptitle(f"Eigenvalues of the recurrent operators W: {res.architecture}, {_checkpoint_name(res)}")
        fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=8, frameon=False)
        fig.tight_layout(rect=(0, 0.06, 1, 0.97))
    else:
        axes[0].legend(handles=handles, fontsize=7, loc="best")
    return fig


def discrete_map(results: ResultsLike, alpha: float = 0.2, layer: Union[str, Sequence[str], None] = None,
                 ax=None, fig=None):
    """Eigenvalues μ = (1 − α) + α λ of the discrete-time map with the unit circle |μ| = 1, one panel per layer.

    With a small α every μ sits near 1: each panel is zoomed on the data and the point μ = 1 (at least 0.3 wide),
    with the whole unit circle in an inset when zoomed. Arguments as for `eigenvalues`.
    Returns the Figure (notebooks/spectra.ipynb saves it as spectra_discrete_map.png).
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Rectangle
    res = _load(results)
    fig, axes, Ls, own = _panels(res, layer, ax, fig)
    for a, L in zip(axes, Ls):
        mu, conv = _results.discrete_map(L.eigenvalues, alpha), L.converged_mask
        _plot_eigs(a, mu, conv)
        xs, ys = np.r_[mu.real, 1.0], np.r_[mu.imag, 0.0]
        mid_x, mid_y = (xs.min() + xs.max()) / 2, (ys.min() + ys.max()) / 2
        half = max(xs.max() - xs.min(), ys.max() - ys.min(), 0.3) / 2
        _square_limits(a, [mid_x - half, mid_x + half], [mid_y - half, mid_y + half])
        a.plot(np.cos(_THETA), np.sin(_THETA), color="crimson", ls="--", lw=1.2)
        a.axhline(0, color="0.85", lw=0.6, zorder=0)
        if half < 0.9:        # zoomed: the whole unit circle in an inset
            ins = a.inset_axes([0.03, 0.03, 0.3, 0.3])
            ins.plot(np.cos(_THETA), np.sin(_THETA), color="crimson", ls="--", lw=0.8)
            ins.plot(mu.real, mu.imag, ".", color="C0", ms=2)
            x0, x1 = a.get_xlim()
            y0, y1 = a.get_ylim()
            ins.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, color="0.3", lw=0.8))
            ins.set_xlim(-1.15, 1.15)
            ins.set_ylim(-1.15, 1.15)
            ins.set_aspect("equal")
            ins.set_xticks([])
            ins.set_yticks([])
        a.set_xlabel("Re μ")
        a.set_ylabel("Im μ")
        top = f", max |μ| = {np.abs(mu).max():.4f}" if len(mu) else ""
        a.set_title(_layer_title(L) + top, fontsize=9)
    handles = _marker_handles("μ") + [
        Line2D([], [], color="crimson", ls="--", label="unit circle |μ| = 1 (stability boundary)")]
    if own:
        fig.suptitle(f"Discrete-time map μ = (1 − α) + α λ, α = {alpha:g}: {res.architecture}\n"
                     "(panels zoomed on the eigenvalues; inset: whole unit circle)")
        fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=8, frameon=False)
        fig.tight_layout(rect=(0, 0.04, 1, 0.95))
    else:
        axes[0].legend(handles=handles, fontsize=7, loc="best")
    return fig


def residuals(results: ResultsLike, layer: Union[str, Sequence[str], None] = None, ax=None):
    """Residuals ‖A v − λ v‖ / ‖v‖ of the stored eigenpairs, one line per layer, on a log scale.

    Dashed lines: each layer's convergence threshold tol · max(1, |λ|); red crosses: unconverged pairs.
    Residuals are guaranteed only in files written with `--vectors` (ValueError when no selected layer has any).
    layer: a name, several names or None (all). ax: draw into this Axes.
    Returns the Figure (notebooks/spectra.ipynb saves it as spectra_residuals.png).
    """
    from matplotlib.lines import Line2D
    from matplotlib.ticker import LogFormatterSciNotation
    res = _load(results)
    with_res = [L for L in _layers(res, layer) if L.residuals is not None and len(L.residuals)]
    if not with_res:
        raise ValueError(f"No residuals in {res.path}: they are written together with the eigenvectors "
                         "(`convdyn spectrum ... --vectors`).")
    fig, ax, own = _axes(ax, (8, 4.5))
    tiny = np.finfo(float).tiny
    for i, L in enumerate(with_res):
        idx, rr, conv = np.arange(len(L.residuals)), np.maximum(L.residuals, tiny), L.converged_mask
        ax.semilogy(idx, rr, "-", color=f"C{i}", lw=0.8, alpha=0.6)
        ax.semilogy(idx[conv], rr[conv], "o", color=f"C{i}", ms=4, label=f"{L.name} ({L.method})")
        if (~conv).any():
            ax.semilogy(idx[~conv], rr[~conv], "x", color="red", ms=7, mew=1.5)
        if L.tol:
            ax.semilogy(idx, L.tol * np.maximum(1.0, np.abs(L.eigenvalues)), "--", color=f"C{i}", lw=0.9)
    extra = [Line2D([], [], ls="", marker="x", color="red", mew=1.5, label="not converged")]
    if any(L.tol for L in with_res):
        extra.append(Line2D([], [], ls="--", color="0.4", label="tolerance tol·max(1,|λ|)"))
    ax.legend(handles=ax.get_legend_handles_labels()[0] + extra, fontsize=8, loc="best")
    ax.set_xlabel("eigenpair index (order of `which`, best first)")
    ax.set_ylabel("residual ‖Av − λv‖ / ‖v‖")
    ax.set_title(f"Eigenpair residuals: {res.architecture}")
    ax.grid(True, which="major", alpha=0.3)
    ax.yaxis.set_minor_formatter(LogFormatterSciNotation(labelOnlyBase=False, minor_thresholds=(2, 0.5)))
    if own:
        fig.tight_layout()
    return fig


# --- stability -------------------------------------------------------------------------------------------------
def _xticklabels(ax, x, names):
    ax.set_xticks(x)
    ax.set_xticklabels(names, rotation=30 if len(names) > 4 else 0, ha="right" if len(names) > 4 else "center")


def margins(results: ResultsLike, alpha: float = 0.2, fig=None):
    """Per-layer stability margins from the stored spectra, as two bar charts coloured STABLE/UNSTABLE.

    Left: continuous time, 1 − max Re λ(W); right: the discrete-time map, 1 − max |μ| with μ = (1 − α) + α λ.
    Verdicts the stored eigenvalues do not certify (partial spectrum, unconverged pairs;
    `convdyn.results.spectral_margins`) are hatched and marked '?'. Needs no `/stability` group.
    fig: draw the two panels into this figure. Returns the Figure (stability_margins.png in stability.ipynb).
    """
    from matplotlib.patches import Patch
    res = _load(results)
    rows = _results.spectral_margins(res, alpha)
    colours = {"STABLE": "tab:green", "UNSTABLE": "tab:red"}
    if fig is None:
        fig, axes = _plt().subplots(1, 2, figsize=(max(9.0, 1.3 * len(rows) + 5), 4.6), squeeze=False)
    else:
        axes = fig.subplots(1, 2, squeeze=False)
    panels = [("margin_w", "ver_w", "ok_w", "continuous time: 1 − max Re λ(W)"),
              ("margin_m", "ver_m", "ok_m", f"discrete-time map: 1 − max |μ|, α = {alpha:g}")]
    x = np.arange(len(rows))
    for ax, (mk, vk, ok, title) in zip(axes.flat, panels):
        vals = np.array([r[mk] for r in rows])
        bars = ax.bar(x, vals, color=[colours[r[vk]] for r in rows], edgecolor="black", linewidth=0.6)
        for bar, r in zip(bars, rows):
            if not r[ok]:
                bar.set_hatch("//")
                bar.set_alpha(0.6)
        ax.axhline(0, color="black", lw=0.9)
        span = max(np.abs(vals).max(), 1e-12)
        ax.set_ylim(min(vals.min(), 0) - 0.4 * span, max(vals.max(), 0) + 0.4 * span)
        for xi, v, r in zip(x, vals, rows):
            label = r[vk] + ("" if r[ok] else "?")
            ax.annotate(f"{label}\n{v:+.3g}", (xi, v), xytext=(0, 4 if v >= 0 else -4), textcoords="offset points",
                        ha="center", va="bottom" if v >= 0 else "top", fontsize=8)
        _xticklabels(ax, x, [r["layer"] for r in rows])
        ax.set_xlabel("layer")
        ax.set_ylabel("stability margin (> 0: stable)")
        ax.set_title(title, fontsize=10)
        ax.grid(True, axis="y", alpha=0.3)
    legend = [Patch(facecolor="tab:green", edgecolor="black", label="STABLE (margin > 0)"),
              Patch(facecolor="tab:red", edgecolor="black", label="UNSTABLE (margin ≤ 0)"),
              Patch(facecolor="white", edgecolor="black", hatch="//",
                    label="? not certified (partial spectrum / unconverged)")]
    fig.legend(handles=legend, loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.suptitle(f"Stability margins from the spectra: {res.architecture}, {_checkpoint_name(res)}")
    fig.tight_layout(rect=(0, 0.07, 1, 0.95))
    return fig


def verdicts(results: ResultsLike, ax=None):
    """`/stability` per area: the margin 1 − max Re λ(W) as bars coloured by the area's verdict.

    The verdict also takes the fixed points into account (a positive margin can still be UNDECIDED when a fixed
    point was not reached). ValueError without `/stability`. ax: draw into this Axes.
    Returns the Figure (stability_verdicts.png in stability.ipynb).
    """
    from matplotlib.patches import Patch
    res = _load(results)
    st = _stability(res)
    areas = list(st.areas.values())
    x = np.arange(len(areas))
    vals = np.array([np.nan if a.margin is None else a.margin for a in areas])
    fig, ax, own = _axes(ax, (max(7.0, 1.5 * len(areas) + 3), 4.8))
    ax.bar(x, np.nan_to_num(vals), color=[VERDICT_COLOURS.get(a.verdict, "tab:gray") for a in areas],
           edgecolor="black", linewidth=0.6)
    ax.axhline(0, color="black", lw=0.9)
    finite = np.isfinite(vals).any()
    span = max(np.nanmax(np.abs(vals)) if finite else 0.0, 1e-12)
    lo, hi = (np.nanmin(vals), np.nanmax(vals)) if finite else (0.0, 0.0)
    ax.set_ylim(min(lo, 0) - 0.45 * span, max(hi, 0) + 0.45 * span)
    for xi, v, a in zip(x, np.nan_to_num(vals), areas):
        ax.annotate(f"{a.verdict}\n{v:+.3g}", (xi, v), xytext=(0, 4 if v >= 0 else -4), textcoords="offset points",
                    ha="center", va="bottom" if v >= 0 else "top", fontsize=8)
    _xticklabels(ax, x, [a.name for a in areas])
    ax.set_xlabel("area")
    ax.set_ylabel("margin 1 − max Re λ(W)  (> 0: linear model stable)")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(handles=[Patch(facecolor=c, edgecolor="black", label=v) for v, c in VERDICT_COLOURS.items()],
              loc="best", fontsize=8)
    alpha = "?" if st.alpha is None else f"{st.alpha:g}"
    ax.set_title(f"convdyn stability: model {st.verdict}, α = {alpha}, {len(st.inputs)} input(s)\n"
                 f"{res.architecture}, {_checkpoint_name(res)}", fontsize=10)
    if own:
        fig.tight_layout()
    return fig


def _area_ticks(ax, x, areas):
    ax.set_xticks(x)
    ax.set_xticklabels([f"{a.name}\n{a.verdict}" for a in areas], fontsize=8)
    for lbl, a in zip(ax.get_xticklabels(), areas):
        lbl.set_color(VERDICT_COLOURS.get(a.verdict, "black"))


def certificates(results: ResultsLike, ax=None):
    """`/stability` per area: ρ(W), max Re λ(W), ω(W) = λmax((W + Wᵀ)/2) and ‖W‖₂ as grouped bars against 1.

    ★ marks a contraction (‖W‖₂ < 1: stable for every input), ▲ transient amplification (ω(W) ≥ 1 while every
    Re λ < 1); ‖W‖₂/ρ is written under each area; hollow hatched bars: the Lanczos solve did not converge.
    ValueError without `/stability`. ax: draw into this Axes.
    Returns the Figure (stability_certificates.png in stability.ipynb).
    """
    res = _load(results)
    st = _stability(res)
    areas = list(st.areas.values())
    x = np.arange(len(areas))
    certs = [("spectral_radius", "ρ(W) = max |λ|", "tab:blue", None),
             ("abscissa", "max Re λ(W)", "tab:purple", None),
             ("numerical_abscissa", "ω(W) = λmax((W + Wᵀ)/2)", "tab:olive", "numerical_abscissa_converged"),
             ("norm2", "‖W‖₂", "tab:brown", "norm2_converged")]
    width = 0.8 / len(certs)
    fig, ax, own = _axes(ax, (max(8.0, 1.9 * len(areas) + 3), 5.0))
    top = 1.0
    for j, (key, label, colour, conv_key) in enumerate(certs):
        xs = x - 0.4 + (j + 0.5) * width
        vals = np.array([np.nan if getattr(a, key) is None else getattr(a, key) for a in areas], dtype=float)
        top = max(top, np.nanmax(vals) if np.isfinite(vals).any() else 0.0)
        bars = ax.bar(xs, np.nan_to_num(vals), width=width, color=colour, edgecolor="black", linewidth=0.5,
                      label=label)
        for bar, a in zip(bars, areas):
            if conv_key and getattr(a, conv_key) is False:
                bar.set_facecolor("white")
                bar.set_edgecolor(colour)
                bar.set_hatch("//")
        for xi, v in zip(xs, vals):
            if np.isfinite(v):
                ax.annotate(f"{v:.2f}", (xi, v), xytext=(0, 2), textcoords="offset points", ha="center",
                            va="bottom", fontsize=6.5, rotation=90)
    ax.axhline(1.0, color="black", lw=1.2, ls="--", label="1 (stability boundary)")
    for xi, a in zip(x, areas):
        marks = ("★ contraction" if a.contraction else "") \
            + ("\n" if a.contraction and a.transient_amplification else "") \
            + ("▲ transient ampl." if a.transient_amplification else "")
        if marks:
            ax.annotate(marks, (xi, top * 1.18), ha="center", va="bottom", fontsize=7.5,
                        color="tab:green" if a.contraction else "tab:red")
        ax.annotate(f"‖W‖/ρ = {a.norm_over_radius:.2f}" if a.norm_over_radius is not None else "", (xi, 0),
                    xytext=(0, -28), textcoords="offset points", ha="center", va="top", fontsize=7, color="0.3")
    ax.set_ylim(0, top * 1.38)
    _area_ticks(ax, x, areas)
    ax.set_ylabel("value (compare with 1)")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", ncol=3)
    ax.set_title(f"Stability certificates per area (model {st.verdict})", fontsize=10)
    if own:
        fig.tight_layout()
    return fig


def _input_styles(st, areas):
    """(labels, style: label -> (marker, colour), offsets per input, column of a fixed point)."""
    plt = _plt()
    labels = list(st.inputs) or sorted({str(fp.input) for a in areas for fp in a.inputs})
    cmap = plt.get_cmap("tab10")
    style = {lab: (_MARKERS[i % len(_MARKERS)], cmap(i % 10)) for i, lab in enumerate(labels)}
    ni = max(len(labels), 1)
    offs = (np.arange(ni) - (ni - 1) / 2) * min(0.7 / ni, 0.15)

    def offset(fp):
        k = labels.index(fp.input) if fp.input in labels else fp.index
        return offs[k % ni]
    return labels, style, offset


def _fixed_point_areas(res):
    st = _stability(res)
    areas = list(st.areas.values())
    if not any(a.inputs for a in areas):
        raise ValueError(f"{res.path}: /stability has no per-input fixed points")
    return st, areas


def fixed_points(results: ResultsLike, ax=None):
    """`/stability` across inputs: the spectral radius of the discrete map (1 − α)I + α·D·W at each input's fixed
    point, per area (< 1: locally stable; D: the active units). One marker per input (`zero` is the spontaneous
    activity); inputs whose fixed point was not reached (oscillating, diverging, step limit) are drawn as hollow
    markers with ✕ in a grey band at the top, labelled with their status.
    ValueError without `/stability` or fixed points. ax: draw into this Axes.
    Returns the Figure (stability_fixed_points.png in stability.ipynb).
    """
    plt = _plt()
    res = _load(results)
    st, areas = _fixed_point_areas(res)
    labels, style, offset = _input_styles(st, areas)
    x = np.arange(len(areas))
    radii = [fp.spectral_radius for a in areas for fp in a.inputs if fp.reached and fp.spectral_radius is not None]
    lo = min(radii + [1.0]) if radii else 0.8
    hi = max(radii + [1.0]) if radii else 1.0
    pad = max(0.05, 0.15 * (hi - lo))
    y_unreached = hi + pad
    fig, ax, own = _axes(ax, (max(8.0, 1.7 * len(areas) + 3), 5.0))
    any_unreached = False
    for xi, a in zip(x, areas):
        for fp in a.inputs:
            marker, colour = style.get(fp.input, ("o", "black"))
            xp = xi + offset(fp)
            if fp.reached and fp.spectral_radius is not None:
                ax.plot(xp, fp.spectral_radius, marker=marker, color=colour, ms=8, ls="none", mec="black", mew=0.6)
            else:
                any_unreached = True
                ax.plot(xp, y_unreached, marker=marker, color="none", ms=10, ls="none", mec=colour, mew=1.6)
                ax.plot(xp, y_unreached, marker="x", color="black", ms=6, ls="none", mew=1.4)
                ax.annotate(str(fp.status), (xp, y_unreached), xytext=(0, 9), textcoords="offset points",
                            ha="center", va="bottom", fontsize=6.5, rotation=90, color="0.3")
    ax.axhline(1.0, color="black", lw=1.2, ls="--")
    ax.set_ylim(lo - pad, y_unreached + 2.2 * pad if any_unreached else hi + pad)
    if any_unreached:       # a separate band, not a value: no numeric ticks there
        sep = y_unreached - pad / 2
        ax.axhspan(sep, y_unreached + 2.2 * pad, color="0.92", zorder=0)
        ax.axhline(sep, color="0.5", lw=0.8)
        ticks = [t for t in ax.get_yticks() if lo - pad <= t < sep]
        ax.set_yticks(ticks + [y_unreached])
        ax.set_yticklabels([f"{t:.2f}" for t in ticks] + ["not\nreached"])
    handles = [plt.Line2D([], [], marker=style[lab][0], color=style[lab][1], mec="black", ls="none", ms=8, label=lab)
               for lab in labels]
    handles.append(plt.Line2D([], [], color="black", ls="--", label="1: local stability boundary"))
    if any_unreached:
        handles.append(plt.Line2D([], [], marker="o", color="none", mec="0.3", mew=1.6, ls="none", ms=10,
                                  label="hollow + x: no fixed point reached (status)"))
    ax.legend(handles=handles, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13),
              ncol=min(5, len(handles)), frameon=False)
    _area_ticks(ax, x, areas)
    alpha = "?" if st.alpha is None else f"{st.alpha:g}"
    ax.set_ylabel(f"ρ((1 − α)I + α·D·W) at the fixed point, α = {alpha}")
    ax.grid(True, axis="y", alpha=0.3)
    ax.set_title("Discrete map's spectral radius at each input's fixed point (< 1: locally stable)", fontsize=10)
    if own:
        fig.tight_layout()
    return fig


def fixed_point_residuals(results: ResultsLike, ax=None):
    """`/stability` across inputs: the fixed-point residual ‖F(r) − r‖ / max(1, ‖r‖) per area and input, on a log
    scale (hollow markers: no fixed point reached). ValueError without `/stability` or fixed points.
    ax: draw into this Axes. Returns the Figure (stability_fixed_point_residuals.png in stability.ipynb).
    """
    plt = _plt()
    res = _load(results)
    st, areas = _fixed_point_areas(res)
    labels, style, offset = _input_styles(st, areas)
    x = np.arange(len(areas))
    fig, ax, own = _axes(ax, (max(8.0, 1.7 * len(areas) + 3), 4.6))
    for xi, a in zip(x, areas):
        for fp in a.inputs:
            if fp.fixed_point_residual is None:
                continue
            marker, colour = style.get(fp.input, ("o", "black"))
            ax.semilogy(xi + offset(fp), max(fp.fixed_point_residual, 1e-300), marker=marker, ls="none", ms=8,
                        color=colour if fp.reached else "none", mec=colour if not fp.reached else "black",
                        mew=1.5 if not fp.reached else 0.6)
    handles = [plt.Line2D([], [], marker=style[lab][0], color=style[lab][1], mec="black", ls="none", ms=8, label=lab)
               for lab in labels]
    handles.append(plt.Line2D([], [], marker="o", color="none", mec="black", mew=1.5, ls="none", ms=8,
                              label="hollow: not reached"))
    ax.legend(handles=handles, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.08),
              ncol=min(5, len(handles)), frameon=False)
    ax.set_xticks(x)
    ax.set_xticklabels([a.name for a in areas], fontsize=8)
    ax.set_ylabel("‖F(r) − r‖ / max(1, ‖r‖)")
    ax.grid(True, which="both", axis="y", alpha=0.3)
    ax.set_title("Fixed-point residual per input", fontsize=10)
    if own:
        fig.tight_layout()
    return fig


# --- eigenvectors ----------------------------------------------------------------------------------------------
def _eigenpair(results, layer, index):
    res = _load(results, vectors=True)
    if layer is None:
        layer = next((name for name, L in res.layers.items() if L.has_vectors), None)
        if layer is None:
            raise _results.ResultsError(f"{res.path} has no eigenvectors for any layer: write them with "
                                        "`convdyn spectrum ... --vectors`")
    return _results.eigenpair(_layers(res, layer)[0], index)


def eigenvector_maps(results: ResultsLike, layer: Optional[str] = None, index: int = 0, fig=None):
    """One eigenvector as a grid of per-channel spatial maps [H, W]: Re v (diverging colour map, symmetric), and
    |v| too when the eigenpair is complex. The phase is fixed so that the largest entry is real and positive
    (`convdyn.results.eigenpair`).

    layer: the layer (None: the first with eigenvectors); index: the stored eigenpair (0: the top one in the file's
    `which` order). A path is loaded with its eigenvectors; a Results must have been too (ResultsError otherwise).
    fig: draw into this figure. Returns the Figure (eigenvector_<layer>_<index>_maps.png in eigenvectors.ipynb,
    '/' in the layer's name replaced by '_').
    """
    ep = _eigenpair(results, layer, index)
    v = ep.vector
    C, H, W = v.shape
    quantities = [("Re v", v.real, "RdBu_r", True)]
    if ep.is_complex:
        quantities.append(("|v|", np.abs(v), "viridis", False))
    ncols = min(C, 8)
    rows_per_q = int(np.ceil(C / ncols))
    cell = 1.6 if max(H, W) <= 16 else 2.0
    shape = (rows_per_q * len(quantities), ncols)
    if fig is None:
        fig, axes = _plt().subplots(*shape, squeeze=False,
                                    figsize=(cell * ncols + 1.2, cell * rows_per_q * len(quantities) + 1.0))
    else:
        axes = fig.subplots(*shape, squeeze=False)
    for q, (label, data, cmap, symmetric) in enumerate(quantities):
        vmax = np.abs(data).max() or 1.0
        vmin = -vmax if symmetric else 0.0
        block = axes[q * rows_per_q:(q + 1) * rows_per_q]
        for c, ax in enumerate(block.flat):
            if c >= C:
                ax.set_visible(False)
                continue
            im = ax.imshow(data[c], cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{label}, ch {c}", fontsize=8)
        fig.colorbar(im, ax=list(block.flat), shrink=0.85, label=label)
    fig.suptitle(f"{ep.layer.name}: eigenvector #{ep.index}, {ep.label} ({C} channels, {H}x{W} each)")
    return fig


def channel_energy(results: ResultsLike, layer: Optional[str] = None, index: int = 0, ax=None):
    """Energy Σ_{h,w} |v_c(h, w)|² of one eigenvector per channel c, as bars (they sum to 1: unit norm).

    Arguments as for `eigenvector_maps`; ax: draw into this Axes.
    Returns the Figure (eigenvector_<layer>_<index>_channel_energy.png in eigenvectors.ipynb).
    """
    ep = _eigenpair(results, layer, index)
    energy = ep.channel_energy
    C = len(energy)
    fig, ax, own = _axes(ax, (max(5.0, 0.35 * C + 2), 3.6))
    ax.bar(np.arange(C), energy, color="C0")
    ax.set_xlabel("channel")
    ax.set_ylabel("energy Σ |v|² over H, W")
    ax.set_title(f"{ep.layer.name}: channel energy of eigenvector #{ep.index}\n{ep.label}, total {energy.sum():.4f}")
    if C <= 32:
        ax.set_xticks(np.arange(C))
    ax.grid(True, axis="y", alpha=0.3)
    if own:
        fig.tight_layout()
    return fig
