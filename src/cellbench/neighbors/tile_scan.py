"""One pass over a tile of float32 products that picks both sides' candidates (a compiled loop).

Why it exists: `symmetric.SymmetricExactKnn._tile` tests each tile of products twice with numpy
(against the rows' bounds, then against the columns' bounds), and each test writes a boolean mask
and runs `flatnonzero` over it: four passes over 2M entries, plus index arithmetic, about as long
as the tile's GEMM itself. Here the products are made 64 rows at a time into a buffer that stays
in cache, and a compiled loop reads each product once and writes only the few candidates (about
0.1-1 % of the entries), already as the search holds them (row in block int16, column int32,
product float32) and with the column side split by the block that owns each column.

How the loop stays cheap: 8 products at a time are one vector load, two compares and two
`vmovmskps` (`at_most_masks8`), so a group without candidates costs a test of one integer; a
group's set bits are visited with `cttz` (`lowest_bit`), each side written into two fixed slots
(`_emit`). numba cannot express the bit masks itself (LLVM vectorises the compares of a plain loop
but never packs them into bits), hence the three small intrinsics in LLVM IR below. Measured on the
search's own tiles at 100k x 64, one thread: 0.21 ns a product for k = 15 (0.42 with the loop
before, which wrote a flag byte per product), 0.39-0.51 for k = 200 (0.62).

The comparisons are those of the numpy tests and the candidates come out in the same order
(row-major: by row, then column). The products come from GEMM calls of another shape, whose float32
rounding may differ in the last bit; the search's proven margin covers any such rounding, so its
answer is the same either way (tests/test_neighbors.py runs every tile test both ways, and the scan
alone against numpy). numba compiles the loop on first use (about 1 s) and keeps it on disk where it
can (`_jit`); the search takes this path only from `symmetric.SCAN_MIN_CELLS` cells on.
"""

from __future__ import annotations

import functools
import threading

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core.extending import intrinsic

from cellbench.neighbors._jit import jit

# --------------------------------------------------------------------------------------------------
# Three vector instructions numba's loops cannot express, as numba intrinsics (LLVM IR compiled with
# the calling loop: no C compiler needed; LLVM lowers them to what the CPU has). They live in this
# file because numba's disk cache is keyed on the file of the function it compiles: a change here
# recompiles the scan.
# --------------------------------------------------------------------------------------------------

_F32x8 = ir.VectorType(ir.FloatType(), 8)
_I64 = ir.IntType(64)


@intrinsic
def at_most_masks8(typingctx, values, at, bound, col_bounds, col_at):
    """Bits t = 0..7: values[at + t] <= bound; bits 8 + t: values[at + t] <= col_bounds[col_at + t].

    Both arrays are contiguous float32 with 8 elements from the given positions (unchecked). The
    comparison is IEEE `ole`, numpy's `<=` (false for NaN)."""
    sig = types.int64(values, at, bound, col_bounds, col_at)

    def codegen(context, builder, signature, args):
        values_arg, at_arg, bound_arg, col_arg, col_at_arg = args
        data = context.make_array(signature.args[0])(context, builder, values_arg).data
        col_data = context.make_array(signature.args[3])(context, builder, col_arg).data
        v = builder.load(builder.bitcast(builder.gep(data, [at_arg]), _F32x8.as_pointer()), align=4)
        c = builder.load(builder.bitcast(builder.gep(col_data, [col_at_arg]), _F32x8.as_pointer()), align=4)
        b = builder.insert_element(ir.Constant(_F32x8, ir.Undefined), bound_arg, ir.Constant(ir.IntType(32), 0))
        b = builder.shuffle_vector(b, ir.Constant(_F32x8, ir.Undefined), ir.Constant(ir.VectorType(ir.IntType(32), 8), [0] * 8))
        row_bits = builder.zext(builder.bitcast(builder.fcmp_ordered("<=", v, b), ir.IntType(8)), _I64)
        col_bits = builder.zext(builder.bitcast(builder.fcmp_ordered("<=", v, c), ir.IntType(8)), _I64)
        return builder.or_(row_bits, builder.shl(col_bits, ir.Constant(_I64, 8)))

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


#: Candidates each thread's output arrays hold at first (they grow when a tile has more).
START_CAPACITY = 1 << 16


#: Slots a group of 8 columns may write beyond a count (its candidates, or 2 placeholders): the
#: arrays are written only while a count is at most their length minus SLACK.
SLACK = 8


