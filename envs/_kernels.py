"""Compiled inner loops of Warehouse and Battle (numba, cached on disk).

Why compiled: both domains process agents one at a time within a step (Warehouse in a shuffled order
with collisions, Battle in an agent phase then an opponent phase), so the step is inherently a sequential
loop per copy. The observation and state builders live here too and take a flat leading dim M, so the
actor (M = B copies) and the learner's `decode_batch` (M = R * T steps) run exactly the same code.

Randomness: every copy owns a splitmix64 stream (one uint64 of state), seeded per copy from
`numpy.random.SeedSequence(seed).spawn(B)`, so copy i's episode depends only on (seed, i).

Everything lives in one module on purpose: numba's disk cache only notices edits to the file that holds
a function, so helpers shared by several kernels must sit in the same file as their callers.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_INV53 = 1.0 / 9007199254740992.0

# action codes shared by both domains: 0 NOOP, 1 N (y+1), 2 S (y-1), 3 W (x-1), 4 E (x+1), 5 DROPOFF/ATTACK
_DX = np.array([0, 0, 0, -1, 1, 0], dtype=np.int64)
_DY = np.array([0, 1, -1, 0, 0, 0], dtype=np.int64)


def seed_streams(seed: int, batch_size: int) -> np.ndarray:
    """Per-copy RNG states: copy i gets SeedSequence(seed).spawn(B)[i] (independent of B)."""
    children = np.random.SeedSequence(int(seed)).spawn(batch_size)
    return np.array([c.generate_state(1, np.uint64)[0] for c in children], dtype=np.uint64)


@njit(cache=True, inline="always")
def _next_u64(rng, b):
    z = rng[b] + _GOLDEN
    rng[b] = z
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return z ^ (z >> _S31)


@njit(cache=True, inline="always")
def _randint(rng, b, n):
    """Uniform integer in [0, n) (53-bit float scaling; the bias is below 2^-40 for the n used here)."""
    u = float(_next_u64(rng, b) >> _S11) * _INV53
    k = int(u * n)
    return k if k < n else n - 1


@njit(cache=True, inline="always")
def _order(rng, b, perm, fixed_order):
    """Fill perm with this step's processing order: a fresh Fisher-Yates shuffle, or the forced order."""
    n = perm.shape[0]
    if fixed_order[0] >= 0:
        for k in range(n):
            perm[k] = fixed_order[k]
        return
    for k in range(n):
        perm[k] = k
    for k in range(n - 1, 0, -1):
        j = _randint(rng, b, k + 1)
        tmp = perm[k]
        perm[k] = perm[j]
        perm[j] = tmp


# ------------------------------------------------------------------------------------------ CSR emission

CSR_CHUNK_ELEMENTS = 1 << 16  # float32 rows written per chunk before the scan: about 256 KB, in cache


@njit(cache=True)
def _csr_buffers(cap):
    """Column and value buffers for CSR nonzeros, grown by `_csr_room` as chunks need."""
    cap = max(4096, cap)
    return np.empty(cap, dtype=np.int32), np.empty(cap, dtype=np.float32)


@njit(cache=True)
def _csr_room(col, val, k, need):
    """`col`, `val` with room for `need` more nonzeros after the first k (copied when grown)."""
    if k + need <= col.shape[0]:
        return col, val
    cap = max(2 * col.shape[0], k + need)
    grown_col = np.empty(cap, dtype=np.int32)
    grown_val = np.empty(cap, dtype=np.float32)
    grown_col[:k] = col[:k]
    grown_val[:k] = val[:k]
    return grown_col, grown_val


@njit(cache=True)
def _csr_scan_row(row, lo, hi, col, val, k):
    """Append the nonzeros of row[lo:hi] (columns ascending) at k; returns the new count. Branch-free:
    a few percent of nonzeros defeat a branch predictor."""
    for j in range(lo, hi):
        col[k] = j
        val[k] = row[j]
        k += row[j] != 0
    return k


# ----------------------------------------------------------------------------------------------- Warehouse


@njit(cache=True, inline="always")
def _wh_new_order(rng, b, items, i):
    """Bucket 0 of a fresh order: 5 items i.i.d. uniform over types 2..5, stored as per-type counts."""
    for k in range(4):
        items[b, i, k] = 0
    for _ in range(5):
        items[b, i, _randint(rng, b, 4)] += 1


