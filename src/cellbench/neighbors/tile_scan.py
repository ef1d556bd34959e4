"""Tiles of float32 products made and tested in registers: both sides' candidates, no product array.

Why it exists: the exact searches (`symmetric`, `query`) need, of each tile of products S = left .
right (a few million), only the few entries at most their row's bound or their column's bound
(about 0.1-1 %). A BLAS GEMM writes every product to memory and a second pass reads it back; at
d = 64 (66 terms a product) OpenBLAS makes 62 GFLOP/s of its 100 on a core here (the short inner
dimension leaves its packing and output writes uncovered) and the threshold pass added 10-25 %.
Here a compiled loop makes 6 x 16 products at a time in twelve 8-float vector registers
(`products_6x16`, fused multiply-adds over the inner dimension from panels packed once), tests them
against both bounds while still in registers, and writes only the candidates: 1.26 ns a product
with both tests at 100k x 64 on one Zen 4 core (105 GFLOP/s), against 1.95 ns for OpenBLAS's
products alone on the same tiles.

Layout: `pack_rows` puts a tile's rows in panels of 6 (each panel k-major: the 6 values of one
inner index together), `pack_columns` the columns in panels of 16 (the 16 values of one inner
index together); both padded with zeros. The loop takes a column panel (4 KB, stays in L1), runs
down up to CHUNK_PANELS row panels (about 130 KB, stay in L2), then the next column panel. So the
candidates come out column panel by column panel, not row-major: within a row its columns ascend,
and within a column its rows ascend, which is all the searches rely on (they group pairs by row
with a stable sort).

`all_products` writes every product of the same register tiles into a matrix: the symmetric
search's bounds need all the products of each row with a few thousand nearby cells, and make them
there about 1.15-1.4x faster than with BLAS's GEMM (single-threaded, 256 x 4,600 x 66).

Exactness: the products are sums of the same terms as BLAS's, rounded in another order (sequential
fused multiply-adds, or multiply-then-add where the CPU has no FMA: `llvm.fmuladd`). The searches'
proven margin covers any order of rounding, so their answers are the same bits either way
(tests/test_neighbors.py runs them both ways, and the tile against numpy's products on inputs whose
products are exact). numba compiles the loop on first use (about 1 s) and keeps it on disk where it
can (`_jit`); the searches take this path from `symmetric.SCAN_MIN_CELLS` cells on.
"""

from __future__ import annotations

import functools
import threading

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.core.extending import intrinsic

from cellbench.neighbors._jit import jit

#: Rows and columns of one register tile: 12 accumulators of 8 floats, 2 column vectors, 1 broadcast
#: row value: 15 of the 16 vector registers AVX2 has (the classic 6 x 16 float32 micro-kernel shape).
PANEL_ROWS = 6
PANEL_COLS = 16
#: Row panels run against one column panel before the next: 86 x 6 rows x 66 x 4 bytes = 136 KB at
#: d = 64, which stays in L2 while the column panels pass; 86 panels hold a 512-row block whole (a
#: second chunk of one panel would stream every column panel again for 6 rows).
CHUNK_PANELS = 86

# --------------------------------------------------------------------------------------------------
# The register tile, as a numba intrinsic in LLVM IR (compiled with the calling loop: no C compiler
# needed; LLVM lowers the 8-float vectors to what the CPU has). numba cannot express it itself: its
# loops keep no values in vector registers across iterations. It lives in this file because numba's
# disk cache is keyed on the file of the function it compiles: a change here recompiles the loop.
# --------------------------------------------------------------------------------------------------

_F32x8 = ir.VectorType(ir.FloatType(), 8)
_I64 = ir.IntType(64)
_I32 = ir.IntType(32)