def _emit(bits, j0, last, flat, base, tile_row, row_offset, col_offset, owner_rows,
          row_r, row_c, row_v, n_row, cap_row, col_r, col_c, col_v, col_n, cap_col):  # pragma: no cover
    """Write the candidates of one group of columns j0..j0 + last (bits 0-7: row side, 8-15: column
    side) and return the new row-side count (the column side's count is advanced in col_n).

    Why two fixed slots per side: most groups hold one or two candidates a side, and a loop that
    stops on the last set bit mispredicts about once a candidate (measured: about half the scan's
    time at k = 200). The two slots are always written, placeholders (column j0 + last) where
    there are fewer candidates, and the count then advances by the true number (`bit_count`), so a
    placeholder is overwritten by the next candidate. A side with more than two goes on in a loop.
    Nothing is written when a count exceeds its cap (the arrays' length minus SLACK): the caller
    sees the count and grows the arrays."""
    row_bits = bits & 255
    if n_row <= cap_row:
        rest = row_bits
        for t in range(2):
            j = j0 + lowest_bit(rest | (1 << last))
            row_r[n_row + t] = tile_row
            row_c[n_row + t] = col_offset + j
            row_v[n_row + t] = flat[base + j]
            rest &= rest - 1
        t = 2
        while rest:
            j = j0 + lowest_bit(rest)
            rest &= rest - 1
            row_r[n_row + t] = tile_row
            row_c[n_row + t] = col_offset + j
            row_v[n_row + t] = flat[base + j]
            t += 1
    n_row += bit_count(row_bits)
    col_bits = bits >> 8
    o = j0 // owner_rows
    at = col_n[o]
    if at <= cap_col:
        rest = col_bits
        for t in range(2):
            j = j0 + lowest_bit(rest | (1 << last))
            col_r[o, at + t] = j - o * owner_rows
            col_c[o, at + t] = row_offset + tile_row
            col_v[o, at + t] = flat[base + j]
            rest &= rest - 1
        t = 2
        while rest:
            j = j0 + lowest_bit(rest)
            rest &= rest - 1
            col_r[o, at + t] = j - o * owner_rows
            col_c[o, at + t] = row_offset + tile_row
            col_v[o, at + t] = flat[base + j]
            t += 1
    col_n[o] = at + bit_count(col_bits)
    return n_row


#: `_emit` compiled; a module global, not a closure variable, so that numba can cache the scan
emit = None


@functools.cache
def compiled():
    """The compiled scan, built once per process (a `TileScanner` asks for it on the caller's thread)."""
    global emit
    emit = numba.njit(inline="always", boundscheck=False)(_emit)  # inlined into the scan: no call, no reference counts

    def scan(S, row_bound, col_bound, piece_row, row_offset, col_offset, owner_rows,
             row_r, row_c, row_v, n_row, col_r, col_c, col_v, col_n):  # pragma: no cover
        """Candidates of one piece of products (rows piece_row.. of the tile), written as they are held.

        Row side (S[i, j] <= row_bound[i]): (tile row, col_offset + j, S) into row_r/row_c/row_v from
        position n_row on. Column side (S[i, j] <= col_bound[j]): to owner o = j // owner_rows, as
        (j - o * owner_rows, row_offset + tile row, S) into col_r[o]/col_c[o]/col_v[o] from col_n[o] on.
        Both in row-major order. Returns the new n_row and advances col_n; a count above its arrays'
        length minus SLACK means they overflowed (the caller restores the counts and reruns with more
        room). owner_rows is a multiple of 8, so the 8 columns of a group share their owner.

        Each group of 8 products is one pair of bit masks (`at_most_masks8`); only the set bits
        are visited (`lowest_bit`, in increasing column order) by `_emit`. The last w % 8
        columns are tested one by one into the same two masks.
        """
        m, w = S.shape
        flat = S.reshape(m * w)
        cap_row = row_r.shape[0] - SLACK
        cap_col = col_r.shape[1] - SLACK
        groups = w // 8
        for i in range(m):
            bound = row_bound[i]
            tile_row = piece_row + i
            base = i * w
            for q in range(groups):
                bits = at_most_masks8(flat, base + 8 * q, bound, col_bound, 8 * q)
                if bits:
                    n_row = emit(bits, 8 * q, 7, flat, base, tile_row, row_offset, col_offset, owner_rows,
                                 row_r, row_c, row_v, n_row, cap_row, col_r, col_c, col_v, col_n, cap_col)
            if 8 * groups < w:  # the last w % 8 columns, as the same two masks
                j0 = 8 * groups
                bits = 0
                for t in range(w - j0):
                    v = flat[base + j0 + t]
                    bits |= (np.int64(v <= bound) << t) | (np.int64(v <= col_bound[j0 + t]) << (t + 8))
                if bits:
                    n_row = emit(bits, j0, w - j0 - 1, flat, base, tile_row, row_offset, col_offset, owner_rows,
                                 row_r, row_c, row_v, n_row, cap_row, col_r, col_c, col_v, col_n, cap_col)
        return n_row

    return jit(scan)[0]


