"""Chebyshev filter polynomials on an ellipse, and the ellipse fit from Ritz values.

Ellipse family: centre c (real), focal parameter e2 = e^2 (real, any sign): foci c +- e, i.e. real foci
(horizontal major axis) for e2 > 0, imaginary foci c +- i sqrt(-e2) (vertical major axis) for e2 < 0, and
the circle |z - c| = r for e2 = 0 (then p is the shifted power (z - c)^d).

The filter of degree d, normalised at a real point alpha (p(alpha) = 1 -> no overflow; the wanted values
have |p| ~ 1, the enclosed unwanted ones are damped):

    p_d(z) = T_d((z - c)/e) / T_d((alpha - c)/e)

Scaled three-term recurrence (real arithmetic for any sign of e2; a = alpha - c):
    r_0 = 1/a,           y_0 = v,   y_1 = r_0 (A - c) v
    r_j = 1/(2a - e2 r_{j-1}),      y_{j+1} = 2 r_j (A - c) y_j - e2 r_{j-1} r_j y_{j-1}
(derivation: with t_j = T_j(a/e), r_j = t_j / (e t_{j+1}); e2 = 0 gives y_j = ((A - c)/a)^j v.)
The first product A v is returned as well (the Rayleigh-Ritz with A stores U = A V for free).
"""
import numpy as np


class ChebFilter:
    def __init__(self, c, e2, alpha, d):
        self.c, self.e2, self.alpha, self.d = float(c), float(e2), float(alpha), int(d)
        if abs(self.alpha - self.c) < 1e-12:
            raise ValueError("normalisation point on the centre")

    def __repr__(self):
        return f"Cheb(d={self.d}, c={self.c:.4f}, e2={self.e2:.4f}, alpha={self.alpha:.4f})"

    def apply(self, op, v):
        """(p(A) v, A v): d matvecs."""
        a, c, e2 = self.alpha - self.c, self.c, self.e2
        Av = op.apply(v)
        r_prev = 1.0 / a
        y_prev, y = v, r_prev * (Av - c * v)
        for _ in range(1, self.d):
            r = 1.0 / (2.0 * a - e2 * r_prev)
            Ay = op.apply(y)
            y_new = (2.0 * r) * (Ay - c * y) - (e2 * r_prev * r) * y_prev
            y_prev, y, r_prev = y, y_new, r
        return y, Av

    def __call__(self, z):
        """p(z) for complex z (array), same recurrence."""
        z = np.asarray(z, dtype=complex)
        a, c, e2 = self.alpha - self.c, self.c, self.e2
        r_prev = 1.0 / a
        y_prev, y = np.ones_like(z), r_prev * (z - c)
        for _ in range(1, self.d):
            r = 1.0 / (2.0 * a - e2 * r_prev)
            y_new = 2.0 * r * (z - c) * y - e2 * r_prev * r * y_prev
            y_prev, y, r_prev = y, y_new, r
        return y


def phi_abs(z, c, e2):
    """|w(z)| for the conformal map w of the exterior of the focal segment: |T_d((z-c)/e)| ~ |w|^d / 2.
    The level curves |w| = const are the confocal ellipses; for e2 = 0 (circle) |w| = |z - c| (up to a
    constant factor, which cancels in ratios)."""
    z = np.asarray(z, dtype=complex)
    if e2 == 0.0:
        return np.abs(z - c)
    e = np.sqrt(complex(e2))
    zz = (z - c) / e
    s = np.sqrt(zz * zz - 1.0)
    return np.maximum(np.abs(zz + s), np.abs(zz - s)) * abs(e)  # times |e|: continuous as e2 -> 0


def filter_ratio(c, e2, wanted, unwanted):
    """Convergence factor per degree: max over unwanted |w| / min over wanted |w| (< 1 is good)."""
    return np.max(phi_abs(unwanted, c, e2)) / np.min(phi_abs(wanted, c, e2))


def fit_ellipse(wanted, unwanted, mode="ellipse", shift=1.0):
    """Choose (c, e2) for the unwanted Ritz values `unwanted` and the wanted `wanted` (complex arrays).

    mode 'ellipse': minimise filter_ratio over (c, e2) (Saad 1984's optimal ellipse for the worst
                    wanted value): a 2-D grid (port: 41 x 41 evaluations) then a Nelder-Mead polish.
    mode 'circle' : e2 = 0 and c = centre - shift * radius of the Ritz cloud (centre = mean of the Ritz
                    values' real parts, radius = max distance from it): p = ((z - c)/(alpha - c))^d.
    mode 'circle-opt': e2 = 0, c optimised (1-D).
    Returns (c, e2, ratio)."""
    wanted = np.asarray(wanted, complex)
    unwanted = np.asarray(unwanted, complex)
    allv = np.concatenate([wanted, unwanted])
    centre = float(np.mean(allv.real))
    R = float(np.max(np.abs(allv - centre)))
    xr = float(np.min(wanted.real))
    if mode == "circle":
        c = centre - shift * R
        return c, 0.0, filter_ratio(c, 0.0, wanted, unwanted)
    cs = np.linspace(centre - 3.0 * R, xr - 1e-3 * R, 61)
    if mode == "ellipse-q":
        # damp the bulk of the outline instead of the worst point: minimise the q-quantile (q = 0.8) of
        # |w(u)| / min |w(wanted)| over the unwanted Ritz values u (the top 20%, next to the wanted values,
        # cannot be damped anyway), a grid over (c, e2) as above
        e2s = np.concatenate([-np.linspace(0, 4 * R * R, 31)[::-1][:-1], np.linspace(0, 4 * R * R, 31)])
        best = (np.inf, None, None)
        for c in cs:
            for e2 in e2s:
                q = np.quantile(phi_abs(unwanted, c, e2), 0.8) / np.min(phi_abs(wanted, c, e2))
                if q < best[0]:
                    best = (q, c, e2)
        return float(best[1]), float(best[2]), float(best[0])
    if mode == "circle-opt":
        rat = [filter_ratio(c, 0.0, wanted, unwanted) for c in cs]
        i = int(np.argmin(rat))
        return float(cs[i]), 0.0, float(rat[i])
    e2s = np.concatenate([-np.linspace(0, 4 * R * R, 31)[::-1][:-1], np.linspace(0, 4 * R * R, 31)])
    best = (np.inf, None, None)
    for c in cs:
        for e2 in e2s:
            r = filter_ratio(c, e2, wanted, unwanted)
            if r < best[0]:
                best = (r, c, e2)
    try:
        from scipy.optimize import minimize
        f = lambda x: filter_ratio(x[0], x[1], wanted, unwanted) if x[0] < xr else 10.0
        res = minimize(f, [best[1], best[2]], method="Nelder-Mead",
                       options=dict(xatol=1e-4 * R, fatol=1e-7, maxiter=400))
        if res.fun < best[0]:
            best = (float(res.fun), float(res.x[0]), float(res.x[1]))
    except ImportError:
        pass
    return float(best[1]), float(best[2]), float(best[0])
