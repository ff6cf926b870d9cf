/**
 * The products service: the catalogue (list, search, one product) behind a cache-aside
 * cache, and stock reservations for the checkout saga.
 *
 * Never oversold: a reservation takes stock with `stock = stock - qty WHERE stock >= qty`
 * (and the column has `CHECK (stock >= 0)`) for every line in one transaction, in product
 * order so two checkouts cannot deadlock; one short line rolls the whole reservation back.
 * A reservation and its release are saga steps applied once per key (`Participant`): a
 * retried reservation is not taken twice, a release is applied once, and a reservation
 * arriving after its release (a timed-out call that went through late) is refused.
 * The books stay checkable: for every product, stock + held reservations = stock_total.
 */
import { appliedKeysJob, json, Participant, type Service, type Tx } from '@brisk/service';
import { openApp, type AppOptions } from '../common/app.js';
import { ShopError } from '../common/errors.js';
import { bodyOf, handle, idempotencyKey, notFound, positiveInt } from '../common/http.js';
import { CATALOGUE } from './catalogue.js';

const SCHEMA = `
create table if not exists products (
  id int primary key,
  sku text not null unique,
  name text not null,
  name_zh text not null,
  category text not null,
  description text not null,
  price_cents int not null check (price_cents >= 0),
  stock int not null check (stock >= 0),
  stock_total int not null
);
create table if not exists reservations (
  saga_id text not null,
  product_id int not null references products (id),
  qty int not null check (qty > 0),
  price_cents int not null,
  state text not null check (state in ('held', 'released')),
  created_at timestamptz not null default now(),
  primary key (saga_id, product_id)
)`;

type ProductRow = {
  id: number;
  sku: string;
  name: string;
  name_zh: string;
  category: string;
  description: string;
  price_cents: number;
  stock: number;
};

export interface ProductView {
  id: number;
  sku: string;
  name: string;
  nameZh: string;
  category: string;
  description: string;
  priceCents: number;
  stock: number;
}

const view = (r: ProductRow): ProductView => ({ id: r.id, sku: r.sku, name: r.name, nameZh: r.name_zh, category: r.category, description: r.description, priceCents: r.price_cents, stock: r.stock });

/** A reserved line, as the checkout saga gets it back. */
export interface ReservedLine {
  productId: number;
  name: string;
  qty: number;
  priceCents: number;
}

/** Validates checkout lines: 1..50 distinct products, quantities 1..100. */
export function parseLines(value: unknown): { productId: number; qty: number }[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > 50) throw new ShopError('SHOP_BAD_INPUT', 'items must be a list of 1 to 50 {productId, qty}');
  const seen = new Set<number>();
  return value.map((entry: unknown, i) => {
    const e = (typeof entry === 'object' && entry !== null ? entry : {}) as Record<string, unknown>;
    const productId = positiveInt(e['productId'], `items[${i}].productId`);
    if (seen.has(productId)) throw new ShopError('SHOP_BAD_INPUT', `items[${i}]: product ${productId} is listed twice`);
    seen.add(productId);
    return { productId, qty: positiveInt(e['qty'], `items[${i}].qty`, 100) };
  });
}

