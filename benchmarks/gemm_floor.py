"""The machine's floor for an exact all-cells search: the bare float32 GEMM of half the n x n products.

`python gemm_floor.py N --dim 66 --threads T` prints one JSON line: the seconds the products of every
pair (i, j >= i's block) take, with nothing done to them, on T threads (single-threaded BLAS per
thread, as `cellbench.neighbors.symmetric` runs it). Each exact search (integration's k = 200,
the clustering graph's k = 15, the silhouette's sums) must at least form these products, so task
time / floor says how much of a task is anything else.

The products are made in 512-row x 4096-column tiles, each in pieces of 64 or 512 rows into a
buffer reused per thread (64-row pieces stay in cache; 512-row pieces are one GEMM call each); the
floor is the faster of the two. The same products are also timed through cellbench's own register
tiles (`registers_s`: `cellbench.neighbors.tile_scan` with no candidate to write), which
make them without writing them out, faster than BLAS here: the floor of the products as the search
makes them. dim 66 = the benchmark's 64-d embedding plus the two columns the
search appends to fold the squared norms into the product. Above --full-cells cells, a seeded
subset of the 512-row blocks is timed (every block's share of the triangle is known), and the time
is scaled by products done / products timed; the output says so ("sampled").
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

BLOCK_ROWS, TILE_COLS = 512, 4096
#: Above this many cells the floor times a seeded subset of row blocks (--full-cells).
FULL_CELLS = 300_000

def tiles_of(n: int, blocks: np.ndarray) -> list[tuple[int, int]]:
    """(first row, first column) of the tiles of the given row blocks: each block against every column from its start."""
    return [(b * BLOCK_ROWS, c0) for b in blocks for c0 in range(b * BLOCK_ROWS, n, TILE_COLS)]


def floor_seconds(n: int, dim: int, threads: int, piece_rows: int, blocks: np.ndarray) -> float:
    """Wall seconds to form the products of the given row blocks against every column from their start."""
    rng = np.random.default_rng(0)
    left = rng.normal(size=(n, dim)).astype(np.float32)
    right_t = np.ascontiguousarray(rng.normal(size=(dim, n)).astype(np.float32))
    local = threading.local()
    tiles = tiles_of(n, blocks)

    def one(r0: int, c0: int) -> None:
        if not hasattr(local, "buf"):
            local.buf = np.empty(piece_rows * TILE_COLS, np.float32)
        cols = right_t[:, c0 : c0 + TILE_COLS]
        w = cols.shape[1]
        stop = min(n, r0 + BLOCK_ROWS)
        for a in range(r0, stop, piece_rows):
            rows = left[a : min(a + piece_rows, stop)]
            np.matmul(rows, cols, out=local.buf[: rows.shape[0] * w].reshape(rows.shape[0], w))

    start = time.perf_counter()
    with threadpool_limits(limits=1, user_api="blas"), ThreadPoolExecutor(max_workers=threads) as pool:
        for future in [pool.submit(one, *t) for t in tiles]:
            future.result()
    return time.perf_counter() - start


def register_seconds(n: int, dim: int, threads: int, blocks: np.ndarray) -> float:
    """Wall seconds for the same products made by cellbench's own register tiles
    (`cellbench.neighbors.tile_scan`, the kernel the search uses), with every bound -inf so that no
    candidate is written: the floor of the products as the search makes them, beside BLAS's."""
    from cellbench.neighbors.tile_scan import TileScanner, pack_columns

    rng = np.random.default_rng(0)
    left = rng.normal(size=(n, dim)).astype(np.float32)
    right_t = np.ascontiguousarray(rng.normal(size=(dim, n)).astype(np.float32))
    packed = pack_columns(right_t)
    scanner = TileScanner(TILE_COLS, owner_rows=BLOCK_ROWS)
    none = np.full(max(BLOCK_ROWS, TILE_COLS), -np.inf, np.float32)
    tiles = tiles_of(n, blocks)

    def one(r0: int, c0: int) -> None:
        rows, w = left[r0 : min(n, r0 + BLOCK_ROWS)], min(TILE_COLS, n - c0)
        scanner.tile(rows, right_t[:, c0 : c0 + w], none[: rows.shape[0]], none[:w], w, col_offset=c0,
                     packed_columns=packed)

    one(*tiles[0])  # the compiled loop loaded (or compiled) before timing
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for future in [pool.submit(one, *t) for t in tiles]:
            future.result()
    return time.perf_counter() - start


def products_of(n: int, blocks: np.ndarray) -> int:
    """Products the given row blocks form (their rows x the columns from the block's start)."""
    starts = blocks * BLOCK_ROWS
    rows = np.minimum(n, starts + BLOCK_ROWS) - starts
    return int(np.sum(rows * (n - starts)))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("n", type=int)
    p.add_argument("--dim", type=int, default=66)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--full-cells", type=int, default=FULL_CELLS, help="above this, time a seeded subset of blocks")
    args = p.parse_args(argv)
    n_blocks = -(-args.n // BLOCK_ROWS)
    blocks = np.arange(n_blocks)
    sampled = args.n > args.full_cells
    if sampled:  # about the products of full_cells cells, spread over the whole triangle
        share = (args.full_cells / args.n) ** 2
        rng = np.random.default_rng(42)
        blocks = np.sort(rng.choice(n_blocks, max(8, int(n_blocks * share)), replace=False))
    scale = products_of(args.n, np.arange(n_blocks)) / products_of(args.n, blocks)
    times = {piece: floor_seconds(args.n, args.dim, args.threads, piece, blocks) * scale for piece in (64, 512)}
    best = min(times, key=times.get)
    registers = register_seconds(args.n, args.dim, args.threads, blocks) * scale
    blas = [{k: lib.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
            for lib in threadpool_info() if lib.get("user_api") == "blas"]
    print(json.dumps({"n": args.n, "dim": args.dim, "threads": args.threads, "floor_s": round(times[best], 3),
                      "piece_rows": best, "by_piece_rows": {str(k): round(v, 3) for k, v in times.items()},
                      "registers_s": round(registers, 3),
                      "products": products_of(args.n, np.arange(n_blocks)), "sampled": sampled,
                      "timed_blocks": len(blocks), "blocks": n_blocks, "blas": blas}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
