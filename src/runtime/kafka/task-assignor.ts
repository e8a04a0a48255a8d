/** A group member as the task assignor sees it. */
export interface AssignorMember {
  memberId: string;
  /** The task ids it owned before this rebalance (what it sent in its metadata). */
  owned: string[];
  /** The task ids it placed as standby replicas before this rebalance: their state is warm there. */
  standby?: string[];
  /** A consumer the runtime closed that is still in the group: it gets no task. */
  closed?: boolean;
}

/**
 * The runtime's sticky task assignment: whole tasks, balanced to within one
 * task per member, each placed by the member that owned it before when that
 * member still has room (fewer state restores on rebalance). A task whose
 * owner is gone goes to a member that placed it as a standby replica, when one
 * has room (its state is warm there: the takeover restores only the tail).
 * Members flagged closed get nothing, unless every member is. Returns member
 * id → task ids; every member appears. Pure, so every Kafka client implements
 * the same assignment (the kafkajs client in its partition assigner, the
 * in-memory client in its group coordinator).
 */
export function assignTasks(taskIds: Iterable<string>, members: AssignorMember[]): Map<string, string[]> {
  const tasks = new Set(taskIds);
  const open = members.filter((m) => !m.closed);
  const memberIds = (open.length ? open : members).map((m) => m.memberId).sort();
  const previous = new Map<string, string>();
  for (const m of members) {
    for (const t of m.owned) if (tasks.has(t) && !previous.has(t)) previous.set(t, m.memberId);
  }
  const warm = new Map<string, Set<string>>();
  for (const m of members) for (const t of m.standby ?? []) warm.set(t, (warm.get(t) ?? new Set()).add(m.memberId));
  const sorted = sortTasks(tasks);
  // Balanced within one: every member gets `floor` tasks, and `extra` of them one more.
  const floor = Math.floor(sorted.length / Math.max(1, memberIds.length));
  let extra = sorted.length - floor * memberIds.length;
  const load = new Map(memberIds.map((id) => [id, [] as string[]]));
  const hasRoom = (id: string) => load.get(id)!.length < floor || (load.get(id)!.length === floor && extra > 0);
  const placed = new Set<string>();
  const place = (t: string, id: string) => {
    if (load.get(id)!.length === floor) extra--;
    load.get(id)!.push(t);
    placed.add(t);
  };
  // Previous owners keep up to `floor` first, so that one member keeping its extra task never leaves another short.
  for (const t of sorted) {
    const owner = previous.get(t);
    if (owner !== undefined && load.has(owner) && load.get(owner)!.length < floor) place(t, owner);
  }
  for (const t of sorted) {
    const owner = previous.get(t);
    if (!placed.has(t) && owner !== undefined && load.has(owner) && hasRoom(owner)) place(t, owner);
  }
  for (const t of sorted) {
    if (placed.has(t)) continue;
    const room = memberIds.filter(hasRoom);
    const holders = room.filter((id) => warm.get(t)?.has(id));
    place(t, leastLoaded(holders.length ? holders : room, load));
  }
  return new Map(members.map((m) => [m.memberId, load.get(m.memberId) ?? []]));
}

/**
 * Standby replicas (Kafka Streams' `num.standby.replicas`): for each task,
 * `replicas` members other than its active owner that keep a copy of its
 * state warm from the changelog, so that a takeover after a failure serves at
 * once. Copies are balanced across members (within one); within that, a copy
 * stays where the task's state is warm already (a standby before, or its
 * previous owner). A task gets fewer copies when there are too few other
 * members; closed members get none. Returns member id → standby task ids;
 * every member appears. Pure, for the same reason as {@link assignTasks}.
 */
export function assignStandbys(active: Map<string, string[]>, members: AssignorMember[], replicas: number): Map<string, string[]> {
  const result = new Map(members.map((m) => [m.memberId, [] as string[]]));
  const open = members
    .filter((m) => !m.closed)
    .map((m) => m.memberId)
    .sort();
  if (!(replicas > 0) || open.length < 2) return result;
  const ownerOf = new Map<string, string>();
  for (const [memberId, ids] of active) for (const t of ids) ownerOf.set(t, memberId);
  const warm = new Map<string, Set<string>>();
  for (const m of members) for (const t of [...m.owned, ...(m.standby ?? [])]) warm.set(t, (warm.get(t) ?? new Set()).add(m.memberId));
  const tasks = sortTasks(ownerOf.keys());
  const copies = Math.min(replicas, open.length - 1);
  // Balanced within one: every member keeps `floor` copies, and `extra` of them one more.
  const floor = Math.floor((tasks.length * copies) / open.length);
  let extra = tasks.length * copies - floor * open.length;
  const load = new Map(open.map((id) => [id, result.get(id)!]));
  const holders = new Map(tasks.map((t) => [t, new Set([ownerOf.get(t)!])]));
  const place = (t: string, id: string) => {
    if (load.get(id)!.length === floor) extra--;
    load.get(id)!.push(t);
    holders.get(t)!.add(id);
  };
  const candidates = (t: string) => open.filter((id) => !holders.get(t)!.has(id));
  const roomy = (t: string) => candidates(t).filter((id) => load.get(id)!.length < floor || (load.get(id)!.length === floor && extra > 0));

  // First the copies that stay where they are warm, then the rest, most constrained first (fewest members with room).
  for (const t of tasks) for (const id of open.filter((m) => warm.get(t)?.has(m))) if (holders.get(t)!.size <= copies && roomy(t).includes(id)) place(t, id);
  for (;;) {
    const pending = tasks.filter((t) => holders.get(t)!.size <= copies && candidates(t).length > 0);
    if (!pending.length) break;
    let next = pending[0]!;
    for (const t of pending) if (roomy(t).length < roomy(next).length) next = t;
    const room = roomy(next);
    place(next, leastLoaded(room.length ? room : candidates(next), load));
  }
  // Where no member had room the greedy pass overfilled one: move copies from the fullest to the emptiest where the rules allow.
  for (let moved = true; moved;) {
    moved = false;
    const byLoad = [...open].sort((a, b) => load.get(b)!.length - load.get(a)!.length);
    for (const from of byLoad) {
      // Cold copies move first: a warm one is worth keeping.
      const movable = [...load.get(from)!].sort((a, b) => Number(warm.get(a)?.has(from) ?? false) - Number(warm.get(b)?.has(from) ?? false));
      for (const t of movable) {
        const to = [...byLoad].reverse().find((id) => load.get(id)!.length + 2 <= load.get(from)!.length && !holders.get(t)!.has(id));
        if (!to) continue;
        load.get(from)!.splice(load.get(from)!.indexOf(t), 1);
        holders.get(t)!.delete(from);
        load.get(to)!.push(t);
        holders.get(t)!.add(to);
        moved = true;
        break;
      }
      if (moved) break;
    }
  }
  for (const ids of result.values()) ids.sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  return result;
}

/** Task ids in a stable order, numbers numerically ("0_2" before "0_10"). */
function sortTasks(ids: Iterable<string>): string[] {
  return [...ids].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
}

/** The first of `ids` (already sorted) with the fewest tasks in `load`. */
function leastLoaded(ids: string[], load: Map<string, string[]>): string {
  let best = ids[0]!;
  for (const id of ids) if (load.get(id)!.length < load.get(best)!.length) best = id;
  return best;
}