export async function startProducts(options: AppOptions = {}): Promise<Service> {
  const { db, cache, service, housekeeper } = await openApp('products', options, 5_000);
  await db.migrate(SCHEMA);
  const stock = new Participant(db, { schema: 'stock' });
  await stock.init();
  housekeeper.add(appliedKeysJob(db, { schema: 'stock' }));
  for (const p of CATALOGUE) {
    await db.write(
      'insert into products (id, sku, name, name_zh, category, description, price_cents, stock, stock_total) values ($1, $2, $3, $4, $5, $6, $7, $8, $8) on conflict (id) do nothing',
      [p.id, p.sku, p.name, p.nameZh, p.category, p.description, p.priceCents, p.stock],
      { idempotent: true },
    );
  }

  const list = async (q: string, category: string) =>
    cache.get(`list:${category}:${q}`, async () => {
      const like = `%${q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      const { rows } = await db.read<ProductRow>(
        `select * from products where ($1 = '' or name ilike $2 or name_zh ilike $2 or description ilike $2 or category ilike $2 or sku ilike $2)
           and ($3 = '' or category = $3) order by id`,
        [q, like, category],
      );
      return rows.map(view);
    });

  service
    .route(
      'GET',
      '/api/products',
      handle(async (ctx) => {
        const q = (ctx.query.get('q') ?? '').trim().slice(0, 100);
        const category = (ctx.query.get('category') ?? '').trim().slice(0, 50);
        const products = await list(q, category);
        return json(200, { products, total: products.length }, { 'cache-control': 'public, max-age=5' });
      }),
    )
    .route(
      'GET',
      '/api/products/:id',
      handle(async (ctx) => {
        const id = Number(ctx.params['id']);
        if (!Number.isInteger(id) || id < 1 || id > 2 ** 31 - 1) throw notFound('product');
        const product = await cache.get(`product:${id}`, async () => {
          const { rows } = await db.read<ProductRow>('select * from products where id = $1', [id]);
          return rows[0] === undefined ? null : view(rows[0]);
        });
        if (product === null) throw notFound('product');
        return json(200, product, { 'cache-control': 'public, max-age=5' });
      }),
    )
    .route(
      'POST',
      '/internal/reservations',
      handle(async (ctx) => {
        const key = idempotencyKey(ctx);
        const lines = parseLines((await bodyOf(ctx))['items']).sort((a, b) => a.productId - b.productId);
        const sagaId = key.split(':').slice(0, -2).join(':');
        const result = await stock.forward(key, async (tx: Tx) => {
          const reserved: ReservedLine[] = [];
          for (const line of lines) {
            const { rows } = await tx.query<{ name: string; price_cents: number }>('update products set stock = stock - $2 where id = $1 and stock >= $2 returning name, price_cents', [line.productId, line.qty]);
            if (rows[0] === undefined) {
              const { rows: found } = await tx.query<{ stock: number; name: string }>('select stock, name from products where id = $1', [line.productId]);
              if (found[0] === undefined) throw new ShopError('SHOP_OUT_OF_STOCK', `product ${line.productId} does not exist`, { productId: line.productId });
              throw new ShopError('SHOP_OUT_OF_STOCK', `only ${found[0].stock} of "${found[0].name}" left, ${line.qty} asked for`, { productId: line.productId, available: found[0].stock });
            }
            await tx.query("insert into reservations (saga_id, product_id, qty, price_cents, state) values ($1, $2, $3, $4, 'held')", [sagaId, line.productId, line.qty, rows[0].price_cents]);
            reserved.push({ productId: line.productId, name: rows[0].name, qty: line.qty, priceCents: rows[0].price_cents });
          }
          return { lines: reserved, totalCents: reserved.reduce((sum, l) => sum + l.qty * l.priceCents, 0) };
        });
        for (const line of lines) void cache.invalidate(`product:${line.productId}`).catch(() => {});
        return result;
      }),
    )
    .route(
      'POST',
      '/internal/reservations/release',
      handle(async (ctx) => {
        const key = idempotencyKey(ctx);
        const sagaId = key.split(':').slice(0, -2).join(':');
        const outcome = await stock.compensate(key, async (tx: Tx) => {
          const { rows } = await tx.query<{ product_id: number; qty: number }>("update reservations set state = 'released' where saga_id = $1 and state = 'held' returning product_id, qty", [sagaId]);
          for (const row of rows.sort((a, b) => a.product_id - b.product_id)) await tx.query('update products set stock = stock + $2 where id = $1', [row.product_id, row.qty]);
        });
        return outcome;
      }),
    );
  return service.start();
}
