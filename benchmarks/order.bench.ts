/**
 * The order in which waiting tasks get a freed slot, alone (not a test): `npm run bench:order`.
 *
 * A list scheduler with no hop cost runs seeded layered DAGs of bench:compare's shape (RANDOM_DAG_SHAPE) at
 * per-role concurrency 4, each task for its simulated duration, three times over: a freed slot of a role goes
 * to the task of that role that became ready first (readiness: the ideal executor's order, and SQS's); to the
 * task with the earliest readiness less its lead by the chain of dependents ahead (waitingLeadMs without an
 * estimate, as task items stored before the work ahead was); and less its lead by the estimated work ahead
 * (dag.ts workAhead: what Route marks a waiting task with now). The leads are the product's own functions, so
 * this measures the hand-off's order at its best: what it is worth once hops cost nothing. Makespan over the
 * lower bound (lib.ts lowerBound) per DAG; mean, median and worst over the DAGs, and the three DAGs of
 * bench:compare (seeds 11, 22, 33) one by one.
 *
 * Writes benchmarks/results/order.json.
 */
import { listSchedule, WAITING_ORDERS, type WaitingOrder } from './executors';
import { layeredDag, lowerBound, median, RANDOM_DAG_SHAPE, round, writeResult } from './lib';

const PER_ROLE = 4;
/** DAGs: seeds 11, 22, ... (bench:compare's three first). */
const DAG_COUNT = Number(process.env.ORDER_DAGS ?? 50);
const COMPARE_SEEDS = [11, 22, 33];
function main(): void {
  const ratios: Record<WaitingOrder, number[]> = { readiness: [], chain: [], work: [] };
  const compare: Record<string, Record<WaitingOrder, number>> = {};
  for (let i = 1; i <= DAG_COUNT; i++) {
    const seed = 11 * i;
    const batch = layeredDag(`layered-${seed}`, { seed, ...RANDOM_DAG_SHAPE });
    const bound = lowerBound(batch, () => PER_ROLE).boundMs;
    const row = Object.fromEntries(
      WAITING_ORDERS.map((order) => [order, round(listSchedule(batch, PER_ROLE, order) / bound, 3)]),
    ) as Record<WaitingOrder, number>;
    for (const order of WAITING_ORDERS) ratios[order].push(row[order]);
    if (COMPARE_SEEDS.includes(seed)) compare[`layered-${seed}`] = row;
  }
  const mean = (values: number[]) => round(values.reduce((a, b) => a + b, 0) / values.length, 3);
  const summary = Object.fromEntries(
    WAITING_ORDERS.map((order) => [
      order,
      {
        mean: mean(ratios[order]),
        median: round(median(ratios[order]), 3),
        worst: Math.max(...ratios[order]),
      },
    ]),
  );
  const workWorseThanChain = ratios.work.filter((r, i) => r > (ratios.chain[i] as number)).length;
  const workWorseThanReadiness = ratios.work.filter((r, i) => r > (ratios.readiness[i] as number)).length;
  for (const order of WAITING_ORDERS) {
    const s = summary[order] as { mean: number; median: number; worst: number };
    console.log(`${order}: makespan / bound mean ${s.mean}, median ${s.median}, worst ${s.worst}`);
  }
  console.log(
    `by work ahead worse than by chain on ${workWorseThanChain} of ${DAG_COUNT}, than readiness on ${workWorseThanReadiness}`,
  );
  for (const [dag, row] of Object.entries(compare)) console.log(`${dag}: ${JSON.stringify(row)}`);
  const file = writeResult('order.json', {
    date: new Date().toISOString(),
    perRole: PER_ROLE,
    dags: DAG_COUNT,
    summary,
    workWorseThanChain,
    workWorseThanReadiness,
    compareDags: compare,
  });
  console.log(`wrote ${file}`);
}

main();