@njit(cache=True)
def wh_reset(rng, pos, items, starts, distinct):
    """Start cells drawn uniformly (with replacement, or distinct when `distinct`) and fresh orders."""
    n_copies, n = pos.shape[0], pos.shape[1]
    k = starts.shape[0]
    pool = np.empty(k, dtype=np.int64)
    for b in range(n_copies):
        if distinct:
            for j in range(k):
                pool[j] = j
            for i in range(n):  # partial Fisher-Yates: the first n entries are a uniform sample
                j = i + _randint(rng, b, k - i)
                tmp = pool[i]
                pool[i] = pool[j]
                pool[j] = tmp
                pos[b, i, 0] = starts[pool[i], 0]
                pos[b, i, 1] = starts[pool[i], 1]
        else:
            for i in range(n):
                s = _randint(rng, b, k)
                pos[b, i, 0] = starts[s, 0]
                pos[b, i, 1] = starts[s, 1]
        for i in range(n):
            _wh_new_order(rng, b, items, i)


# Columns of the per-copy Warehouse event counters (episode totals), in this order.
WAREHOUSE_EVENTS = (
    "collisions",  # a move into a wall or an occupied cell (-0.5)
    "dropoffs",  # a successful DROPOFF: an item or the final drop-off (+1)
    "moves_blocked",  # a move the graph does not allow, or off the grid (free, no effect)
)


@njit(cache=True)
def wh_step(rng, pos, items, t, done, completed, events, actions, types, moves, fixed_order, t_limit, reward):
    """One step of every copy (reference-spec §1.1 'Dynamics and collision order' and 'Rewards');
    events[b] accumulates the WAREHOUSE_EVENTS of the episode."""
    n_copies, n = pos.shape[0], pos.shape[1]
    w, h = types.shape[0], types.shape[1]
    occ = np.zeros((w, h), dtype=np.int32)  # kept all-zero between copies
    perm = np.empty(n, dtype=np.int64)
    for b in range(n_copies):
        if done[b]:
            reward[b] = 0.0
            continue
        for i in range(n):
            occ[pos[b, i, 0], pos[b, i, 1]] += 1
        _order(rng, b, perm, fixed_order)
        r = 0.0
        n_completed = 0
        for k in range(n):
            i = perm[k]
            a = actions[b, i]
            x = pos[b, i, 0]
            y = pos[b, i, 1]
            if 1 <= a <= 4:
                nx = x + _DX[a]
                ny = y + _DY[a]
                if not (moves[x, y] & (1 << (a - 1))) or nx < 0 or nx >= w or ny < 0 or ny >= h:
                    events[b, 2] += 1
                elif types[nx, ny] < 0 or occ[nx, ny] > 0:
                    r -= 0.5
                    events[b, 0] += 1
                else:
                    occ[x, y] -= 1
                    occ[nx, ny] += 1
                    pos[b, i, 0] = nx
                    pos[b, i, 1] = ny
            elif a == 5:
                ty = types[x, y]
                left = items[b, i, 0] + items[b, i, 1] + items[b, i, 2] + items[b, i, 3]
                if left > 0:
                    if 2 <= ty <= 5 and items[b, i, ty - 2] > 0:
                        items[b, i, ty - 2] -= 1
                        r += 1.0
                        events[b, 1] += 1
                elif ty == 0:
                    r += 1.0
                    events[b, 1] += 1
                    n_completed += 1
                    _wh_new_order(rng, b, items, i)
        r -= 0.01 * (n - n_completed)
        completed[b] += n_completed
        for i in range(n):
            occ[pos[b, i, 0], pos[b, i, 1]] -= 1
        t[b] += 1
        if t[b] >= t_limit:
            done[b] = True
        reward[b] = r