@intrinsic
def products_6x16(typingctx, rows, rows_at, cols, cols_at, inner, row_bound, row_at, col_bound, col_at, out, out_at,
                  out_stride, masks):
    """The 6 x 16 products of row panel rows[rows_at:] and column panel cols[cols_at:] (inner terms
    each), into out row-major from out_at, rows out_stride apart, and their tests as bit masks: masks[0] bit 16 r + t where product
    (r, t) <= row_bound[row_at + r], rows 0-3; masks[1] the same for rows 4-5 (bit 16 (r - 4) + t);
    masks[2] and masks[3] likewise where it is <= col_bound[col_at + t]. Returns the OR of the four.

    All arrays contiguous (float32, masks int64) and long enough from the given positions
    (unchecked). The comparison is IEEE `ole`, numpy's `<=` (false for NaN)."""
    sig = types.int64(rows, rows_at, cols, cols_at, inner, row_bound, row_at, col_bound, col_at, out, out_at, out_stride,
                      masks)

    def codegen(context, builder, signature, args):
        def data(i):
            return context.make_array(signature.args[i])(context, builder, args[i]).data

        a, b, rb, cb, out_p, masks_p = data(0), data(2), data(5), data(7), data(9), data(12)
        rows_at_, cols_at_, inner_, row_at_, col_at_ = args[1], args[3], args[4], args[6], args[8]
        out_at_, out_stride_ = args[10], args[11]

        def const(v):
            return ir.Constant(_I64, v)

        def vector_at(ptr, at):
            return builder.load(builder.bitcast(builder.gep(ptr, [at]), _F32x8.as_pointer()), align=4)

        def splat(x):
            v = builder.insert_element(ir.Constant(_F32x8, ir.Undefined), x, ir.Constant(_I32, 0))
            return builder.shuffle_vector(v, ir.Constant(_F32x8, ir.Undefined), ir.Constant(ir.VectorType(_I32, 8), [0] * 8))

        fmuladd = cgutils.get_or_insert_function(builder.module, ir.FunctionType(_F32x8, [_F32x8] * 3), "llvm.fmuladd.v8f32")
        # accumulators as stack slots: LLVM's mem2reg keeps them in registers across the loop
        acc = [cgutils.alloca_once_value(builder, ir.Constant(_F32x8, [0.0] * 8)) for _ in range(2 * PANEL_ROWS)]
        with cgutils.for_range(builder, inner_) as loop:
            at_b = builder.add(cols_at_, builder.mul(loop.index, const(PANEL_COLS)))
            halves = (vector_at(b, at_b), vector_at(b, builder.add(at_b, const(8))))
            at_a = builder.add(rows_at_, builder.mul(loop.index, const(PANEL_ROWS)))
            for r in range(PANEL_ROWS):
                value = splat(builder.load(builder.gep(a, [builder.add(at_a, const(r))])))
                for h in range(2):
                    builder.store(builder.call(fmuladd, [value, halves[h], builder.load(acc[2 * r + h])]), acc[2 * r + h])
        col_bounds = (vector_at(cb, col_at_), vector_at(cb, builder.add(col_at_, const(8))))
        words = [const(0)] * 4  # row side rows 0-3, rows 4-5; column side rows 0-3, rows 4-5
        for r in range(PANEL_ROWS):
            bound = splat(builder.load(builder.gep(rb, [builder.add(row_at_, const(r))])))
            for h in range(2):
                s = builder.load(acc[2 * r + h])
                at = builder.add(out_at_, builder.add(builder.mul(const(r), out_stride_), const(8 * h)))
                builder.store(s, builder.bitcast(builder.gep(out_p, [at]), _F32x8.as_pointer()), align=4)
                shift = const(PANEL_COLS * (r % 4) + 8 * h)
                for side, limit in ((0, bound), (2, col_bounds[h])):
                    bits = builder.zext(builder.bitcast(builder.fcmp_ordered("<=", s, limit), ir.IntType(8)), _I64)
                    words[side + r // 4] = builder.or_(words[side + r // 4], builder.shl(bits, shift))
        for w, word in enumerate(words):
            builder.store(word, builder.gep(masks_p, [const(w)]))
        return builder.or_(builder.or_(words[0], words[1]), builder.or_(words[2], words[3]))

    return sig, codegen


@intrinsic
def lowest_bit(typingctx, mask):
    """Index of the lowest set bit of a non-zero int64 (LLVM's cttz: `tzcnt` / `bsf`)."""
    sig = types.int64(mask)

    def codegen(context, builder, signature, args):
        cttz = builder.module.declare_intrinsic("llvm.cttz", [_I64], ir.FunctionType(_I64, [_I64, ir.IntType(1)]))
        return builder.call(cttz, [args[0], ir.Constant(ir.IntType(1), 1)])

    return sig, codegen


@intrinsic
def bit_count(typingctx, mask):
    """Number of set bits of an int64 (LLVM's ctpop: `popcnt`)."""
    sig = types.int64(mask)

    def codegen(context, builder, signature, args):
        ctpop = builder.module.declare_intrinsic("llvm.ctpop", [_I64], ir.FunctionType(_I64, [_I64]))
        return builder.call(ctpop, [args[0]])

    return sig, codegen


def _panels(t: np.ndarray, width: int) -> np.ndarray:
    """(inner, n) float32 as panels of `width` of its n columns, each k-major (the width values of one
    inner index together), zero-padded to whole panels: a flat array. Copied panel by panel from
    t.T's rows (contiguous where t is the transpose of a row-major array, as the searches pass it):
    each panel is a small transpose that stays in cache."""
    inner, n = t.shape
    panels = -(-n // width)
    padded = np.zeros((panels * width, inner), np.float32)
    padded[:n] = t.T
    return np.ascontiguousarray(padded.reshape(panels, width, inner).transpose(0, 2, 1)).ravel()


def pack_rows(left: np.ndarray) -> np.ndarray:
    """(m, inner) float32 rows as panels of PANEL_ROWS, each k-major, zero-padded: a flat array."""
    return _panels(left.T, PANEL_ROWS)


def pack_columns(right_t: np.ndarray) -> np.ndarray:
    """(inner, w) float32 columns as panels of PANEL_COLS, each k-major, zero-padded: a flat array."""
    return _panels(right_t, PANEL_COLS)


def _padded_bound(bound: np.ndarray, length: int) -> np.ndarray:
    """Bounds as float32, -inf beyond the real rows or columns (the padding's products are never in)."""
    out = np.full(length, -np.inf, np.float32)
    out[: bound.shape[0]] = bound
    return out


#: Candidates each thread's output arrays hold at first (they grow when a tile has more).
START_CAPACITY = 1 << 16
#: Slots one mask may write beyond a count (its candidates, or 2 placeholders): the arrays are written
#: only while a count is at most their length minus SLACK.
SLACK = 64
#: Bit 63: the placeholder a fixed slot takes when a mask has fewer candidates than slots.
_PLACEHOLDER = np.int64(-(2**63))


def _put(t, at, r0, j0, out, line, first_r, first_c, r_step, c_step, r_arr, c_arr, v_arr):  # pragma: no cover
    """Write candidate t of a mask (row r0 + t // 16, column j0 + t % 16 of the register tile) at
    position `at` of line `line` of the output arrays: (first_r + r_step * row + c_step * column,
    first_c + c_step * row + r_step * column, product); the row side passes (r_step, c_step) = (1, 0),
    the column side (0, 1)."""
    row, column = r0 + (t >> 4), j0 + (t & 15)
    r_arr[line, at] = first_r + r_step * row + c_step * column
    c_arr[line, at] = first_c + c_step * row + r_step * column
    v_arr[line, at] = out[16 * r0 + t]


def _emit(bits, r0, j0, out, line, first_r, first_c, r_step, c_step, n, cap, r_arr, c_arr, v_arr):  # pragma: no cover
    """Write the candidates of one mask (`_put`) from position n on; returns n plus their number.

    Why two fixed slots: most masks hold one or two candidates, and a loop that stops on the last
    set bit mispredicts about once a mask. The two slots are always written (a placeholder, bit 63,
    where there are fewer candidates) and the count advances by the true number (`bit_count`), so a
    placeholder is overwritten by the next candidate; a third and later go on in a loop. Nothing is
    written above cap (the arrays' length minus SLACK): the caller sees the count and grows them."""
    if n <= cap:
        rest = bits
        for slot in range(2):
            put(lowest_bit(rest | _PLACEHOLDER), n + slot, r0, j0, out, line, first_r, first_c, r_step, c_step,
                r_arr, c_arr, v_arr)
            rest &= rest - 1
        at = n + 2
        while rest:
            put(lowest_bit(rest), at, r0, j0, out, line, first_r, first_c, r_step, c_step, r_arr, c_arr, v_arr)
            rest &= rest - 1
            at += 1
    return n + bit_count(bits)


#: `_put` and `_emit` compiled and inlined; module globals, not closure variables, so that numba can cache the loop
put = emit = None


def _candidates(rows, m, cols, w, inner, row_bound, col_bound, row_offset, col_offset, owner_rows, out, masks,
                row_r, row_c, row_v, col_r, col_c, col_v, col_n):  # pragma: no cover (compiled)
    """The candidates of the m x w products of packed rows and columns, written as they are held.

    Row side (S[i, j] <= row_bound[i]): (i, col_offset + j, S) into row_r[0]/row_c[0]/row_v[0] (2-d
    arrays of one row). Column side (S[i, j] <= col_bound[j]): to owner o = j // owner_rows, as
    (j - o * owner_rows, row_offset + i, S) into col_r[o]/col_c[o]/col_v[o] from col_n[o] on. Returns
    the row side's count and advances col_n; a count above its arrays' length minus SLACK means they
    overflowed (the caller grows them and runs the tile again). owner_rows is a multiple of
    PANEL_COLS, so a column panel has one owner. Bounds are padded to whole panels."""
    n_row = 0
    cap_row = row_r.shape[1] - SLACK
    cap_col = col_r.shape[1] - SLACK
    row_panels = -(-m // PANEL_ROWS)
    col_panels = -(-w // PANEL_COLS)
    for chunk in range(0, row_panels, CHUNK_PANELS):
        for q in range(col_panels):
            j0 = q * PANEL_COLS
            o = j0 // owner_rows
            real = (1 << min(PANEL_COLS, w - j0)) - 1  # the padding columns' bits cleared
            real |= real << 16
            real |= real << 32
            for p in range(chunk, min(row_panels, chunk + CHUNK_PANELS)):
                if not products_6x16(rows, p * PANEL_ROWS * inner, cols, q * PANEL_COLS * inner, inner,
                                     row_bound, p * PANEL_ROWS, col_bound, j0, out, 0, PANEL_COLS, masks):
                    continue
                i0 = p * PANEL_ROWS
                for half in range(2):
                    r0 = 4 * half
                    in_rows = min(4, m - i0 - r0)  # the padding rows' bits cleared
                    if in_rows <= 0:
                        break
                    keep = real if in_rows == 4 else real & ((1 << (16 * in_rows)) - 1)
                    bits = masks[half] & keep
                    if bits:
                        n_row = emit(bits, r0, j0, out, 0, i0, col_offset, 1, 0, n_row, cap_row, row_r, row_c, row_v)
                    bits = masks[2 + half] & keep
                    if bits:
                        col_n[o] = emit(bits, r0, j0, out, o, -o * owner_rows, row_offset + i0, 0, 1, col_n[o], cap_col,
                                        col_r, col_c, col_v)
    return n_row


def _all_products(rows, cols, inner, out, no_bound, masks):  # pragma: no cover (compiled)
    """Every product of packed rows and columns, into out (row panels x 6 rows, column panels x 16
    columns, row-major), made by the same register tiles (bounds -inf: no mask bit is set)."""
    row_panels, width = out.shape[0] // PANEL_ROWS, out.shape[1]
    flat = out.reshape(out.size)
    for p in range(row_panels):
        for q in range(width // PANEL_COLS):
            products_6x16(rows, p * PANEL_ROWS * inner, cols, q * PANEL_COLS * inner, inner, no_bound, 0, no_bound,
                          0, flat, p * PANEL_ROWS * width + q * PANEL_COLS, width, masks)


@functools.cache
def compiled_all_products():
    """`_all_products` compiled, built once per process."""
    return jit(_all_products)[0]


def all_products(left: np.ndarray, packed_columns: np.ndarray, inner: int) -> np.ndarray:
    """left @ right_t, where packed_columns = pack_columns(right_t): (m, w) float32 with m and w rounded up
    to whole panels (the padding's products are 0). Why: the bound searches' products, about 1.4x
    faster than BLAS's GEMM of the same (it writes its output anyway, and the inner dimension is short)."""
    rows = pack_rows(np.asarray(left, np.float32))
    out = np.empty((rows.size // inner, packed_columns.size // inner), np.float32)
    compiled_all_products()(rows, packed_columns, inner, out, np.full(PANEL_COLS, -np.inf, np.float32),
                            np.empty(4, np.int64))
    return out


@functools.cache
def compiled():
    """The compiled loop, built once per process (a `TileScanner` asks for it on the caller's thread)."""
    global put, emit
    put = numba.njit(inline="always", boundscheck=False)(_put)  # inlined: no call, no reference counts
    emit = numba.njit(inline="always", boundscheck=False)(_emit)
    return jit(_candidates)[0]


#: A held candidate: (row in its block int16, column int32, product float32); blocks stay below 32768 rows.
HELD = (np.int16, np.int32, np.float32)


class TileScanner:
    """Candidates of one tile at a time, into per-thread output arrays reused from tile to tile."""

    def __init__(self, cols: int, owner_rows: int | None = None):
        self.cols = cols
        self.owner_rows = owner_rows or -(-cols // PANEL_COLS) * PANEL_COLS
        if self.owner_rows % PANEL_COLS:
            raise ValueError(f"owner_rows {self.owner_rows} must be a multiple of {PANEL_COLS} (the column panels)")
        self.owners = -(-cols // self.owner_rows)
        self._local = threading.local()
        self.candidates = compiled()

    def _buffers(self):
        local = self._local
        if not hasattr(local, "row"):
            local.out = np.empty(128, np.float32)  # 96 products; a placeholder (bit 63) may read up to 127
            local.masks = np.empty(4, np.int64)
            local.row = [np.empty((1, START_CAPACITY), t) for t in HELD]  # one line: indexed as the column side
            local.col = [np.empty((self.owners, START_CAPACITY), t) for t in HELD]
            local.col_n = np.zeros(self.owners, np.int64)
        return local

    def tile(self, left: np.ndarray, right_t: np.ndarray, row_bound: np.ndarray, col_bound: np.ndarray, first: int,
             row_offset: int = 0, col_offset: int = 0, packed_columns: np.ndarray | None = None):
        """Candidates of the products left @ right_t (tile rows are rows row_offset.. of the search,
        tile columns its columns col_offset..; col_offset a multiple of owner_rows), as held pairs:
        the row side (tile row, column, S), and per owner block o of the columns from `first` on
        (columns col_offset + o * owner_rows ..) its column side (row in that block, row, S); arrays
        of dtypes HELD, each row's columns (and each column's rows) ascending. packed_columns:
        `pack_columns` of all the caller's columns, made once; this tile's start at col_offset
        (then a multiple of PANEL_COLS). Without it the tile packs right_t itself."""
        local = self._buffers()
        m, inner = left.shape
        w = right_t.shape[1]
        rows = pack_rows(np.asarray(left, np.float32))
        if packed_columns is None:
            cols = pack_columns(right_t)
        elif col_offset % PANEL_COLS:
            raise ValueError(f"col_offset {col_offset} is not a multiple of {PANEL_COLS}: no packed panel starts there")
        else:
            cols = packed_columns[col_offset * inner :]
        row_bound = _padded_bound(row_bound, rows.size // inner)
        col_bound = _padded_bound(col_bound, -(-w // PANEL_COLS) * PANEL_COLS)
        col_bound[:first] = -np.inf  # no column-side candidates left of `first`
        while True:
            local.col_n[:] = 0
            n_row = self.candidates(rows, m, cols, w, inner, row_bound, col_bound, row_offset, col_offset,
                                    self.owner_rows, local.out, local.masks, *local.row, *local.col, local.col_n)
            need_col = int(local.col_n.max())
            row_len, col_len = local.row[0].shape[1], local.col[0].shape[1]
            if n_row <= row_len - SLACK and need_col <= col_len - SLACK:
                break
            if n_row > row_len - SLACK:  # grown, and the tile made again
                local.row = [np.empty((1, max(n_row + SLACK, 2 * row_len)), x.dtype) for x in local.row]
            if need_col > col_len - SLACK:
                local.col = [np.empty((x.shape[0], max(need_col + SLACK, 2 * col_len)), x.dtype) for x in local.col]
        row_side = tuple(x[0, :n_row].copy() for x in local.row)
        col_sides = [tuple(x[o, : local.col_n[o]].copy() for x in local.col) for o in range(-(-w // self.owner_rows))]
        return row_side, col_sides
