/**
 * The books: reads every shop database and counts what must never happen. A game day
 * (or a test) runs it at the end, after the faults, with the orders its clients were
 * told about:
 *
 * | count | what it means |
 * |---|---|
 * | `acknowledgedMissing` | a client got an order number (or "confirmed") that the orders database does not have (or has in another final state) |
 * | `doubleCharges` | orders with more than one captured charge at the provider |
 * | `oversold` | products whose books do not add up: `stock + held reservations ≠ stock_total`, stock below zero, or more sold in confirmed orders than ever stocked |
 * | `nonFinal` | orders still `pending` and checkouts (sagas) not committed or compensated |
 * | `chargedNotConfirmed` | money captured for an order that is not confirmed (a refund missed) |
 * | `confirmedUnpaid` | a confirmed order without a captured charge |
 */
import { Database, pino } from './common/deps.js';

export interface ReconcileTargets {
  /** PostgreSQL URLs of each service's database (several hosts: primary and replicas). */
  products: string;
  orders: string;
  payments: string;
}

export interface Acknowledged {
  orderId: string;
  /** The final state the client was told, when it was told one. */
  status?: 'confirmed' | 'cancelled';
}

export interface Books {
  acknowledgedMissing: number;
  doubleCharges: number;
  oversold: number;
  nonFinal: number;
  chargedNotConfirmed: number;
  confirmedUnpaid: number;
  orders: { confirmed: number; cancelled: number; pending: number };
  /** One line per problem found, for the report. */
  problems: string[];
}

export interface ReconcileOptions {
  acknowledged?: Acknowledged[];
  /** Wait up to this long for running checkouts to finish before counting (default 0). */
  settleMs?: number;
}

/** Reads the books of the three databases that hold money and goods. */
export async function reconcile(targets: ReconcileTargets, options: ReconcileOptions = {}): Promise<Books> {
  const logger = pino({ level: 'silent' });
  // Patient: the books are read once, at the end, maybe from the very process that hosts the
  // embedded databases and is busy serving them, or right after a failover.
  const open = (name: string, url: string) => Database.connect({ name: `books-${name}`, url, logger, poolSize: 2, connectTimeoutMs: 10_000, retryBudgetMs: 60_000 });
  const [products, orders, payments] = await Promise.all([open('products', targets.products), open('orders', targets.orders), open('payments', targets.payments)]);
  try {
    const deadline = Date.now() + (options.settleMs ?? 0);
    const openSagas = async () => (await orders.read<{ n: number }>("select count(*)::int as n from brisk.sagas where state not in ('committed', 'compensated')", [], { primary: true })).rows[0]!.n;
    while ((await openSagas()) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));

    const problems: string[] = [];
    const orderRows = (await orders.read<{ id: string; status: string; lines: { productId: number; qty: number }[] }>('select id::text as id, status, lines from orders', [], { primary: true })).rows;
    const byId = new Map(orderRows.map((o) => [o.id, o]));
    const sagas = await openSagas();
    const pending = orderRows.filter((o) => o.status === 'pending').length;
    if (pending > 0) problems.push(`${pending} order(s) still pending`);
    if (sagas > 0) problems.push(`${sagas} checkout saga(s) not finished`);

    let acknowledgedMissing = 0;
    for (const ack of options.acknowledged ?? []) {
      const order = byId.get(ack.orderId);
      if (order === undefined || (ack.status !== undefined && order.status !== ack.status)) {
        acknowledgedMissing++;
        problems.push(`order ${ack.orderId} was acknowledged${ack.status ? ` as ${ack.status}` : ''} but is ${order === undefined ? 'missing' : order.status}`);
      }
    }

    const charges = (await payments.read<{ order_id: string; captured: number }>("select order_id, count(*) filter (where status = 'captured')::int as captured from charges group by order_id", [], { primary: true })).rows;
    const captured = new Map(charges.map((c) => [c.order_id, c.captured]));
    let doubleCharges = 0;
    let chargedNotConfirmed = 0;
    for (const c of charges) {
      if (c.captured > 1) {
        doubleCharges++;
        problems.push(`order ${c.order_id} charged ${c.captured} times`);
      }
      if (c.captured > 0 && byId.get(c.order_id)?.status !== 'confirmed') {
        chargedNotConfirmed++;
        problems.push(`order ${c.order_id} is ${byId.get(c.order_id)?.status ?? 'missing'} but its charge is captured`);
      }
    }
    let confirmedUnpaid = 0;
    for (const o of orderRows) {
      if (o.status === 'confirmed' && (captured.get(o.id) ?? 0) === 0) {
        confirmedUnpaid++;
        problems.push(`order ${o.id} is confirmed without a captured charge`);
      }
    }

    const sold = new Map<number, number>();
    for (const o of orderRows) if (o.status === 'confirmed') for (const l of o.lines) sold.set(l.productId, (sold.get(l.productId) ?? 0) + l.qty);
    const stock = (
      await products.read<{ id: number; stock: number; stock_total: number; held: number }>(
        "select p.id, p.stock, p.stock_total, coalesce(sum(r.qty) filter (where r.state = 'held'), 0)::int as held from products p left join reservations r on r.product_id = p.id group by p.id",
        [],
        { primary: true },
      )
    ).rows;
    let oversold = 0;
    for (const p of stock) {
      const soldQty = sold.get(p.id) ?? 0;
      if (p.stock < 0 || p.stock + p.held !== p.stock_total || soldQty > p.stock_total) {
        oversold++;
        problems.push(`product ${p.id}: stock ${p.stock} + held ${p.held} vs ${p.stock_total} stocked, ${soldQty} sold`);
      }
    }
    return {
      acknowledgedMissing,
      doubleCharges,
      oversold,
      nonFinal: pending + sagas,
      chargedNotConfirmed,
      confirmedUnpaid,
      orders: { confirmed: orderRows.filter((o) => o.status === 'confirmed').length, cancelled: orderRows.filter((o) => o.status === 'cancelled').length, pending },
      problems,
    };
  } finally {
    await Promise.all([products.close(), orders.close(), payments.close()]);
  }
}