@njit(cache=True)
def wh_observe(pos, items, types, out):
    """Local 5x5 views, (M, N, 5*5*5) flattened as [c][2+dx][2+dy] (reference-spec §1.1)."""
    m_rows, n = pos.shape[0], pos.shape[1]
    w, h = types.shape[0], types.shape[1]
    occ = np.zeros((w, h), dtype=np.int32)
    for m in range(m_rows):
        for i in range(n):
            occ[pos[m, i, 0], pos[m, i, 1]] += 1
        for i in range(n):
            x = pos[m, i, 0]
            y = pos[m, i, 1]
            left = items[m, i, 0] + items[m, i, 1] + items[m, i, 2] + items[m, i, 3]
            o = out[m, i]
            for u in range(5):
                cx = x + u - 2
                for v in range(5):
                    cy = y + v - 2
                    j = u * 5 + v
                    o[j] = 1.0 if (u == 2 and v == 2) else 0.0
                    if cx < 0 or cx >= w or cy < 0 or cy >= h or types[cx, cy] < 0:
                        o[25 + j] = 1.0
                        o[50 + j] = 0.0
                        o[75 + j] = 0.0
                        o[100 + j] = 0.0
                        continue
                    ty = types[cx, cy]
                    o[25 + j] = 0.0
                    o[50 + j] = occ[cx, cy] - (1 if (u == 2 and v == 2) else 0)
                    if left > 0:
                        o[75 + j] = items[m, i, ty - 2] if ty >= 2 else 0.0
                        o[100 + j] = 1.0 if ty == 0 else 0.0
                    else:
                        o[75 + j] = 1.0 if ty == 0 else 0.0
                        o[100 + j] = 0.0
        for i in range(n):
            occ[pos[m, i, 0], pos[m, i, 1]] -= 1


@njit(cache=True)
def wh_state(pos, items, types, out):
    """Global state (M, 30*W*H) flattened as [c][x][y] (reference-spec §1.1; T = 6 types)."""
    m_rows, n = pos.shape[0], pos.shape[1]
    w, h = types.shape[0], types.shape[1]
    plane = w * h
    for m in range(m_rows):
        o = out[m]
        o[:] = 0.0
        for x in range(w):
            for y in range(h):
                o[x * h + y] = types[x, y]
        for i in range(n):
            x = pos[m, i, 0]
            y = pos[m, i, 1]
            cell = x * h + y
            ty = types[x, y]
            left = items[m, i, 0] + items[m, i, 1] + items[m, i, 2] + items[m, i, 3]
            if left > 0:
                in_first = ty >= 2 and items[m, i, ty - 2] > 0
                for p in range(2, 6):
                    if items[m, i, p - 2] > 0:
                        o[(3 + p) * plane + cell] += 1.0
            else:
                in_first = ty == 0
            o[9 * plane + cell] += 1.0  # the final drop-off [0]: bucket 1 of 2, or bucket 0 of 1
            if in_first:
                o[plane + cell] += 1.0
            else:
                o[2 * plane + cell] += 1.0


