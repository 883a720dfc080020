"""Closed-form Kalman algebra for one- and two-dimensional position measurements.

Unrolled float arithmetic on the 4-state covariance (16 floats, row-major): at this size
Python arithmetic is several times faster than numpy calls. Every H here has zero velocity
columns, rows ``(d/de, d/dn)``. Covariances are computed as their upper triangle and
mirrored, so they stay exactly symmetric.
"""

from __future__ import annotations

from grid.fusion.gaussian import Cov4, Gaussian, Vec4, symmetric

__all__ = ["Cross", "Gain", "blend", "cross_1", "cross_2", "gain", "joseph_1", "joseph_2", "reduced", "shift"]

Cross = tuple[tuple[float, ...], ...]  # four rows of m: P H^T or Pxz
Gain = tuple[tuple[float, ...], ...]  # four rows of m: K


def cross_1(p: Cov4, h: tuple[float, float]) -> tuple[Cross, float]:
    """(P H^T, H P H^T) for one measurement row."""
    h0, h1 = h
    u0, u1 = p[0] * h0 + p[1] * h1, p[4] * h0 + p[5] * h1
    return ((u0,), (u1,), (p[8] * h0 + p[9] * h1,), (p[12] * h0 + p[13] * h1,)), h0 * u0 + h1 * u1


def cross_2(
    p: Cov4, ha: tuple[float, float], hb: tuple[float, float]
) -> tuple[Cross, tuple[float, float, float]]:
    """(P H^T, upper triangle of H P H^T) for two measurement rows."""
    a0, a1 = ha
    b0, b1 = hb
    rows = tuple((p[4 * i] * a0 + p[4 * i + 1] * a1, p[4 * i] * b0 + p[4 * i + 1] * b1) for i in range(4))
    (u00, u01), (u10, u11) = rows[0], rows[1]
    return rows, (a0 * u00 + a1 * u10, a0 * u01 + a1 * u11, b0 * u01 + b1 * u11)


def gain(cross: Cross, s_inv: tuple[float, ...]) -> Gain:
    """K = cross S^-1 for m = 1 or 2."""
    if len(s_inv) == 1:
        w = s_inv[0]
        return tuple((row[0] * w,) for row in cross)
    s00, s01, s10, s11 = s_inv
    return tuple((r0 * s00 + r1 * s10, r0 * s01 + r1 * s11) for r0, r1 in cross)


def shift(x: Vec4, k: Gain, y: tuple[float, ...]) -> Vec4:
    """x + K y."""
    if len(y) == 1:
        v = y[0]
        return (x[0] + k[0][0] * v, x[1] + k[1][0] * v, x[2] + k[2][0] * v, x[3] + k[3][0] * v)
    y0, y1 = y
    return (
        x[0] + k[0][0] * y0 + k[0][1] * y1,
        x[1] + k[1][0] * y0 + k[1][1] * y1,
        x[2] + k[2][0] * y0 + k[2][1] * y1,
        x[3] + k[3][0] * y0 + k[3][1] * y1,
    )


def reduced(p: Cov4, k: Gain, cross: Cross) -> Cov4:
    """P - K cross^T (= P - K S K^T for the optimal gain), for any m."""
    out = []
    for i, j in ((0, 0), (0, 1), (0, 2), (0, 3), (1, 1), (1, 2), (1, 3), (2, 2), (2, 3), (3, 3)):
        ki, cj = k[i], cross[j]
        out.append(p[4 * i + j] - sum(a * b for a, b in zip(ki, cj, strict=True)))
    return symmetric(tuple(out))


def joseph_1(p: Cov4, k: Gain, u: Cross, r: float, h: tuple[float, float]) -> Cov4:
    """(I - KH) P (I - KH)^T + K r K^T for one row: B + (r K - B H^T) K^T with B = P - K u^T."""
    (k0,), (k1,), (k2,), (k3,) = k
    (u0,), (u1,), (u2,), (u3,) = u
    h0, h1 = h
    b00, b01, b02, b03 = p[0] - k0 * u0, p[1] - k0 * u1, p[2] - k0 * u2, p[3] - k0 * u3
    b10, b11, b12, b13 = p[4] - k1 * u0, p[5] - k1 * u1, p[6] - k1 * u2, p[7] - k1 * u3
    b20, b21, b22, b23 = p[8] - k2 * u0, p[9] - k2 * u1, p[10] - k2 * u2, p[11] - k2 * u3
    b30, b31, b33 = p[12] - k3 * u0, p[13] - k3 * u1, p[15] - k3 * u3
    c0 = r * k0 - b00 * h0 - b01 * h1
    c1 = r * k1 - b10 * h0 - b11 * h1
    c2 = r * k2 - b20 * h0 - b21 * h1
    c3 = r * k3 - b30 * h0 - b31 * h1
    return symmetric(
        (
            b00 + c0 * k0, b01 + c0 * k1, b02 + c0 * k2, b03 + c0 * k3,
            b11 + c1 * k1, b12 + c1 * k2, b13 + c1 * k3,
            b22 + c2 * k2, b23 + c2 * k3,
            b33 + c3 * k3,
        )
    )  # fmt: skip


def joseph_2(p: Cov4, k: Gain, u: Cross, r: tuple[float, ...], h: tuple[tuple[float, float], ...]) -> Cov4:
    """The Joseph form for two rows, as :func:`joseph_1`; ``r`` is R row-major."""
    (ha0, ha1), (hb0, hb1) = h
    r00, r01, r10, r11 = r
    b: list[tuple[float, float, float, float]] = []
    c: list[tuple[float, float]] = []
    for i in range(4):
        ki0, ki1 = k[i]
        row = (
            p[4 * i] - ki0 * u[0][0] - ki1 * u[0][1],
            p[4 * i + 1] - ki0 * u[1][0] - ki1 * u[1][1],
            p[4 * i + 2] - ki0 * u[2][0] - ki1 * u[2][1],
            p[4 * i + 3] - ki0 * u[3][0] - ki1 * u[3][1],
        )
        b.append(row)
        c.append(
            (
                ki0 * r00 + ki1 * r10 - row[0] * ha0 - row[1] * ha1,
                ki0 * r01 + ki1 * r11 - row[0] * hb0 - row[1] * hb1,
            )
        )
    out = []
    for i, j in ((0, 0), (0, 1), (0, 2), (0, 3), (1, 1), (1, 2), (1, 3), (2, 2), (2, 3), (3, 3)):
        ci, kj = c[i], k[j]
        out.append(b[i][j] + ci[0] * kj[0] + ci[1] * kj[1])
    return symmetric(tuple(out))


def blend(prior: Gaussian, k: Gain, y: tuple[float, ...], updated: Cov4, weight: float) -> Gaussian:
    """The PDA posterior for a detection that is the target's with probability ``weight``:
    ``x + w K y`` and ``(1 - w) P + w P_updated + w (1 - w) (K y)(K y)^T``."""
    ky = shift((0.0, 0.0, 0.0, 0.0), k, y)
    x = prior.x
    spread = weight * (1.0 - weight)
    keep = 1.0 - weight
    p = prior.p
    return Gaussian(
        (x[0] + weight * ky[0], x[1] + weight * ky[1], x[2] + weight * ky[2], x[3] + weight * ky[3]),
        tuple(
            keep * p[4 * i + j] + weight * updated[4 * i + j] + spread * ky[i] * ky[j]
            for i in range(4)
            for j in range(4)
        ),
    )
