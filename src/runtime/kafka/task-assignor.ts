/** A group member as the task assignor sees it. */
export interface AssignorMember {
  memberId: string;
  /** The task ids it owned before this rebalance (what it sent in its metadata). */
  owned: string[];
  /** A consumer the runtime closed that is still in the group: it gets no task. */
  closed?: boolean;
}

/**
 * The runtime's sticky task assignment: whole tasks, balanced to within one
 * task per member, each kept by the member that owned it before when that
 * member still has room (fewer state restores on rebalance). Members flagged
 * closed get nothing, unless every member is. Returns member id → task ids;
 * every member appears. Pure, so every Kafka client implements the same
 * assignment (the kafkajs client in its partition assigner, the in-memory
 * client in its group coordinator).
 */
export function assignTasks(taskIds: Iterable<string>, members: AssignorMember[]): Map<string, string[]> {
  const tasks = new Set(taskIds);
  const open = members.filter((m) => !m.closed);
  const memberIds = (open.length ? open : members).map((m) => m.memberId).sort();
  const previous = new Map<string, string>();
  for (const m of members) {
    for (const t of m.owned) if (tasks.has(t) && !previous.has(t)) previous.set(t, m.memberId);
  }
  const sorted = [...tasks].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  const capacity = Math.ceil(sorted.length / Math.max(1, memberIds.length));
  const load = new Map(memberIds.map((id) => [id, [] as string[]]));
  const unplaced: string[] = [];
  for (const t of sorted) {
    const owner = previous.get(t);
    const list = owner !== undefined ? load.get(owner) : undefined;
    if (list && list.length < capacity) list.push(t);
    else unplaced.push(t);
  }
  for (const t of unplaced) {
    let best = memberIds[0]!;
    for (const id of memberIds) if (load.get(id)!.length < load.get(best)!.length) best = id;
    load.get(best)!.push(t);
  }
  return new Map(members.map((m) => [m.memberId, load.get(m.memberId) ?? []]));
}