@njit(cache=True)
def wh_state_csr(pos, items, types, out):
    """`wh_state` into `out`, and the nonzeros of its M rows as CSR (crow (M + 1,), col, val), int32,
    int32, float32, columns ascending. Why: the state is ~5% nonzero and enters the first layers of
    VASTNet and QTRAN; rows are written a chunk at a time and scanned while in cache. Only the planes
    `wh_state` writes are scanned (0-2 and 5-9 of 30): the others stay zero."""
    m_rows, d = out.shape[0], out.shape[1]
    plane = types.shape[0] * types.shape[1]
    step = max(1, CSR_CHUNK_ELEMENTS // d)
    crow = np.zeros(m_rows + 1, dtype=np.int32)
    col, val = _csr_buffers(m_rows * d // 8)
    k = 0
    for lo in range(0, m_rows, step):
        hi = min(m_rows, lo + step)
        wh_state(pos[lo:hi], items[lo:hi], types, out[lo:hi])
        col, val = _csr_room(col, val, k, (hi - lo) * d)
        for m in range(lo, hi):
            k = _csr_scan_row(out[m], 0, 3 * plane, col, val, k)
            k = _csr_scan_row(out[m], 5 * plane, 10 * plane, col, val, k)
            crow[m + 1] = k
    return crow, col[:k].copy(), val[:k].copy()


# -------------------------------------------------------------------------------------------------- Battle

# Columns of the per-copy Battle event counters (episode totals), in this order.
BATTLE_EVENTS = (
    "opponents_killed",
    "agents_killed",
    "agent_hits",  # an agent's ATTACK hit an opponent (+1)
    "agent_failed_attacks",  # an agent's ATTACK on a cell no opponent stood on at the start of the step (-0.1)
    "agent_attacks_no_alive_target",  # opponents stood there, but all died earlier in the step (0)
    "opponent_hits",  # an opponent hit an agent (-0.5)
    "opponent_attacks_empty_cell",  # an opponent drew ATTACK from the all-six-actions list (no effect)
    "agent_residue_survivals",  # a hit left an agent alive with HP below 1e-9 (float HP only)
    "opponent_residue_survivals",
)
_E_OPP_KILLED, _E_AGENT_KILLED, _E_AGENT_HIT, _E_AGENT_MISS, _E_AGENT_LATE = 0, 1, 2, 3, 4
_E_OPP_HIT, _E_OPP_EMPTY, _E_AGENT_RESIDUE, _E_OPP_RESIDUE = 5, 6, 7, 8
RESIDUE_HP = 1e-9  # "a residue": alive with less HP than this (the float-HP runs reach about 1e-16..1e-14)
_ULP1 = 4503599627370496.0  # 2^52: residues are multiples of 2^-52 (the spacing of floats in [1, 2))


@njit(cache=True, inline="always")
def _bt_move(px, py, a, w, h):
    nx = px + _DX[a]
    ny = py + _DY[a]
    if 0 <= nx < w and 0 <= ny < h:
        return nx, ny
    return px, py


@njit(cache=True, inline="always")
def _bt_bucket(xy, hp, h, cells, start, members):
    """Counting sort of the alive units by cell: members[start[c]:start[c+1]] are the units on cell c,
    in id order."""
    n = xy.shape[0]
    start[:] = 0
    for j in range(n):
        if hp[j] > 0:
            start[xy[j, 0] * h + xy[j, 1] + 1] += 1
    for c in range(cells):
        start[c + 1] += start[c]
    fill = start[:cells].copy()
    for j in range(n):
        if hp[j] > 0:
            c = xy[j, 0] * h + xy[j, 1]
            members[fill[c]] = j
            fill[c] += 1


@njit(cache=True, inline="always")
def _bt_hit(hp, j, damage):
    """Take `damage` from unit j, HP floored at 0 (the reference's max(0, hp - 1)); True if it died."""
    hp[j] -= damage
    if hp[j] <= 0:
        hp[j] = 0
        return True
    return False


@njit(cache=True, inline="always")
def _bt_pick_alive(rng, b, hp, members, lo, hi):
    """A uniformly random still-alive unit among members[lo:hi], or -1 if all of them died."""
    alive = 0
    for k in range(lo, hi):
        if hp[members[k]] > 0:
            alive += 1
    if alive == 0:
        return -1
    r = _randint(rng, b, alive)
    for k in range(lo, hi):
        j = members[k]
        if hp[j] > 0:
            if r == 0:
                return j
            r -= 1
    return -1


@njit(cache=True)
def bt_candidates(count, x, y, w):
    """Opponent move candidates as counts (north, south, west, east) (reference-spec §1.2, phase 2).

    The list starts as [WEST] when x >= W/2; every cell of the 7x7 view holding an agent (of the map
    built after phase 1) adds EAST/WEST by the sign of dx and NORTH/SOUTH by the sign of dy. All zero
    means "all 6 actions".
    """
    h = count.shape[1]
    nn = ns = ne = 0
    nw = 1 if 2 * x >= w else 0
    for dx in range(-3, 4):
        cx = x + dx
        if cx < 0 or cx >= w:
            continue
        for dy in range(-3, 4):
            cy = y + dy
            if cy < 0 or cy >= h or count[cx, cy] == 0:
                continue
            if dx > 0:
                ne += 1
            elif dx < 0:
                nw += 1
            if dy > 0:
                nn += 1
            elif dy < 0:
                ns += 1
    return nn, ns, nw, ne


@njit(cache=True, inline="always")
def _bt_rect(sat, x0, x1, y0, y1, w, h):
    """Occupied cells in [x0, x1] x [y0, y1] (clipped to the grid), from the summed-area table `sat`."""
    x0 = max(x0, 0)
    y0 = max(y0, 0)
    x1 = min(x1, w - 1)
    y1 = min(y1, h - 1)
    if x0 > x1 or y0 > y1:
        return 0
    return sat[x1 + 1, y1 + 1] - sat[x0, y1 + 1] - sat[x1 + 1, y0] + sat[x0, y0]


@njit(cache=True, inline="always")
def _bt_fast_candidates(sat, x, y, w, h):
    """`bt_candidates` from a summed-area table of the occupied cells: four rectangle counts instead of a
    7x7 scan (the map is fixed for the whole opponent phase, so the table is built once per step)."""
    nn = _bt_rect(sat, x - 3, x + 3, y + 1, y + 3, w, h)
    ns = _bt_rect(sat, x - 3, x + 3, y - 3, y - 1, w, h)
    nw = _bt_rect(sat, x - 3, x - 1, y - 3, y + 3, w, h) + (1 if 2 * x >= w else 0)
    ne = _bt_rect(sat, x + 1, x + 3, y - 3, y + 3, w, h)
    return nn, ns, nw, ne


@njit(cache=True)
def bt_summed_area(count, sat):
    """sat[x + 1, y + 1] = number of cells (x' <= x, y' <= y) with count > 0; row 0 and column 0 stay 0."""
    w, h = count.shape
    for x in range(w):
        run = 0
        for y in range(h):
            if count[x, y] > 0:
                run += 1
            sat[x + 1, y + 1] = sat[x, y + 1] + run


@njit(cache=True)
def bt_fast_candidates(sat, x, y, w, h):
    """`_bt_fast_candidates` for tests."""
    return _bt_fast_candidates(sat, x, y, w, h)


@njit(cache=True)
def bt_step(rng, axy, ahp, oxy, ohp, t, done, events, actions, w, h, hp_max, damage, regen, kill_bonus,
            t_limit, fixed_order, reward):  # fmt: skip
    """One step of every copy: shuffled agent phase, then opponents in id order (reference-spec §1.2).

    HP arrays are either float64 HP (the reference's float semantics: hp = max(0, hp - 1) per hit,
    min(3, hp + 0.1) per heal, alive while hp > 0, residues included) with damage 1.0, regen 0.1 and
    hp_max 3.0, or int64 counts of 1/U HP (exact tenths) with damage U, regen 1 and hp_max 3U: the same
    code compiles for both. An agent's kill earns kill_bonus on top of the hit's +1 (the code: 0; the
    paper's "kills are rewarded": 1). events[b] accumulates the BATTLE_EVENTS of the episode.
    """
    n_copies, n = axy.shape[0], axy.shape[1]
    cells = w * h
    perm = np.empty(n, dtype=np.int64)
    start = np.zeros(cells + 1, dtype=np.int64)
    members = np.empty(n, dtype=np.int64)
    count = np.zeros((w, h), dtype=np.int32)  # alive agents per cell after phase 1; all-zero between copies
    sat = np.zeros((w + 1, h + 1), dtype=np.int32)  # summed-area table of the cells count > 0
    for b in range(n_copies):
        if done[b]:
            reward[b] = 0.0
            continue
        r = 0.0
        # phase 1: agents in a fresh random order; opponents stand still, so bucket them once
        _bt_bucket(oxy[b], ohp[b], h, cells, start, members)
        _order(rng, b, perm, fixed_order)
        for k in range(n):
            i = perm[k]
            if ahp[b, i] <= 0:
                continue
            ahp[b, i] = min(ahp[b, i] + regen, hp_max)
            a = actions[b, i]
            if 1 <= a <= 4:
                axy[b, i, 0], axy[b, i, 1] = _bt_move(axy[b, i, 0], axy[b, i, 1], a, w, h)
            elif a == 5:
                c = axy[b, i, 0] * h + axy[b, i, 1]
                lo, hi = start[c], start[c + 1]
                if lo == hi:
                    r -= 0.1
                    events[b, _E_AGENT_MISS] += 1
                else:
                    j = _bt_pick_alive(rng, b, ohp[b], members, lo, hi)
                    if j >= 0:
                        r += 1.0
                        events[b, _E_AGENT_HIT] += 1
                        if _bt_hit(ohp[b], j, damage):
                            events[b, _E_OPP_KILLED] += 1
                            r += kill_bonus
                        elif ohp[b, j] < RESIDUE_HP:
                            events[b, _E_OPP_RESIDUE] += 1
                    else:
                        events[b, _E_AGENT_LATE] += 1
        # phase 2: opponents in id order, against the agents' post-phase-1 positions. The map of agents
        # they move towards is built once here and not updated when an opponent kills an agent (as in
        # the reference): a dead agent still attracts the opponents after its killer in this step.
        _bt_bucket(axy[b], ahp[b], h, cells, start, members)
        for i in range(n):
            if ahp[b, i] > 0:
                count[axy[b, i, 0], axy[b, i, 1]] += 1
        bt_summed_area(count, sat)
        hits = 0
        for j in range(n):
            if ohp[b, j] <= 0:
                continue
            ohp[b, j] = min(ohp[b, j] + regen, hp_max)
            x = oxy[b, j, 0]
            y = oxy[b, j, 1]
            c = x * h + y
            lo, hi = start[c], start[c + 1]
            if lo < hi:  # agents that were alive after phase 1 share the cell: attack (never move)
                i = _bt_pick_alive(rng, b, ahp[b], members, lo, hi)
                if i >= 0:
                    hits += 1
                    events[b, _E_OPP_HIT] += 1
                    if _bt_hit(ahp[b], i, damage):
                        events[b, _E_AGENT_KILLED] += 1
                    elif ahp[b, i] < RESIDUE_HP:
                        events[b, _E_AGENT_RESIDUE] += 1
                continue
            nn, ns, nw, ne = _bt_fast_candidates(sat, x, y, w, h)
            total = nn + ns + nw + ne
            if total == 0:
                a = _randint(rng, b, 6)
                if a == 5:
                    events[b, _E_OPP_EMPTY] += 1
            else:
                u = _randint(rng, b, total)
                if u < nn:
                    a = 1
                elif u < nn + ns:
                    a = 2
                elif u < nn + ns + nw:
                    a = 3
                else:
                    a = 4
            if 1 <= a <= 4:
                oxy[b, j, 0], oxy[b, j, 1] = _bt_move(x, y, a, w, h)
        for i in range(n):  # every agent's cell, killed ones included: phase 2 never clears an entry
            count[axy[b, i, 0], axy[b, i, 1]] = 0
        r -= 0.5 * hits
        t[b] += 1
        agents_left = 0
        opponents_left = 0
        for i in range(n):
            if ahp[b, i] > 0:
                agents_left += 1
            if ohp[b, i] > 0:
                opponents_left += 1
        if t[b] >= t_limit or agents_left == 0 or opponents_left == 0:
            done[b] = True
        reward[b] = r


@njit(cache=True)
def bt_hp_codes(hp, scale, residue_base, residue_max, out):
    """The wire code of every unit's HP (M, N): 0 dead, round(hp * scale) in 1..3U, or for a float
    residue (alive below 1/(2U) HP) residue_base + its size in units of 2^-52 (capped at residue_max).

    scale is U for float HP and 1 for integer HP (already in units of 1/U).
    """
    for m in range(hp.shape[0]):
        for i in range(hp.shape[1]):
            v = hp[m, i]
            if v <= 0:
                out[m, i] = 0
                continue
            u = int(v * scale + 0.5)
            if u >= 1:
                out[m, i] = u
            else:
                k = int(v * _ULP1 + 0.5)
                out[m, i] = residue_base + min(max(k, 1), residue_max)


@njit(cache=True)
def bt_observe(axy, acode, oxy, ocode, table, w, h, out):
    """Local 7x7 views (M, N, 4*7*7) flattened as [c][3+dx][3+dy]; dead agents see all zeros.

    HP enters as wire codes, table[code] = float32(HP / 3). Cell sums are float32 sums in unit-id order,
    exactly as the reference adds HP / 3 unit by unit into its float32 tensor; the own cell's c1 sums
    the other agents there in id order (not total - own, which rounds differently).
    """
    m_rows, n = axy.shape[0], axy.shape[1]
    cells = w * h
    agrid, ogrid, start, members = _bt_scratch(n, w, h)
    for m in range(m_rows):
        _bt_grids(m, axy, acode, oxy, ocode, table, h, cells, agrid, ogrid, start, members)
        for i in range(n):
            o = out[m, i]
            own = acode[m, i]
            if own <= 0:
                o[:] = 0.0
                continue
            x = axy[m, i, 0]
            y = axy[m, i, 1]
            for u in range(7):
                cx = x + u - 3
                for v in range(7):
                    cy = y + v - 3
                    j = u * 7 + v
                    o[j] = 0.0
                    if cx < 0 or cx >= w or cy < 0 or cy >= h:
                        o[49 + j] = 0.0
                        o[98 + j] = 0.0
                        o[147 + j] = 1.0
                    else:
                        o[49 + j] = agrid[cx, cy]
                        o[98 + j] = ogrid[cx, cy]
                        o[147 + j] = 0.0
            o[24] = table[own]
            o[49 + 24] = _bt_others(m, i, x * h + y, acode, table, start, members)
        _bt_clear_grids(m, axy, oxy, agrid, ogrid)


@njit(cache=True)
def bt_observe_csr(axy, acode, oxy, ocode, table, w, h, out):
    """`bt_observe` into `out`, and the nonzeros of its M * N rows as CSR: (crow (M*N + 1,), col, val),
    int32, int32, float32, columns ascending within a row, each value the very float32 written there.
    Why: a view is ~4% nonzero, and the learner's sparse first layers need exactly these
    (`vast.common.sparse`). The views are written a few rows at a time and scanned while still in
    cache: at Battle-80 this costs a third of what emitting them from the grids again did."""
    m_rows, n, d = out.shape[0], out.shape[1], out.shape[2]
    step = max(1, CSR_CHUNK_ELEMENTS // (n * d))
    crow = np.zeros(m_rows * n + 1, dtype=np.int32)
    col, val = _csr_buffers(m_rows * n * 16)
    k = 0
    for lo in range(0, m_rows, step):
        hi = min(m_rows, lo + step)
        bt_observe(axy[lo:hi], acode[lo:hi], oxy[lo:hi], ocode[lo:hi], table, w, h, out[lo:hi])
        col, val = _csr_room(col, val, k, (hi - lo) * n * d)
        for m in range(lo, hi):
            for i in range(n):
                if acode[m, i] > 0:  # a dead agent's view is all zeros
                    k = _csr_scan_row(out[m, i], 0, d, col, val, k)
                crow[m * n + i + 1] = k
    return crow, col[:k].copy(), val[:k].copy()


@njit(cache=True)
def _bt_scratch(n, w, h):
    """The per-cell HP grids (agents, opponents) and the cell buckets that `_bt_grids` fills."""
    agrid = np.zeros((w, h), dtype=np.float32)
    ogrid = np.zeros((w, h), dtype=np.float32)
    return agrid, ogrid, np.zeros(w * h + 1, dtype=np.int64), np.empty(n, dtype=np.int64)


@njit(cache=True)
def _bt_grids(m, axy, acode, oxy, ocode, table, h, cells, agrid, ogrid, start, members):
    """Row m's per-cell float32 HP / 3 sums, in id order, of alive agents and opponents, and the alive
    agents bucketed by cell (for the own cell's channel 1)."""
    for i in range(axy.shape[1]):
        if acode[m, i] > 0:
            agrid[axy[m, i, 0], axy[m, i, 1]] += table[acode[m, i]]
    for j in range(oxy.shape[1]):
        if ocode[m, j] > 0:
            ogrid[oxy[m, j, 0], oxy[m, j, 1]] += table[ocode[m, j]]
    _bt_bucket(axy[m], acode[m], h, cells, start, members)


@njit(cache=True)
def _bt_clear_grids(m, axy, oxy, agrid, ogrid):
    """Zero the cells `_bt_grids` filled for row m: cheaper than clearing the whole grids."""
    for i in range(axy.shape[1]):
        agrid[axy[m, i, 0], axy[m, i, 1]] = 0.0
    for j in range(oxy.shape[1]):
        ogrid[oxy[m, j, 0], oxy[m, j, 1]] = 0.0


@njit(cache=True)
def _bt_others(m, i, c, acode, table, start, members):
    """The HP / 3 of the other alive agents on cell c, summed in id order (the own cell's channel 1)."""
    others = np.float32(0.0)
    for q in range(start[c], start[c + 1]):
        if members[q] != i:
            others += table[acode[m, members[q]]]
    return others


@njit(cache=True)
def bt_state(axy, acode, oxy, ocode, table, w, h, out):
    """Global state (M, 2*W*H): per-cell float32 sums, in id order, of HP / 3 of alive agents (c0) and
    opponents (c1); HP enters as wire codes, table[code] = float32(HP / 3)."""
    m_rows, n = axy.shape[0], axy.shape[1]
    n_opp = oxy.shape[1]
    plane = w * h
    for m in range(m_rows):
        o = out[m]
        o[:] = 0.0
        for i in range(n):
            if acode[m, i] > 0:
                o[axy[m, i, 0] * h + axy[m, i, 1]] += table[acode[m, i]]
        for j in range(n_opp):
            if ocode[m, j] > 0:
                o[plane + oxy[m, j, 0] * h + oxy[m, j, 1]] += table[ocode[m, j]]
