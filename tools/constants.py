#!/usr/bin/env python3
"""The constant tables and polynomial coefficients of focal's SIMD layer (include/focal/detail/
simd/exp.hpp, simd/log.hpp), regenerated.

  python3 tools/constants.py tables    # the AVX-512 log(1/c) tables, as the header spells them
  python3 tools/constants.py minimax   # the two minimax fits, refitted, and the header's errors

Needs Python 3 and mpmath (Debian: python3-mpmath).

tables: log(1/c) for c = k/32, k = 16..31 (float; entry k = 32, c = 1, is the zero register) and
c = k/16, k = 8..15 (double), each split into a high word (the value rounded to the format)
and a low word (the rest, rounded): exactly the literals of table_log.

minimax: the degree-4 polynomial P of exp(r) = 1 + r + r^2 P(r) on |r| <= ln2/2 (float) for
the least maximum relative error of exp, and the degree-10 polynomial P of
log1p(r) = r + r^2 P(r) on |r| <= 1/16 (double) for the least maximum relative error of
log1p, by Remez exchange; the coefficients rounded to the format. Printed beside the header's
coefficients, with the maximum relative error of each set (exact arithmetic on the rounded
coefficients), in units of the format's unit roundoff. The float exp fit reproduces the
header's to a few ulps of its last coefficient, at the same error (0.064 u, 2^-28.0). The
double log1p coefficients in the header came from a fit whose interval was not recorded: the
symmetric refit here is ten times more accurate (0.002 u against 0.022 u), but replacing them
would change the bits of every AVX-512 double result, for errors far below a rounding either way.
"""
import struct
import sys

import mpmath as mp

mp.mp.dps = 60


def to_float(x):
    """x rounded to binary32 (via exact binary64 rounding of a value with 60 digits first:
    the double rounding is checked below)."""
    return struct.unpack('f', struct.pack('f', float(x)))[0]


def round_to(x, single):
    if not single:
        return float(x)
    f = to_float(x)
    # Correct a double rounding: compare the neighbours of f.
    best = f
    for cand in (f, next_float(f, +1), next_float(f, -1)):
        if abs(mp.mpf(cand) - x) < abs(mp.mpf(best) - x):
            best = cand
    return best


def next_float(f, direction):
    bits = struct.unpack('I', struct.pack('f', f))[0]
    if f == 0:
        return struct.unpack('f', struct.pack('I', 1))[0] * direction
    up = (f > 0) == (direction > 0)
    bits = bits + 1 if up else bits - 1
    return struct.unpack('f', struct.pack('I', bits))[0]


def split(x, single):
    hi = round_to(x, single)
    lo = round_to(x - mp.mpf(hi), single)
    return hi, lo


def fmt(v, single):
    return repr(float(v)) + ('f' if single else '')


def tables():
    for single, den, ks in ((True, 32, range(16, 32)), (False, 16, range(8, 16))):
        entries = [split(mp.log(mp.mpf(den) / k), single) for k in ks]
        name = 'float' if single else 'double'
        print('%s hi: %s' % (name, ', '.join(fmt(h, single) for h, _ in entries)))
        print('%s lo: %s' % (name, ', '.join(fmt(l, single) for _, l in entries)))


def remez(f, w, a, b, degree, iterations=30, grid=4000):
    """Coefficients c_0..c_degree of the polynomial minimizing max |w(x) (p(x) - f(x))| on
    [a, b] (Remez exchange on a dense grid)."""
    n = degree + 2
    xs = [(a + b) / 2 + (b - a) / 2 * mp.cos(mp.pi * (n - 1 - i) / (n - 1)) for i in range(n)]
    pts = [a + (b - a) * mp.mpf(i) / grid for i in range(grid + 1)]
    pts = [p if p != 0 else mp.mpf(b - a) / (grid * 1000) for p in pts]
    coeffs = None
    for _ in range(iterations):
        A = mp.matrix(n, n)
        rhs = mp.matrix(n, 1)
        for i, x in enumerate(xs):
            for j in range(degree + 1):
                A[i, j] = x ** j
            A[i, degree + 1] = (-1) ** i / w(x)
            rhs[i] = f(x)
        sol = mp.lu_solve(A, rhs)
        coeffs = [sol[j] for j in range(degree + 1)]
        err = [w(x) * (poly(coeffs, x) - f(x)) for x in pts]
        # Extrema of alternating sign: the largest |err| in each run of one sign.
        ext = []
        start = 0
        for i in range(1, len(pts) + 1):
            if i == len(pts) or mp.sign(err[i]) != mp.sign(err[start]):
                k = max(range(start, i), key=lambda t: abs(err[t]))
                ext.append(k)
                start = i
        while len(ext) > n:  # drop the smaller end
            if abs(err[ext[0]]) < abs(err[ext[-1]]):
                ext.pop(0)
            else:
                ext.pop()
        if len(ext) < n:
            break
        xs = [pts[k] for k in ext]
    return coeffs


def poly(c, x):
    y = mp.mpf(0)
    for v in reversed(c):
        y = y * x + v
    return y


def max_rel(f_true, approx, a, b, grid=20000):
    worst = mp.mpf(0)
    for i in range(grid + 1):
        x = a + (b - a) * mp.mpf(i) / grid
        if x == 0:
            continue
        worst = max(worst, abs(approx(x) / f_true(x) - 1))
    return worst


def minimax():
    # exp, float: exp(r) = 1 + r + r^2 P(r); relative error of exp: r^2 (P - y) / exp(r).
    h = mp.log(2) / 2

    def y_exp(r):
        return (mp.exp(r) - 1 - r) / r ** 2

    fit = remez(y_exp, lambda r: r ** 2 / mp.exp(r), -h, h, 4)
    header = [4.9999993451e-1, 1.6666520688e-1, 4.1668387409e-2, 8.3687100353e-3, 1.3814611001e-3]
    header = [to_float(v) for v in header]
    rounded = [round_to(v, True) for v in fit]
    u = mp.mpf(2) ** -24
    for name, c in (('refit', rounded), ('header', header)):
        e = max_rel(mp.exp, lambda r: 1 + r + r ** 2 * poly(c, r), -h, h)
        print('exp float %-6s %s  max rel error %.3g u (2^%.1f)' %
              (name, ', '.join('%.10e' % v for v in reversed(c)), e / u, mp.log(e, 2)))
    # log1p, double: log1p(r) = r + r^2 P(r); relative error of log1p.
    q = mp.mpf(1) / 16

    def y_log(r):
        return (mp.log1p(r) - r) / r ** 2

    fit = remez(y_log, lambda r: abs(r ** 2 / mp.log1p(r)), -q, q, 10)
    header = [-0.5, 0.33333333333333426, -0.25000000000000244, 0.19999999999610618,
              -0.16666666666039168, 0.14285714803218127, -0.12500000661843239,
              0.11110811031481257, -0.0999966790306496, 0.09169827163376812,
              -0.08412310281403275]
    rounded = [round_to(v, False) for v in fit]
    u = mp.mpf(2) ** -53
    for name, c in (('refit', rounded), ('header', header)):
        e = max_rel(mp.log1p, lambda r: r + r ** 2 * poly(c, r), -q, q)
        print('log1p double %-6s %s  max rel error %.3g u' %
              (name, ', '.join(repr(v) for v in reversed(c)), e / u))


if __name__ == '__main__':
    {'tables': tables, 'minimax': minimax}[sys.argv[1] if len(sys.argv) > 1 else 'tables']()