#: Rows of products made and scanned at a time: 64 x 4096 float32 (1 MB) stay in cache between the
#: GEMM that writes them and the scan that reads them (whole 512 x 4096 tiles went to memory and
#: back: GEMM and scan together 7.5 ms a tile against 5.0 ms in 64-row pieces at 100k x 64).
PIECE_ROWS = 64

#: A held candidate: (row in its block int16, column int32, product float32); blocks stay below 32768 rows.
HELD = (np.int16, np.int32, np.float32)


class TileScanner:
    """Products and candidates of one tile, 64 rows at a time, in per-thread buffers reused from
    tile to tile (a fresh 8 MB product array per tile also costs its page faults)."""

    def __init__(self, cols: int, owner_rows: int | None = None):
        self.cols = cols
        self.owner_rows = owner_rows or cols
        if self.owner_rows % 8:
            raise ValueError(f"owner_rows {self.owner_rows} must be a multiple of 8 (the scan's column groups)")
        self.owners = -(-cols // self.owner_rows)
        self._local = threading.local()
        self.scan = compiled()

    def _buffers(self):
        local = self._local
        if not hasattr(local, "products"):
            local.products = np.empty(PIECE_ROWS * self.cols, np.float32)
            local.row = [np.empty(START_CAPACITY, t) for t in HELD]
            local.col = [np.empty((self.owners, START_CAPACITY), t) for t in HELD]
            local.col_n = np.zeros(self.owners, np.int64)
        return local

    def tile(self, left: np.ndarray, right_t: np.ndarray, row_bound: np.ndarray, col_bound: np.ndarray, first: int,
             row_offset: int = 0, col_offset: int = 0):
        """Candidates of the products left @ right_t (tile rows are rows row_offset.. of the search,
        tile columns its columns col_offset..; col_offset a multiple of owner_rows), as held pairs:
        the row side (tile row, column, S), and per owner block o of the columns from `first` on
        (columns col_offset + o * owner_rows ..) its column side (row in that block, row, S). Each in
        row-major order of the tile; arrays of dtypes HELD."""
        local = self._buffers()
        w = right_t.shape[1]
        col_bound = col_bound.copy()
        col_bound[:first] = -np.inf  # no column-side candidates left of `first`
        n_row = 0
        local.col_n[:] = 0
        for a in range(0, left.shape[0], PIECE_ROWS):
            piece = left[a : a + PIECE_ROWS]
            S = local.products[: piece.shape[0] * w].reshape(piece.shape[0], w)  # C-contiguous
            np.matmul(piece, right_t, out=S)
            n_row = self._scan_piece(local, S, row_bound[a : a + PIECE_ROWS], col_bound, a, row_offset, col_offset, n_row)
        row_side = tuple(x[:n_row].copy() for x in local.row)
        col_sides = [tuple(x[o, : local.col_n[o]].copy() for x in local.col) for o in range(-(-w // self.owner_rows))]
        return row_side, col_sides

    def _scan_piece(self, local, S, row_bound, col_bound, a, row_offset, col_offset, n_row) -> int:
        """Scan one piece into the held arrays from n_row and local.col_n on; grows them and rescans on overflow."""
        while True:
            before = local.col_n.copy()
            new = self.scan(S, row_bound, col_bound, a, row_offset, col_offset, self.owner_rows,
                            *local.row, n_row, *local.col, local.col_n)
            need_col = int(local.col_n.max())
            row_len, col_len = local.row[0].shape[0], local.col[0].shape[1]
            if new <= row_len - SLACK and need_col <= col_len - SLACK:
                return new
            local.col_n[:] = before  # this piece's pairs are written again, into the grown arrays
            if new > row_len - SLACK:
                extra = max(new + SLACK, 2 * row_len) - row_len
                local.row = [np.concatenate([x, np.empty(extra, x.dtype)]) for x in local.row]
            if need_col > col_len - SLACK:
                extra = max(need_col + SLACK, 2 * col_len) - col_len
                local.col = [np.concatenate([x, np.empty((x.shape[0], extra), x.dtype)], axis=1) for x in local.col]
